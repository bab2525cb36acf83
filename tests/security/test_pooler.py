"""Issue 15, item 2: one server connection, two employees, through PgBouncer in
transaction mode (tests/pooler.py, default_pool_size = 1).

PgBouncer hands the same backend to whichever client's transaction comes
next. check_request() records the caller in per-backend registers stamped
with the transaction's start and the role (migration 0015), and
current_employee_id() / caller_department() answer from them only in that
transaction: a transaction that checks no token of its own is nobody, even
on a backend where someone else's check succeeded a moment ago.
"""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from psycopg.rows import dict_row

from epic_events import queries
from tests import pooler as pgbouncer
from tests.world import ROLE, login

WHO = (
    "select pg_backend_pid() as pid, epic_events.current_employee_id() as me,"
    " epic_events.caller_department() as dept,"
    " (select array_agg(id order by id) from epic_events.client) as clients,"
    " (select array_agg(id order by id) from epic_events.client"
    "   where sales_contact_id = epic_events.current_employee_id()) as my_clients,"
    " (select array_agg(id order by id) from epic_events.event"
    "   where support_contact_id = epic_events.current_employee_id()) as my_events"
)


@pytest.fixture
def pooler(pg_server, db, world):
    yield from pgbouncer.fixture(pg_server, db, pool_size=1)


class Client:
    """One employee's connection to PgBouncer, logged in the CLI's way."""

    def __init__(self, pooler, world, key: str, email: str):
        # Never server-side prepared: PgBouncer 1.18 does not carry prepared
        # statements across transactions (the CLI never reaches psycopg's threshold).
        self.conn = psycopg.connect(pooler.app_dsn(), prepare_threshold=None)
        row = login(self.conn, email)
        self.conn.row_factory = dict_row
        assert row["status"] == "ok"
        self.id, self.department, self.token = row["employee_id"], row["department"], row["access_token"]

    def begin(self) -> dict:
        live = self.conn.execute(
            queries.get("session.begin_request").sql,
            {"role": ROLE[self.department], "access_token": self.token},
        ).fetchone()
        assert live["live"]
        return self.conn.execute(WHO).fetchone()


@pytest.fixture
def sam_and_suzy(pooler, world):
    sam = Client(pooler, world, "sales", "sam@epic.test")
    suzy = Client(pooler, world, "support", "suzy@epic.test")
    yield sam, suzy
    sam.conn.close()
    suzy.conn.close()


def test_interleaved_transactions_on_one_backend_never_see_each_other(sam_and_suzy, world, pooler):
    sam, suzy = sam_and_suzy
    everyone = sorted([world.ids["client"], world.ids["client2"]])
    sams = {
        "me": world.ids["sales"],
        "dept": "sales",
        "clients": everyone,
        "my_clients": [world.ids["client"]],
        "my_events": None,
    }
    suzys = {
        "me": world.ids["support"],
        "dept": "support",
        "clients": everyone,
        "my_clients": None,
        "my_events": [world.ids["event"]],
    }
    nobody = {"me": None, "dept": None, "clients": None, "my_clients": None, "my_events": None}
    pids = set()
    for _ in range(5):
        for client, expected in ((sam, sams), (suzy, suzys)):
            seen = client.begin()
            pids.add(seen.pop("pid"))
            assert seen == expected
            client.conn.commit()
            # The next transaction on the same backend, checking no token, in
            # either department's role, or a token that fails: nobody.
            for other in (sam, suzy):
                for role in ("epic_sales", "epic_support"):
                    other.conn.execute("select set_config('role', %s, true)", (role,))
                    seen = other.conn.execute(WHO).fetchone()
                    pids.add(seen.pop("pid"))
                    assert seen == nobody
                    other.conn.rollback()
            sam.conn.execute(
                "select set_config('role', 'epic_support', true), epic_events.check_request(%s)", (sam.token,)
            )  # not Sam's role
            seen = sam.conn.execute(WHO).fetchone()
            pids.add(seen.pop("pid"))
            assert seen == nobody
            sam.conn.rollback()
    assert len(pids) == 1, "PgBouncer should have used one server connection"
    assert len(pooler.admin_console()) == 1


def test_a_transaction_queued_behind_anothers_on_the_same_backend_is_itself(sam_and_suzy, world):
    """Suzy's transaction waits for Sam's to end (one server connection), then runs
    on the backend Sam's check_request() just wrote to: she sees herself only."""
    sam, suzy = sam_and_suzy
    first = sam.begin()
    seen: dict = {}

    def suzy_works():
        seen.update(suzy.begin())
        seen["started"] = time.monotonic()
        suzy.conn.commit()

    worker = threading.Thread(target=suzy_works)
    worker.start()
    time.sleep(0.3)  # Suzy is queued in PgBouncer now
    assert not seen
    again = sam.conn.execute(WHO).fetchone()
    assert again == first and again["me"] == world.ids["sales"]
    committed = time.monotonic()
    sam.conn.commit()
    worker.join(10)
    assert seen["started"] >= committed
    assert (seen["pid"], seen["me"], seen["dept"]) == (first["pid"], world.ids["support"], "support")


def test_session_level_state_does_leak_across_clients_so_the_cli_keeps_none(sam_and_suzy, world):
    """What not to do behind a transaction pooler: anything set for the session
    (SET without LOCAL, set_config(..., false)) stays on the backend for the
    next client. Identity is not such state: a role left behind at session
    level by one client gives the next one that role and nothing else."""
    sam, suzy = sam_and_suzy
    sam.begin()
    sam.conn.execute("select set_config('epic.left_behind', 'by Sam', false)")
    sam.conn.execute("set session role epic_sales")
    sam.conn.commit()
    row = suzy.conn.execute(
        "select current_setting('epic.left_behind', true) as left, current_user as role"
    ).fetchone()
    assert row == {"left": "by Sam", "role": "epic_sales"}  # the pooler's nature
    seen = suzy.conn.execute(WHO).fetchone()
    assert (seen["me"], seen["dept"], seen["clients"]) == (None, None, None)
    suzy.conn.rollback()
    assert suzy.begin()["me"] == world.ids["support"]
    suzy.conn.commit()
