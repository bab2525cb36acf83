"""`--mine` reads the caller's rows only, however few they have.

A sales employee hired today has no client and no contract. Their `client
list --mine` and `contract list [--unsigned|--unpaid] --mine` must walk the
(sales_contact_id, id) index and find nothing at once, not walk the id-ordered
index filtering out every other employee's rows: a scan of the whole table
(on the bench's large data, 600k unsigned contracts and 120 ms for `contract
list --unsigned --mine`: tests/perf/bench.py). The same for a support
employee with no event assigned.
"""

from __future__ import annotations

import pytest

from epic_events import queries
from epic_events.cli import contract, event
from tests.world import SALT, VERIFIER, World, open_actor

# The shape that fooled the planner: few sales employees with many contracts
# each, ids in the order rows were written (the id-ordered indexes look cheap
# to walk), everyone's rows interleaved. 10 sales employees, 2,000 clients in
# runs of 10 per employee, 20,000 contracts (3 in 10 unsigned, 1 in 4 unpaid),
# 5,000 events on signed contracts over the two support employees.
BULK = """
insert into epic_events.employee (full_name, email, department, password_salt, password_verifier)
select 'Extra sales ' || g, 'extra-sales-' || g || '@epic.test', 'sales', '$2b$04$' || repeat('x', 22),
       sha256('x')
  from generate_series(1, 8) g;
insert into epic_events.client (full_name, email, sales_contact_id)
select 'Bulk client ' || g, 'bulk' || g || '@client.test', s.ids[1 + (g / 10) % 10]
  from generate_series(0, 1999) g
 cross join (select array_agg(id order by id) as ids
               from epic_events.employee where department = 'sales') s;
insert into epic_events.contract (client_id, total_amount, amount_due, is_signed)
select c.ids[1 + g % 2000], 1000, case when g % 4 = 0 then 100 else 0 end, g % 10 >= 3
  from generate_series(0, 19999) g
 cross join (select array_agg(id order by id) as ids
               from epic_events.client where full_name like 'Bulk client %') c;
insert into epic_events.event (contract_id, name, support_contact_id, starts_at, ends_at,
                               location, attendees)
select k.id, 'Bulk event ' || k.n, s.ids[1 + k.n % 2],
       timestamptz '2027-01-01' + (k.n * 7919 % 5000) * interval '1 hour',
       timestamptz '2027-01-01' + (k.n * 7919 % 5000) * interval '1 hour' + interval '2 hours',
       'Somewhere', 10
  from (select id, row_number() over (order by id) as n
          from epic_events.contract where is_signed) k
 cross join (select array_agg(id order by id) as ids
               from epic_events.employee where department = 'support') s
 where k.n <= 5000;
"""


def plan_of(actor, dotted: str, params: dict) -> dict:
    """EXPLAIN ANALYZE of a named query as this employee (their role, RLS and all)."""
    found = actor.one("explain (analyze, format json) " + queries.get(dotted).sql, params)
    return found["QUERY PLAN"][0]["Plan"]


def nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def reads_of(plan: dict, table: str) -> list[tuple[str | None, int]]:
    """(index, rows filtered out) of each scan of `table`; a bitmap scan names
    the index of its Bitmap Index Scan."""
    found = []
    for node in nodes(plan):
        if node.get("Relation Name") != table:
            continue
        index = node.get("Index Name")
        if node["Node Type"] == "Bitmap Heap Scan":
            index = next(n["Index Name"] for n in nodes(node) if "Index Name" in n)
        found.append((index, node.get("Rows Removed by Filter", 0)))
    return found


@pytest.fixture
def newcomers(db):
    """The BULK agency, plus a sales and a support employee with nothing of their
    own yet, acting as the CLI does."""
    world = World.build(db)
    with db.admin() as conn:
        conn.execute(BULK)
        # Everyone may log in with world.PASSWORD.
        conn.execute(
            "update epic_events.employee set password_salt = %s, password_verifier = %s"
            " where email like 'extra-sales-%%'",
            (SALT, VERIFIER),
        )
        ids = {}
        for department in ("sales", "support"):
            ids[department] = conn.execute(
                "insert into epic_events.employee (full_name, email, department, password_salt,"
                " password_verifier) values (%s, %s, %s, %s, %s) returning id",
                (f"New {department}", f"new-{department}@epic.test", department, SALT, VERIFIER),
            ).fetchone()[0]
        conn.execute(
            "analyze epic_events.employee, epic_events.client, epic_events.contract, epic_events.event"
        )
    actors = {department: open_actor(db, f"new-{department}@epic.test") for department in ids}
    yield actors
    for actor in actors.values():
        actor.conn.close()
    world.close()


CLIENT_MINE = {
    "mine": True,
    "company_id": None,
    "search": None,
    "pattern": None,
    "stale_before": None,
    "sort": "id",
    "desc": False,
    "limit": 51,
    "offset": 0,
}


def test_newcomers_read_nobody_elses_rows(newcomers):
    cases = [
        ("sales", "client.list_clients", CLIENT_MINE, "client_sales_contact_idx"),
        ("sales", "client.list_clients", {**CLIENT_MINE, "desc": True}, "client_sales_contact_idx"),
        (
            "sales",
            "contract.list_contracts",
            contract.list_parameters(mine=True),
            "contract_sales_contact_idx",
        ),
        (
            "sales",
            "contract.list_contracts",
            contract.list_parameters(unsigned=True, mine=True),
            "contract_unsigned_idx",
        ),
        (
            "sales",
            "contract.list_contracts",
            contract.list_parameters(unsigned=True, mine=True, desc=True),
            "contract_unsigned_idx",
        ),
        (
            "sales",
            "contract.list_contracts",
            contract.list_parameters(unpaid=True, mine=True),
            "contract_unpaid_idx",
        ),
        (
            "support",
            "event.list_events",
            event.list_parameters(assigned_to_me=True),
            "event_support_contact_idx",
        ),
    ]
    # A sales newcomer's `event list --mine` starts from their (no) contracts,
    # not from every event in start order.
    sales = newcomers["sales"]
    plan = plan_of(sales, "event.list_events", event.list_parameters(sold_by_me=True, me=sales.employee_id))
    assert reads_of(plan, "contract") == [("contract_sales_contact_idx", 0)]
    assert all(index != "event_starts_idx" for index, _ in reads_of(plan, "event"))
    assert plan["Actual Rows"] == 0
    for who, dotted, params, index in cases:
        plan = plan_of(newcomers[who], dotted, params)
        table = dotted.split(".")[0]  # client.list_clients reads client, …
        assert reads_of(plan, table) == [(index, 0)], f"{who} {dotted} {params}"
        assert plan["Actual Rows"] == 0


def test_mine_pages_keep_their_order(newcomers, db):
    """Sorting --mine by sales_contact_id first changes nothing: it is one value."""
    with db.admin() as conn:
        sales_id, email = conn.execute(
            "select c.sales_contact_id, e.email from epic_events.contract c"
            " join epic_events.employee e on e.id = c.sales_contact_id where not c.is_signed"
            " group by 1, 2 order by count(*) desc limit 1"
        ).fetchone()
    actor = open_actor(db, email)
    try:
        for desc in (False, True):
            rows = actor.run(
                queries.get("contract.list_contracts").sql,
                contract.list_parameters(unsigned=True, mine=True, desc=desc, limit=1000),
            )
            ids = [r["id"] for r in rows]
            assert ids and ids == sorted(ids, reverse=desc)
            assert {r["sales_contact_id"] for r in rows} == {sales_id}
            assert not any(r["is_signed"] for r in rows)
    finally:
        actor.conn.close()
