"""The session checked once per request (migration 0014), tried in SQL.

check_request() checks the claims in full and records what it found in three
registers (sequences only their owner may use); for one second
current_employee_id() trusts those registers for that employee and role, and
checks anything else in full. Here: the registers cannot be set or read by
anyone else, other claims get the full check, the trust ends with its second,
a failed check ends it at once, and a forged "checked" flag fails closed.
"""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest
from psycopg import errors

from epic_events import queries
from tests.db.helpers import admin_exec, authenticator, open_session
from tests.world import ROLE

REGISTERS = ("checked_employee", "checked_role", "checked_until")
ROLES = (None, "epic_management", "epic_sales", "epic_support")  # None: the authenticator


def begin_request(cur, role: str, employee_id, session_id) -> bool:
    """The CLI's first statement; answers whether the database honours the session."""
    cur.execute(queries.get("session.begin_request").sql,
                {"role": role, "employee_id": str(employee_id), "session_id": str(session_id)})
    return cur.fetchone()[-1]


def claim(cur, role: str | None = None, employee_id=None, session_id=None) -> None:
    if role is not None:
        cur.execute("select set_config('role', %s, true)", (role,))
    if employee_id is not None:
        cur.execute("select set_config('epic.employee_id', %s, true)", (str(employee_id),))
    if session_id is not None:
        cur.execute("select set_config('epic.session_id', %s, true)", (str(session_id),))


def clients(cur) -> int:
    cur.execute("select count(*) from client")
    return cur.fetchone()[0]


@pytest.fixture
def sales(world):
    """A live session of the sales employee: (employee id, session id)."""
    session, _ = open_session(world.db, world.ids["sales"])
    return world.ids["sales"], session


@pytest.mark.parametrize("register", REGISTERS)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("statement", [
    "select setval('epic_events.{r}', 1)",
    "select nextval('epic_events.{r}')",
    "select currval('epic_events.{r}')",
    "select last_value from epic_events.{r}",
    "alter sequence epic_events.{r} restart",
])
def test_only_the_owner_sets_or_reads_the_registers(world, sales, register, role, statement):
    employee_id, session = sales
    with authenticator(world.db) as conn, conn.cursor() as cur:
        if role is not None:
            # Even right after a real check of this very session.
            begin_request(cur, ROLE["sales"], employee_id, session)
            claim(cur, role=role)
        with pytest.raises(errors.InsufficientPrivilege):
            cur.execute(statement.format(r=register))


def test_a_check_is_trusted_for_that_employee_and_role_only(world, sales):
    employee_id, session = sales
    other_session, _ = open_session(world.db, world.ids["sales2"])
    with authenticator(world.db) as conn, conn.cursor() as cur:
        assert begin_request(cur, ROLE["sales"], employee_id, session)
        assert clients(cur) == 2
        # Another employee, even with a live session of theirs: checked in full, and it holds.
        claim(cur, employee_id=world.ids["sales2"], session_id=other_session)
        assert clients(cur) == 2
        cur.execute("select epic_events.current_employee_id()")
        assert cur.fetchone()[0] == world.ids["sales2"]
        # Another employee on this session: checked in full, refused.
        claim(cur, employee_id=world.ids["manager"], session_id=session)
        assert clients(cur) == 0
        # The checked employee in another role: checked in full, refused.
        for role in (ROLE["management"], ROLE["support"]):
            claim(cur, role=role, employee_id=employee_id, session_id=session)
            assert clients(cur) == 0
        # Back to exactly what was checked: trusted again.
        claim(cur, role=ROLE["sales"], employee_id=employee_id, session_id=session)
        assert clients(cur) == 2


def test_a_check_holds_for_one_second_then_the_session_is_checked_in_full(world, sales):
    employee_id, session = sales
    with authenticator(world.db) as conn, conn.cursor() as cur:
        assert begin_request(cur, ROLE["sales"], employee_id, session)
        admin_exec(world.db, "update epic_events.session set revoked_at = now(),"
                             " revoked_reason = 'logout' where id = %s", (session,))
        # The revocation committed after the check: within its second, the check holds...
        assert clients(cur) == 2
        time.sleep(1.1)
        # ...and not a moment longer.
        assert clients(cur) == 0


def test_a_failed_check_ends_the_trust_at_once(world, sales):
    employee_id, session = sales
    with authenticator(world.db) as conn, conn.cursor() as cur:
        assert begin_request(cur, ROLE["sales"], employee_id, session)
        conn.commit()
        admin_exec(world.db, "update epic_events.session set revoked_at = now(),"
                             " revoked_reason = 'logout' where id = %s", (session,))
        assert not begin_request(cur, ROLE["sales"], employee_id, session)
        assert clients(cur) == 0
        # Forcing the flag back on does not revive it.
        cur.execute("select set_config('epic.request_checked', 'on', false)")
        assert clients(cur) == 0


def test_a_forged_checked_flag_without_a_check_fails_closed(world, sales):
    employee_id, _ = sales
    with authenticator(world.db) as conn, conn.cursor() as cur:
        claim(cur, role=ROLE["sales"], employee_id=employee_id, session_id=uuid.uuid4())
        cur.execute("select set_config('epic.request_checked', 'on', false)")
        # No register was ever set in this session: currval() raises.
        with pytest.raises(errors.ObjectNotInPrerequisiteState):
            clients(cur)


def test_registers_are_per_database_session(world, sales):
    employee_id, session = sales
    with authenticator(world.db) as checked, checked.cursor() as cur:
        assert begin_request(cur, ROLE["sales"], employee_id, session)
        with authenticator(world.db) as other, other.cursor() as cur2:
            # Same claims but a session that is not live, on another connection.
            claim(cur2, role=ROLE["sales"], employee_id=employee_id, session_id=uuid.uuid4())
            assert clients(cur2) == 0
            cur2.execute("select set_config('epic.request_checked', 'on', false)")
            with pytest.raises(errors.ObjectNotInPrerequisiteState):
                clients(cur2)


def test_discard_all_forgets_the_check(world, sales):
    employee_id, session = sales
    with psycopg.connect(world.db.app_dsn, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("begin")
        assert begin_request(cur, ROLE["sales"], employee_id, session)
        cur.execute("commit")
        admin_exec(world.db, "update epic_events.session set revoked_at = now(),"
                             " revoked_reason = 'logout' where id = %s", (session,))
        cur.execute("discard all")  # what a connection pooler runs between clients
        cur.execute("begin")
        claim(cur, role=ROLE["sales"], employee_id=employee_id, session_id=session)
        assert clients(cur) == 0  # checked in full: the session is revoked
        cur.execute("select set_config('epic.request_checked', 'on', false)")
        with pytest.raises(errors.ObjectNotInPrerequisiteState):
            clients(cur)  # the registers went with it


def test_a_read_only_transaction_is_checked_statement_by_statement(world, sales):
    employee_id, session = sales
    with authenticator(world.db) as conn, conn.cursor() as cur:
        cur.execute("set transaction read only")
        assert begin_request(cur, ROLE["sales"], employee_id, session)
        assert clients(cur) == 2
        admin_exec(world.db, "update epic_events.session set revoked_at = now(),"
                             " revoked_reason = 'logout' where id = %s", (session,))
        assert clients(cur) == 0
