"""Races: many employees write the same rows at once; nothing is lost, every change is audited.

Each worker is a thread with its own connection and session, acting exactly as
the CLI does: one transaction per step (db.transaction: the department role,
then check_request(access token)), running the named queries of sql/queries. Workers hammer one
client, contract or event for a bounded time (tests/budget.py) with
conflicting writes. Every step ends in one of:
  ok        it committed (and its value is recorded),
  conflict  told so (an optimistic write whose row changed meanwhile, exit 5),
  refused   told so (a rule said no: not theirs, not signed, not enough due),
and anything else (a bug, an unexpected database error) fails the test.

Afterwards:
  - the invariants hold (0 <= amount_due = total_amount - payments <= total_amount, signed_at set iff
    signed, events only on signed contracts, contacts in their department);
  - no write was lost silently: the final row is what the successful writes
    imply (e.g. amount due before - after = the sum of the payments that
    succeeded), and replaying the audit log from the starting row, old value
    checked against the row each time, gives the final row;
  - one audit row per successful write, no more.
"""

from __future__ import annotations

import random
import threading
import time
import traceback
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from epic_events import db as epic_db
from epic_events import errors
from tests.budget import RACE_SECONDS, WORKERS
from tests.db.helpers import admin_all, admin_exec, admin_one, admin_value
from tests.world import SALT, STAFF, VERIFIER, open_actor

pytestmark = pytest.mark.slow

START = datetime(2028, 3, 1, 9, 0, tzinfo=UTC)

INVARIANTS = """
select 'amount_due outside 0..total_amount' as broken, id from epic_events.contract
 where not (amount_due between 0 and total_amount)
union all
select 'amount_due is not total_amount - payments', k.id from epic_events.contract k
 where k.amount_due <> k.total_amount - (select coalesce(sum(p.amount), 0) from epic_events.payment p
                                          where p.contract_id = k.id)
union all
select 'signed_at set iff signed', id from epic_events.contract
 where is_signed <> (signed_at is not null)
union all
select 'event on an unsigned contract', v.id from epic_events.event v
  join epic_events.contract c on c.id = v.contract_id
 where not c.is_signed
union all
select 'client followed by someone not in sales', c.id from epic_events.client c
  join epic_events.employee e on e.id = c.sales_contact_id
 where e.department <> 'sales'
union all
select 'contract followed by someone not in sales', c.id from epic_events.contract c
  join epic_events.employee e on e.id = c.sales_contact_id
 where e.department <> 'sales'
union all
select 'event supported by someone not in support', v.id from epic_events.event v
  join epic_events.employee e on e.id = v.support_contact_id
 where e.department <> 'support'
"""


class Desk:
    """One employee at their own connection and session, one transaction per call."""

    def __init__(self, world, key: str):
        self.key = key
        _, _, email, self.department = next(s for s in STAFF if s[0] == key)
        self.actor = open_actor(world.db, email)
        self.identity = epic_db.Identity(self.department, self.actor.access_token)

    def run(self, query: str, params: dict | None = None):
        with epic_db.transaction(self.actor.conn, self.identity) as tx:
            return tx.run(query, params or {})

    def close(self):
        self.actor.conn.close()


@dataclass
class Outcome:
    worker: str
    kind: str  # ok | conflict | refused | error
    detail: object = None


def hammer(seconds: float, workers: list[tuple[str, Desk, object]]) -> list[Outcome]:
    """Run every worker's step in a loop, all together, for `seconds`; collect the outcomes."""
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(workers) + 1)
    clock = {}

    def loop(index: int, name: str, desk: Desk, step) -> None:
        rng = random.Random(index)
        barrier.wait()
        while time.monotonic() < clock["deadline"]:
            try:
                kind, detail = step(desk, rng, time.monotonic() - clock["start"])
            except errors.Conflict as exc:
                kind, detail = "conflict", exc.message
            except (errors.InvalidInput, errors.PermissionDenied, errors.NotFound) as exc:
                kind, detail = "refused", exc.message
            except BaseException:  # noqa: BLE001 - reported as a failure below
                kind, detail = "error", traceback.format_exc()
            if kind == "idle":
                continue
            with lock:
                outcomes.append(Outcome(name, kind, detail))
            if kind == "error":
                return

    threads = [
        threading.Thread(target=loop, args=(i, name, desk, step), daemon=True)
        for i, (name, desk, step) in enumerate(workers)
    ]
    for t in threads:
        t.start()
    clock["start"] = time.monotonic()
    clock["deadline"] = clock["start"] + seconds
    barrier.wait()
    for t in threads:
        t.join(seconds + 60)
        assert not t.is_alive(), "a worker hung"
    failures = [o.detail for o in outcomes if o.kind == "error"]
    assert not failures, failures[0]
    return outcomes


def tally(outcomes: list[Outcome]) -> Counter:
    return Counter((o.worker, o.kind) for o in outcomes)


def ok(outcomes: list[Outcome], worker: str) -> list:
    return [o.detail for o in outcomes if o.worker == worker and o.kind == "ok"]


def broken_invariants(db) -> list[dict]:
    return admin_all(db, INVARIANTS)


def last_audit_id(db) -> int:
    return admin_value(db, "select coalesce(max(id), 0) from epic_events.audit_log")


def audit_rows(db, table: str, row_id: int, since: int, action: str = "update") -> list[dict]:
    return admin_all(
        db,
        "select id, changes from epic_events.audit_log"
        " where table_name = %s and row_id = %s and action = %s and id > %s order by id",
        (table, str(row_id), action, since),
    )


def jsonb_row(db, table: str, row_id: int) -> dict:
    # The audit log stores values as to_jsonb does; compare like with like.
    return admin_value(
        db,
        sql.SQL("select to_jsonb(t) from epic_events.{} t where id = %s").format(sql.Identifier(table)),
        (row_id,),
    )


def replay(start: dict, audit: list[dict]) -> dict:
    """The row as the audit log says it became, checking each old value against it."""
    state = dict(start)
    for entry in audit:
        for column, change in entry["changes"].items():
            assert state[column] == change["old"], (
                f"audit row {entry['id']}: {column} was {state[column]!r}, the log says {change['old']!r}"
                " (a change is missing from the log, or was lost)"
            )
            state[column] = change["new"]
    return state


@pytest.fixture
def desks(world):
    opened: list[Desk] = []

    def sit(key: str) -> Desk:
        desk = Desk(world, key)
        opened.append(desk)
        return desk

    yield sit
    for desk in opened:
        desk.close()


def client_update(client_id: int, seen, name: str) -> dict:
    return {
        "id": client_id,
        "expected_updated_at": seen,
        "full_name": name,
        "email": None,
        "set_phone": False,
        "phone": None,
        "set_company": False,
        "company_id": None,
        "set_last_contact": False,
        "last_contact_at": None,
    }


def event_update(event_id: int, seen, name: str) -> dict:
    return {
        "id": event_id,
        "expected_updated_at": seen,
        "name": name,
        "starts_at": None,
        "ends_at": None,
        "location": None,
        "attendees": None,
        "set_notes": False,
        "notes": None,
    }


# --- optimistic updates of one client, one event -------------------------------------------


@dataclass
class Target:
    table: str
    key: str  # world.ids key of the row
    writers: tuple[str, ...]  # who may update it
    state: str
    update: str
    params: object  # (row id, seen updated_at, new name) -> parameters of `update`
    column: str  # the column each write changes


TARGETS = {
    "client": Target(
        "client",
        "client",
        ("sales", "manager", "manager2"),
        "client.client_state",
        "client.update_client",
        client_update,
        "full_name",
    ),
    "event": Target(
        "event",
        "event",
        ("support", "manager", "manager2"),
        "event.event_state",
        "event.update_event",
        event_update,
        "name",
    ),
}


@pytest.mark.parametrize("target", list(TARGETS))
def test_concurrent_optimistic_updates_each_win_or_hear_conflict_and_none_is_lost(world, desks, target):
    """`update ... where id = :id and updated_at = :seen`, as `client update` and
    `event update` send it, from several employees at once."""
    spec = TARGETS[target]
    db, row_id = world.db, world.ids[spec.key]
    team = [desks(k) for k in (spec.writers * WORKERS)[:WORKERS]]
    since = last_audit_id(db)
    before = jsonb_row(db, spec.table, row_id)

    # All read the same version, then all write: exactly one wins, the others hear "conflict".
    seen = team[0].run(spec.state, {"id": row_id})["updated_at"]
    gate = threading.Barrier(len(team))
    first: dict[int, object] = {}

    def write(i: int, desk: Desk) -> None:
        gate.wait()
        first[i] = desk.run(spec.update, spec.params(row_id, seen, f"First {i}"))

    threads = [threading.Thread(target=write, args=(i, d)) for i, d in enumerate(team)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(first.values(), key=str) == [row_id] + [None] * (len(team) - 1)

    def step(desk: Desk, rng: random.Random, _elapsed):
        seen = desk.run(spec.state, {"id": row_id})["updated_at"]
        name = f"{desk.key} {uuid.uuid4().hex[:12]}"
        if desk.run(spec.update, spec.params(row_id, seen, name)) is not None:
            return "ok", name
        # No row: the CLI tells a conflict only when the row did change meanwhile.
        now = desk.run(spec.state, {"id": row_id})["updated_at"]
        assert now != seen, "an update touched nothing though the row had not changed"
        return "conflict", name

    outcomes = hammer(RACE_SECONDS, [(f"{d.key}#{i}", d, step) for i, d in enumerate(team)])
    print(f"race outcomes: {dict(sorted(Counter(o.kind for o in outcomes).items()))}")  # shown with -s
    written = [o.detail for o in outcomes if o.kind == "ok"]
    assert written and len(written) + sum(o.kind == "conflict" for o in outcomes) == len(outcomes)

    # One audit row per successful write, holding its value; replayed, they give the final row.
    audit = audit_rows(db, spec.table, row_id, since)
    winner = next(f"First {i}" for i, r in first.items() if r is not None)
    assert len(audit) == 1 + len(written)
    assert sorted(a["changes"][spec.column]["new"] for a in audit) == sorted([winner] + written)
    after = jsonb_row(db, spec.table, row_id)
    assert {k: v for k, v in replay(before, audit).items() if k != "updated_at"} == {
        k: v for k, v in after.items() if k != "updated_at"
    }
    assert after[spec.column] == audit[-1]["changes"][spec.column]["new"]
    assert broken_invariants(db) == []


# --- payments, signatures, reassignments, totals and events on one contract ------------------


def test_concurrent_payments_signatures_and_reassignments_add_up(world, desks):
    db, ids = world.db, world.ids
    contract_id = ids["contract"]  # sales's, unsigned
    # 600 paid (the opening payment): 3000 due.
    admin_exec(db, "update epic_events.contract set total_amount = 3600 where id = %s", (contract_id,))
    paid_before = admin_value(
        db, "select sum(amount) from epic_events.payment where contract_id = %s", (contract_id,)
    )
    since = last_audit_id(db)
    start = admin_one(db, "select * from epic_events.contract where id = %s", (contract_id,))
    before = jsonb_row(db, "contract", contract_id)
    sign_after = RACE_SECONDS / 3  # events are tried on the unsigned contract first

    def pay(desk, rng, _elapsed):
        paid = Decimal(rng.randint(100, 9000)) / 100
        # Refused (raises) when the contract was reassigned away, or too little is due.
        desk.run(
            "contract.record_payment",
            {
                "contract_id": contract_id,
                "amount": paid,
                "paid_on": None,
                "method": "transfer",
                "reference": None,
            },
        )
        return "ok", paid

    def raise_total(desk, rng, _elapsed):
        state = desk.run("contract.contract_state", {"id": contract_id})
        done = desk.run(
            "contract.update_contract",
            {
                "id": contract_id,
                "expected_updated_at": state["updated_at"],
                "total_amount": state["total_amount"] + 1,
            },
        )
        return ("ok", 1) if done is not None else ("conflict", "changed meanwhile")

    def sign(desk, rng, elapsed):
        if elapsed < sign_after:
            time.sleep(0.005)
            return "idle", None
        done = desk.run("contract.sign_contract", {"id": contract_id})
        return ("ok", done["signed_at"]) if done is not None else ("refused", "already signed or not theirs")

    def reassign(desk, rng, _elapsed):
        state = desk.run("contract.contract_state", {"id": contract_id})
        target = ids["sales2"] if state["sales_contact_id"] == ids["sales"] else ids["sales"]
        desk.run("contract.reassign_contract", {"id": contract_id, "employee_id": target})
        return "ok", target

    def create_event(desk, rng, _elapsed):
        new_id = desk.run(
            "event.create_event",
            {
                "contract_id": contract_id,
                "name": f"Race {uuid.uuid4().hex[:8]}",
                "starts_at": START,
                "ends_at": START + timedelta(hours=2),
                "location": "Lyon",
                "attendees": 10,
                "notes": None,
            },
        )
        return "ok", new_id

    workers = [
        ("pay", desks("sales"), pay),
        ("pay", desks("sales"), pay),
        ("pay", desks("manager"), pay),
        ("total", desks("manager2"), raise_total),
        ("sign", desks("sales"), sign),
        ("sign", desks("manager"), sign),
        ("reassign", desks("manager2"), reassign),
        ("event", desks("sales"), create_event),
        ("event", desks("sales2"), create_event),
    ]
    outcomes = hammer(RACE_SECONDS, workers + [("pay", desks("sales2"), pay)] * max(0, WORKERS - 9))
    counts = tally(outcomes)
    print(f"race outcomes: {dict(sorted(counts.items()))}")  # shown with -s

    after = admin_one(db, "select * from epic_events.contract where id = %s", (contract_id,))
    payments, raises, signatures = ok(outcomes, "pay"), ok(outcomes, "total"), ok(outcomes, "sign")
    reassignments, events = ok(outcomes, "reassign"), ok(outcomes, "event")
    assert payments and raises and reassignments, counts
    # What the successful writes imply.
    # A raise of the total raises what is due by as much (amount_due = total - paid).
    assert start["amount_due"] - after["amount_due"] == sum(payments) - len(raises)
    assert admin_value(
        db, "select sum(amount) from epic_events.payment where contract_id = %s", (contract_id,)
    ) - paid_before == sum(payments)
    assert after["total_amount"] == start["total_amount"] + len(raises)
    assert len(signatures) == 1 and after["is_signed"] and after["signed_at"] == signatures[0]
    assert after["sales_contact_id"] == reassignments[-1]
    # Refusals were told, and for the right reasons.
    refusals = Counter(o.detail for o in outcomes if o.kind == "refused" and o.worker == "event")
    assert all("not signed" in r or "permission denied" in r for r in refusals), refusals

    # One audit row per successful write; replaying them gives the final row.
    audit = audit_rows(db, "contract", contract_id, since)
    kinds = Counter(
        next(k for k in ("total_amount", "amount_due", "is_signed", "sales_contact_id") if k in a["changes"])
        for a in audit
    )
    assert (
        kinds
        == Counter(
            {
                "amount_due": len(payments),
                "total_amount": len(raises),
                "is_signed": 1,
                "sales_contact_id": len(reassignments),
            }
        )
        - Counter()
    )
    final = jsonb_row(db, "contract", contract_id)
    assert {k: v for k, v in replay(before, audit).items() if k != "updated_at"} == {
        k: v for k, v in final.items() if k != "updated_at"
    }

    # Events exist only where one was reported created, each after the signature committed.
    created = admin_all(
        db,
        "select id, row_id from epic_events.audit_log where table_name = 'event'"
        " and action = 'insert' and id > %s order by id",
        (since,),
    )
    assert sorted(int(a["row_id"]) for a in created) == sorted(events)
    assert sorted(events) == [
        r["id"]
        for r in admin_all(
            db, "select id from epic_events.event where contract_id = %s order by id", (contract_id,)
        )
    ]
    signed_in = next(a["id"] for a in audit if "is_signed" in a["changes"])
    assert all(a["id"] > signed_in for a in created)
    assert broken_invariants(db) == []


# --- contacts keep their department while they are reassigned and moved ---------------------


def test_moving_an_employee_while_others_assign_them_never_leaves_a_contact_astray(world, desks):
    """Write skew: "X is in sales" (checked by an assignment) and "nobody names X" (checked
    by a move) must not both pass for work committed at the same time."""
    db, ids = world.db, world.ids
    xavier = admin_value(
        db,
        "insert into epic_events.employee (full_name, email, department, password_salt,"
        " password_verifier) values ('Xavier Both', 'xavier@epic.test', 'sales', %s, %s)"
        " returning id",
        (SALT, VERIFIER),
    )
    client_id = admin_value(
        db,
        "insert into epic_events.client (full_name, email, sales_contact_id)"
        " values ('Raced Client', 'raced@client.test', %s) returning id",
        (ids["sales"],),
    )
    contract_id = admin_value(
        db,
        "insert into epic_events.contract (client_id, total_amount, is_signed)"
        " values (%s, 100, true) returning id",
        (client_id,),
    )
    event_id = admin_value(
        db,
        "insert into epic_events.event (contract_id, name, support_contact_id,"
        " starts_at, ends_at, location, attendees) values (%s, 'Raced', %s, %s, %s,"
        " 'Nice', 5) returning id",
        (contract_id, ids["support"], START, START + timedelta(hours=1)),
    )
    since = last_audit_id(db)
    seen_broken: list = []

    def move(desk, rng, _elapsed):
        state = desk.run("employee.employee_state", {"id": xavier})
        target = "support" if state["department"] == "sales" else "sales"
        done = desk.run(
            "employee.update_employee",
            {
                "id": xavier,
                "expected_updated_at": state["updated_at"],
                "full_name": None,
                "email": None,
                "set_phone": False,
                "phone": None,
                "department": target,
            },
        )
        return ("ok", target) if done is not None else ("conflict", "changed meanwhile")

    def either(rng, usual):
        # Name Xavier often enough to race his moves, rarely enough that he is
        # sometimes nobody's contact and a move can pass.
        return xavier if rng.random() < 0.2 else usual

    def reassign_client(desk, rng, _elapsed):
        desk.run("client.reassign_client", {"id": client_id, "employee_id": either(rng, ids["sales"])})
        return "ok", None

    def reassign_contract(desk, rng, _elapsed):
        desk.run("contract.reassign_contract", {"id": contract_id, "employee_id": either(rng, ids["sales"])})
        return "ok", None

    def assign_support(desk, rng, _elapsed):
        desk.run("event.assign_support", {"id": event_id, "employee_id": either(rng, ids["support"])})
        return "ok", None

    def create_client(desk, rng, _elapsed):
        new_id = desk.run(
            "client.create_client",
            {
                "full_name": "New Raced",
                "email": f"{uuid.uuid4().hex[:10]}@client.test",
                "phone": None,
                "company_id": None,
                "sales_contact_id": xavier,
                "last_contact_at": None,
            },
        )
        # Hand it straight back, so that Xavier may move again.
        desk.run("client.reassign_client", {"id": new_id, "employee_id": ids["sales"]})
        return "ok", new_id

    def watch(desk, rng, _elapsed):
        with psycopg.connect(db.admin_dsn, autocommit=True, row_factory=dict_row) as conn:
            broken = conn.execute(INVARIANTS).fetchall()
        if broken:
            seen_broken.append(broken)
        return "idle", None

    workers = [
        ("move", desks("manager"), move),
        ("move", desks("manager2"), move),
        ("client", desks("manager2"), reassign_client),
        ("contract", desks("manager"), reassign_contract),
        ("event", desks("manager"), assign_support),
        ("create", desks("manager2"), create_client),
        ("watch", desks("manager"), watch),
    ]
    workers += [("client", desks("manager"), reassign_client)] * max(0, WORKERS - len(workers))
    # Race again (a few rounds at most) until at least one move got through:
    # a race in which Xavier never moved would prove nothing about moves.
    outcomes = []
    for _ in range(6):
        outcomes += hammer(RACE_SECONDS, workers)
        if ok(outcomes, "move"):
            break
    counts = tally(outcomes)
    print(f"race outcomes: {dict(sorted(counts.items()))}")  # shown with -s

    assert seen_broken == [], f"a contact was seen outside their department: {seen_broken[0]}"
    assert broken_invariants(db) == []
    moves = ok(outcomes, "move")
    assert moves and ok(outcomes, "client") and ok(outcomes, "event"), counts
    # Refused moves and assignments said why, in the words of the rule.
    for o in outcomes:
        if o.kind == "refused":
            assert "is not an active" in o.detail, o.detail
        if o.kind == "conflict" and o.worker == "move":
            assert o.detail == "changed meanwhile" or "still a contact" in o.detail, o.detail
    # Each move that said "ok" left its audit row (two movers: their reports may come
    # out of commit order, the log may not); the last one logged is where Xavier is.
    moved = audit_rows(db, "employee", xavier, since)
    assert sorted(a["changes"]["department"]["new"] for a in moved) == sorted(moves)
    final = admin_value(db, "select department from epic_events.employee where id = %s", (xavier,))
    assert final == moved[-1]["changes"]["department"]["new"]
    assert all(a["changes"]["department"]["old"] != a["changes"]["department"]["new"] for a in moved)
