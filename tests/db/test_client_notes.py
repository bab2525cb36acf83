"""Contact history (0019) in SQL: notes move last_contact_at forward, never back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from psycopg import errors

from tests.db.helpers import admin_all, admin_value, snapshot

NOTE = (
    "insert into client_note (client_id, kind, body, noted_at)"
    " values (%(c)s, 'call', %(body)s, %(at)s) returning id, written_by"
)
T0 = datetime(2026, 10, 1, 10, 0, tzinfo=UTC)


def last_contact(world, key="client"):
    return admin_value(
        world.db, "select last_contact_at from epic_events.client where id = %s", (world.ids[key],)
    )


def test_a_note_moves_the_last_contact_forward_and_never_back(world):
    sales = world.as_("sales")
    row = sales.one(NOTE, {"c": world.ids["client"], "body": "Wants a quote", "at": T0})
    assert row["written_by"] == world.ids["sales"]
    assert last_contact(world) == T0
    sales.run(NOTE, {"c": world.ids["client"], "body": "An older call", "at": T0 - timedelta(days=9)})
    assert last_contact(world) == T0
    sales.run(NOTE, {"c": world.ids["client"], "body": "Followed up", "at": T0 + timedelta(days=2)})
    assert last_contact(world) == T0 + timedelta(days=2)


def test_sales_note_their_own_clients_management_all_support_none(world):
    with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
        world.as_("sales").run(NOTE, {"c": world.ids["client2"], "body": "Not mine", "at": T0})
    with pytest.raises(errors.InsufficientPrivilege):
        world.as_("support").run(NOTE, {"c": world.ids["client"], "body": "Not mine", "at": T0})
    world.as_("manager").run(NOTE, {"c": world.ids["client2"], "body": "Management call", "at": T0})
    assert last_contact(world, "client2") == T0 and last_contact(world) is None


def test_revoking_client_note_create_own_stops_sales_at_once(world):
    world.as_("manager").run(
        "delete from department_permission"
        " where department = 'sales' and permission_code = 'client_note:create:own'"
    )
    with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
        world.as_("sales").run(NOTE, {"c": world.ids["client"], "body": "x", "at": T0})


@pytest.mark.parametrize(
    ("body", "at", "constraint"),
    [
        ("   ", T0, "client_note_body_valid"),
        ("bell \x07", T0, "client_note_body_valid"),
        ("x" * 10001, T0, "client_note_body_valid"),
        ("From the future", datetime.now(UTC) + timedelta(days=3), "client_note_not_in_future"),
    ],
)
def test_bad_notes_are_refused(world, body, at, constraint):
    before = snapshot(world.db, "client", "client_note")
    with pytest.raises(errors.CheckViolation) as info:
        world.as_("sales").run(NOTE, {"c": world.ids["client"], "body": body, "at": at})
    assert info.value.diag.constraint_name == constraint
    assert snapshot(world.db, "client", "client_note") == before


def test_tab_and_newline_are_allowed(world):
    world.as_("sales").run(NOTE, {"c": world.ids["client"], "body": "Line one\n\tindented", "at": T0})
    assert admin_value(world.db, "select body from epic_events.client_note") == "Line one\n\tindented"


def test_notes_are_audited_and_never_rewritten(world):
    since = admin_value(world.db, "select coalesce(max(id), 0) from epic_events.audit_log")
    world.as_("sales").run(NOTE, {"c": world.ids["client"], "body": "Audited", "at": T0})
    rows = admin_all(
        world.db,
        "select table_name, action, employee_id from epic_events.audit_log where id > %s order by id",
        (since,),
    )
    assert {"table_name": "client_note", "action": "insert", "employee_id": world.ids["sales"]} in rows
    assert {"table_name": "client", "action": "update", "employee_id": world.ids["sales"]} in rows
    for who in ("manager", "sales", "support"):
        for statement in ("update client_note set body = 'x'", "delete from client_note"):
            with pytest.raises(errors.InsufficientPrivilege):
                world.as_(who).run(statement)
