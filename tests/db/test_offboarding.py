"""Offboarding (0018) in SQL: offboard_employee() hands over and deactivates in one statement.

In the World, Sam (sales) follows `client` and its contracts `contract` and
`signed`; Sara (sales2) follows `client2` and `contract2`. Suzy (support) runs
`event`, Stan (support2) `event2`; both start in 2027.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from psycopg import errors

from tests.db.helpers import admin_all, admin_value, snapshot

OFFBOARD = "select * from epic_events.offboard_employee(%(leaver)s, %(target)s)"


def contacts(world, table: str, column: str) -> dict[int, int]:
    return {
        r["id"]: r[column]
        for r in admin_all(world.db, f"select id, {column} from epic_events.{table} order by id")
    }


def is_active(world, key: str) -> bool:
    return admin_value(
        world.db, "select is_active from epic_events.employee where id = %s", (world.ids[key],)
    )


def test_a_sales_leaver_hands_over_clients_and_contracts_then_is_deactivated(world):
    ids = world.ids
    # A contract Sam follows for Sara's client (reassigned to him alone).
    extra = admin_value(
        world.db,
        "insert into epic_events.contract (client_id, sales_contact_id, total_amount)"
        " values (%s, %s, 100) returning id",
        (ids["client2"], ids["sales"]),
    )
    sam = world.as_("sales")  # a live session, to see it cut
    moved = world.as_("manager").one(OFFBOARD, {"leaver": ids["sales"], "target": ids["sales2"]})
    assert moved == {"clients": 1, "contracts": 3, "events": 0}
    assert set(contacts(world, "client", "sales_contact_id").values()) == {ids["sales2"]}
    assert set(contacts(world, "contract", "sales_contact_id").values()) == {ids["sales2"]}
    assert extra in contacts(world, "contract", "sales_contact_id")
    assert not is_active(world, "sales")
    assert sam.one("select epic_events.current_employee_id() as me")["me"] is None


def test_a_support_leaver_hands_over_future_events_and_keeps_past_ones(world):
    ids = world.ids
    start = datetime.now(UTC) - timedelta(days=3)
    past = admin_value(
        world.db,
        "insert into epic_events.event (contract_id, name, support_contact_id,"
        " starts_at, ends_at, location, attendees)"
        " values (%s, 'Done', %s, %s, %s, 'Lyon', 5) returning id",
        (ids["signed"], ids["support"], start, start + timedelta(hours=2)),
    )
    moved = world.as_("manager").one(OFFBOARD, {"leaver": ids["support"], "target": ids["support2"]})
    assert moved == {"clients": 0, "contracts": 0, "events": 1}
    support = contacts(world, "event", "support_contact_id")
    assert support[ids["event"]] == ids["support2"] and support[past] == ids["support"]
    assert not is_active(world, "support")


@pytest.mark.parametrize(
    ("leaver", "target", "why"),
    [
        ("sales", "sales", "cannot take over from themself"),
        ("sales", "support", "is not an active sales employee"),
        ("support", "sales", "is not an active support employee"),
        ("sales", "manager", "is not an active sales employee"),
        ("sales", None, "is not an active sales employee"),  # no such employee
        ("sales", "inactive sales", "is not an active sales employee"),
    ],
)
def test_the_target_must_be_an_active_colleague_of_the_same_department(world, leaver, target, why):
    ids = dict(world.ids)
    if target == "inactive sales":
        world.as_("manager").run("update employee set is_active = false where id = %(sales2)s", ids)
        target = "sales2"
    before = snapshot(world.db, "employee", "client", "contract", "event")
    with pytest.raises(errors.CheckViolation, match=why) as info:
        world.as_("manager").run(
            OFFBOARD, {"leaver": ids[leaver], "target": ids[target] if target else 999999}
        )
    assert info.value.diag.constraint_name == "employee_offboard_target"
    assert snapshot(world.db, "employee", "client", "contract", "event") == before


@pytest.mark.parametrize("who", ["sales", "support"])
def test_only_management_offboards(world, who):
    before = snapshot(world.db, "employee", "client", "contract", "event")
    with pytest.raises(errors.InsufficientPrivilege):
        world.as_(who).run(OFFBOARD, {"leaver": world.ids["sales"], "target": world.ids["sales2"]})
    assert snapshot(world.db, "employee", "client", "contract", "event") == before


@pytest.mark.parametrize(
    ("department", "code", "leaver", "target"),
    [
        ("management", "client:update", "sales", "sales2"),
        ("management", "contract:update", "sales", "sales2"),
        ("management", "event:update", "support", "support2"),
        ("management", "employee:update", "sales", "sales2"),
    ],
)
def test_the_rights_still_decide_inside_the_function_and_it_is_all_or_nothing(
    world, department, code, leaver, target
):
    """SECURITY INVOKER: a move or the deactivation the policies hide refuses the whole handover."""
    # Sam's contracts follow his clients (as the definer, 0009): one for Sara's
    # client is what only contract:update moves.
    admin_value(
        world.db,
        "insert into epic_events.contract (client_id, sales_contact_id, total_amount)"
        " values (%s, %s, 100) returning id",
        (world.ids["client2"], world.ids["sales"]),
    )
    manager = world.as_("manager")
    manager.run(
        "delete from department_permission where department = %(d)s and permission_code = %(c)s",
        {"d": department, "c": code},
    )
    before = snapshot(world.db, "employee", "client", "contract", "event")
    with pytest.raises(errors.InsufficientPrivilege):
        manager.run(OFFBOARD, {"leaver": world.ids[leaver], "target": world.ids[target]})
    assert snapshot(world.db, "employee", "client", "contract", "event") == before


def test_a_client_given_to_the_leaver_during_the_handover_waits_and_is_refused(world):
    """The handover holds the leaver's contact lock (0012) until it commits: Sam's new
    client, created meanwhile, cannot land with him after his clients were moved."""
    manager, sam = world.as_("manager"), world.as_("sales")
    with manager.conn.cursor() as cur:
        manager._begin(cur)
        cur.execute(OFFBOARD, {"leaver": world.ids["sales"], "target": world.ids["sales2"]})
        outcome = {}

        def create():
            try:
                sam.run("insert into client (full_name, email) values ('Late', 'late@client.test')")
                outcome["result"] = "created"
            except errors.Error as exc:
                outcome["result"] = type(exc).__name__

        late = threading.Thread(target=create)
        late.start()
        late.join(0.5)
        assert late.is_alive()  # waiting for the handover
    manager.conn.commit()
    late.join(10)
    assert outcome["result"] in ("CheckViolation", "InsufficientPrivilege")
    assert (
        admin_value(
            world.db,
            "select count(*) from epic_events.client c"
            " join epic_events.employee e on e.id = c.sales_contact_id"
            " where not e.is_active",
        )
        == 0
    )
