"""Every constraint and trigger, fed a bad input in SQL (no CLI).

Constraints hold for everyone, the admin included, so most bad inputs are sent
through the admin connection; where a rule involves a department (reassigning,
deleting, auditing), the department acts. Each refusal names its constraint, so
the CLI can say which field was wrong.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import bcrypt
import psycopg
import pytest
from psycopg import errors, sql
from psycopg.rows import dict_row

from epic_events import errors as app_errors
from tests import pg
from tests.db.helpers import admin_all, admin_exec, admin_one, admin_value, open_session
from tests.world import ROLE, SALT, VERIFIER

START = datetime(2027, 9, 1, 9, 0, tzinfo=UTC)


def valid_row(world, table: str) -> dict:
    """A row each table accepts; the cases below spoil one column of it."""
    ids = world.ids
    return {
        "employee": {
            "full_name": "Val Id",
            "email": "val@epic.test",
            "department": "support",
            "password_salt": SALT,
            "password_verifier": VERIFIER,
            "phone": "+33612345678",
        },
        "company": {"name": "Valid Co"},
        "client": {
            "full_name": "Val Client",
            "email": "val@client.test",
            "phone": "+33612345678",
            "sales_contact_id": ids["sales"],
        },
        "contract": {"client_id": ids["client"], "total_amount": 1000, "amount_due": 400},
        "event": {
            "contract_id": ids["signed"],
            "name": "Launch",
            "starts_at": START,
            "ends_at": START + timedelta(hours=3),
            "location": "Nice",
            "attendees": 10,
        },
    }[table]


def admin_insert(db, table: str, row: dict) -> dict:
    query = sql.SQL("insert into epic_events.{} ({}) values ({}) returning *").format(
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, row)),
        sql.SQL(", ").join(sql.Placeholder() * len(row)),
    )
    with psycopg.connect(db.admin_dsn, autocommit=True, row_factory=dict_row) as conn:
        return conn.execute(query, list(row.values())).fetchone()


@pytest.mark.parametrize("table", ["employee", "company", "client", "contract", "event"])
def test_the_valid_rows_used_below_are_accepted(world, table):
    assert admin_insert(world.db, table, valid_row(world, table))["id"]


BAD_EMAILS = [
    "plainaddress",
    "no-domain@",
    "@no-local.test",
    "two@@ats.test",
    "a b@space.test",
    "tab\t@x.test",
    "no@dot",
    "trailing@space.test ",
    "line@break.test\n",
    "x" * 250 + "@long.test",
]
BAD_PHONES = [
    "0612345678",
    "+0612345678",
    "+33 6 12 34 56 78",
    "+33-612345678",
    "+123456",
    "+1234567890123456",
    "33612345678",
    "",
]
BAD_NAMES = [
    "",
    "   ",
    "\t",
    "Line\nbreak",
    "Carriage\rreturn",
    "Tab\tinside",
    "Bell\x07",
    "Esc\x1b[31m",
    "x" * 201,
]

CASES = (
    [
        pytest.param(
            "contract",
            {"amount_due": -1},
            errors.CheckViolation,
            {"contract_amount_due_range"},
            id="contract amount_due < 0",
        ),
        pytest.param(
            "contract",
            {"amount_due": 1000.01},
            errors.CheckViolation,
            {"contract_amount_due_range"},
            id="contract amount_due > total_amount",
        ),
        # A negative total breaks both rules (0 <= due <= total is impossible); either may report.
        pytest.param(
            "contract",
            {"total_amount": -1, "amount_due": 0},
            errors.CheckViolation,
            {"contract_total_amount_not_negative", "contract_amount_due_range"},
            id="contract total_amount < 0",
        ),
        pytest.param(
            "contract",
            {"total_amount": 10**10},
            errors.NumericValueOutOfRange,
            {None},
            id="contract total_amount beyond numeric(12,2)",
        ),
        pytest.param(
            "event",
            {"ends_at": START},
            errors.CheckViolation,
            {"event_ends_after_start"},
            id="event ends_at = starts_at",
        ),
        pytest.param(
            "event",
            {"ends_at": START - timedelta(minutes=1)},
            errors.CheckViolation,
            {"event_ends_after_start"},
            id="event ends_at < starts_at",
        ),
        pytest.param(
            "event",
            {"attendees": -1},
            errors.CheckViolation,
            {"event_attendees_not_negative"},
            id="event attendees < 0",
        ),
        pytest.param(
            "event",
            {"location": "  "},
            errors.CheckViolation,
            {"event_location_valid", "event_location_clean"},
            id="event location blank",
        ),
        pytest.param(
            "employee",
            {"password_salt": "hunter2"},
            errors.CheckViolation,
            {"employee_password_salt_is_bcrypt"},
            id="employee password_salt not bcrypt",
        ),
        pytest.param(
            "employee",
            {"password_salt": SALT + "x"},
            errors.CheckViolation,
            {"employee_password_salt_is_bcrypt"},
            id="employee password_salt a whole hash",
        ),
        pytest.param(
            "employee",
            {"password_verifier": b"hunter2"},
            errors.CheckViolation,
            {"employee_password_verifier_is_sha256"},
            id="employee password_verifier not sha256",
        ),
        pytest.param(
            "employee",
            {"password_salt": None},
            errors.NotNullViolation,
            {None},
            id="employee password_salt missing",
        ),
        pytest.param(
            "employee",
            {"password_verifier": None},
            errors.NotNullViolation,
            {None},
            id="employee password_verifier missing",
        ),
        pytest.param(
            "employee",
            {"department": "marketing"},
            errors.ForeignKeyViolation,
            {"employee_department_fkey"},
            id="employee department unknown",
        ),
    ]
    + [
        pytest.param(
            t,
            {"email": e},
            errors.CheckViolation,
            {f"{t}_email_valid", f"{t}_email_clean"},
            id=f"{t} email {e!r}"[:60],
        )
        for t in ("employee", "client")
        for e in BAD_EMAILS
    ]
    + [
        pytest.param(t, {"phone": p}, errors.CheckViolation, {f"{t}_phone_valid"}, id=f"{t} phone {p!r}")
        for t in ("employee", "client")
        for p in BAD_PHONES
    ]
    # A blank or control character breaks 0016's _clean check too: either may report.
    + [
        pytest.param(
            t, {c: n}, errors.CheckViolation, {f"{t}_{c}_valid", f"{t}_{c}_clean"}, id=f"{t} {c} {n!r}"[:60]
        )
        for t, c in (
            ("employee", "full_name"),
            ("client", "full_name"),
            ("company", "name"),
            ("event", "name"),
        )
        for n in BAD_NAMES
    ]
)


@pytest.mark.parametrize(("table", "bad", "error", "constraints"), CASES)
def test_a_bad_value_is_refused_with_its_constraint(world, table, bad, error, constraints):
    row = valid_row(world, table) | bad
    with pytest.raises(error) as info:
        admin_insert(world.db, table, row)
    assert info.value.diag.constraint_name in constraints


@pytest.mark.parametrize("email", ["MONA@epic.test", "mona@EPIC.TEST", "Mona@Epic.Test"])
def test_employee_email_is_unique_regardless_of_case(world, email):
    with pytest.raises(errors.UniqueViolation) as info:
        admin_insert(world.db, "employee", valid_row(world, "employee") | {"email": email})
    assert info.value.diag.constraint_name == "employee_email_key"
    # Also when an update makes two collide.
    with pytest.raises(errors.UniqueViolation):
        world.as_("manager").run(
            "update employee set email = %(e)s where id = %(id)s", {"e": email, "id": world.ids["sales"]}
        )


@pytest.mark.parametrize("name", ["ACME EVENTS", "acme events", "Acme Events"])
def test_company_name_is_unique_regardless_of_case(world, name):
    with pytest.raises(errors.UniqueViolation) as info:
        world.as_("sales").run("insert into company (name) values (%s)", (name,))
    assert info.value.diag.constraint_name == "company_name_key"


def test_money_is_kept_to_the_cent(world):
    row = admin_insert(
        world.db, "contract", valid_row(world, "contract") | {"total_amount": "1234.5", "amount_due": "0.004"}
    )
    assert str(row["total_amount"]) == "1234.50" and str(row["amount_due"]) == "0.00"


# --- contacts must be active employees of the right department -----------------------------


def test_an_event_needs_a_signed_contract(world):
    with pytest.raises(errors.CheckViolation) as info:
        admin_insert(world.db, "event", valid_row(world, "event") | {"contract_id": world.ids["contract"]})
    assert info.value.diag.constraint_name == "event_contract_is_signed"
    # Nor can an event be moved onto an unsigned contract.
    with pytest.raises(errors.CheckViolation):
        admin_exec(
            world.db,
            "update epic_events.event set contract_id = %s where id = %s",
            (world.ids["contract"], world.ids["event"]),
        )


@pytest.mark.parametrize(
    ("who", "statement", "constraint"),
    [
        (
            "manager",
            "insert into contract (client_id, total_amount) values (987654, 10)",
            "contract_client_id_fkey",
        ),
        (
            "sales",
            "insert into event (contract_id, name, starts_at, ends_at, location, attendees)"
            " values (987654, 'x', now(), now() + interval '1 hour', 'x', 1)",
            "event_contract_id_fkey",
        ),
        (
            "manager",
            "insert into client (full_name, email, company_id, sales_contact_id)"
            " values ('x', 'x@client.test', 987654, %(sales)s)",
            "client_company_id_fkey",
        ),
    ],
)
def test_a_reference_to_a_missing_row_is_reported_as_such(world, who, statement, constraint):
    """Not as a NOT NULL on a defaulted column, an unsigned contract or a policy."""
    with pytest.raises(errors.ForeignKeyViolation) as info:
        world.as_(who).run(statement, world.ids)
    assert info.value.diag.constraint_name == constraint


@pytest.mark.parametrize("who", ["support", "manager", "deactivated sales"])
@pytest.mark.parametrize("table", ["client", "contract"])
def test_a_sales_contact_must_be_an_active_sales_employee(world, who, table):
    if who == "deactivated sales":
        admin_exec(
            world.db,
            "update epic_events.employee set is_active = false where id = %s",
            (world.ids["sales2"],),
        )
        contact = world.ids["sales2"]
    else:
        contact = world.ids[who]
    with pytest.raises(errors.CheckViolation) as info:
        admin_insert(world.db, table, valid_row(world, table) | {"sales_contact_id": contact})
    assert info.value.diag.constraint_name == f"{table}_sales_contact_id_department"
    # Reassigning to them is refused the same way, for management too.
    target = world.ids["client" if table == "client" else "contract"]
    with pytest.raises(errors.CheckViolation):
        world.as_("manager").run(f"update {table} set sales_contact_id = %s where id = %s", (contact, target))
    assert (
        admin_value(world.db, f"select sales_contact_id from epic_events.{table} where id = %s", (target,))
        == world.ids["sales"]
    )


@pytest.mark.parametrize("who", ["sales", "manager", "deactivated support"])
def test_a_support_contact_must_be_an_active_support_employee(world, who):
    if who == "deactivated support":
        admin_exec(
            world.db,
            "update epic_events.employee set is_active = false where id = %s",
            (world.ids["support2"],),
        )
        contact = world.ids["support2"]
    else:
        contact = world.ids[who]
    with pytest.raises(errors.CheckViolation) as info:
        admin_insert(world.db, "event", valid_row(world, "event") | {"support_contact_id": contact})
    assert info.value.diag.constraint_name == "event_support_contact_id_department"
    with pytest.raises(errors.CheckViolation):
        world.as_("manager").run(
            "update event set support_contact_id = %s where id = %s", (contact, world.ids["event_unassigned"])
        )


def test_a_contact_may_be_left_empty_on_an_event(world):
    assert (
        world.as_("manager").count(
            "update event set support_contact_id = null where id = %(event)s", world.ids
        )
        == 1
    )


# --- contracts: defaults and signing ---------------------------------------------------------


def test_a_new_contract_takes_the_clients_sales_contact_and_owes_its_total(world):
    row = world.as_("manager").one(
        "insert into contract (client_id, total_amount) values (%(client2)s, 2500) returning *", world.ids
    )
    assert row["sales_contact_id"] == world.ids["sales2"]
    assert row["amount_due"] == row["total_amount"] == 2500
    assert row["is_signed"] is False and row["signed_at"] is None


def test_a_signed_contract_cannot_be_unsigned(world):
    for unsign in (
        lambda: admin_exec(
            world.db,
            "update epic_events.contract set is_signed = false where id = %s",
            (world.ids["signed"],),
        ),
        lambda: world.as_("manager").run(
            "update contract set is_signed = false where id = %(signed)s", world.ids
        ),
        lambda: world.as_("sales").run(
            "update contract set is_signed = false where id = %(signed)s", world.ids
        ),
    ):
        with pytest.raises(errors.CheckViolation) as info:
            unsign()
        assert info.value.diag.constraint_name == "contract_signature_is_final"
    assert (
        admin_value(
            world.db, "select is_signed from epic_events.contract where id = %s", (world.ids["signed"],)
        )
        is True
    )


def test_signed_at_is_stamped_by_the_database_on_signing(world):
    before = admin_value(world.db, "select now()")
    row = world.as_("sales").one(
        "update contract set is_signed = true where id = %(contract)s returning signed_at", world.ids
    )
    assert before <= row["signed_at"] <= admin_value(world.db, "select now()")
    # Later updates keep it.
    later = world.as_("sales").one(
        "update contract set total_amount = 1200 where id = %(contract)s returning signed_at", world.ids
    )
    assert later["signed_at"] == row["signed_at"]


def test_signed_at_is_not_writable(world):
    with pytest.raises(errors.InsufficientPrivilege):
        world.as_("manager").run(
            "update contract set signed_at = now() - interval '1 year' where id = %(signed)s", world.ids
        )
    with pytest.raises(errors.InsufficientPrivilege):
        world.as_("manager").run(
            "insert into contract (client_id, total_amount, signed_at) values (%(client)s, 1, now())",
            world.ids,
        )
    # Even the admin's value is ignored: the trigger owns the column.
    original = admin_value(
        world.db, "select signed_at from epic_events.contract where id = %s", (world.ids["signed"],)
    )
    admin_exec(
        world.db,
        "update epic_events.contract set signed_at = '2001-01-01' where id = %s",
        (world.ids["signed"],),
    )
    assert (
        admin_value(
            world.db, "select signed_at from epic_events.contract where id = %s", (world.ids["signed"],)
        )
        == original
    )
    unsigned = admin_insert(
        world.db, "contract", valid_row(world, "contract") | {"signed_at": datetime(2001, 1, 1, tzinfo=UTC)}
    )
    assert unsigned["signed_at"] is None
    signed = admin_insert(
        world.db,
        "contract",
        valid_row(world, "contract") | {"is_signed": True, "signed_at": datetime(2001, 1, 1, tzinfo=UTC)},
    )
    assert signed["signed_at"].year > 2001


# --- updated_at ---------------------------------------------------------------------------------

TOUCHED = [
    ("employee", "phone = '+33700000010'", "support"),
    ("company", "name = 'Acme Two'", "company"),
    ("client", "phone = '+33700000010'", "client"),
    ("contract", "total_amount = total_amount + 1", "contract"),
    ("event", "attendees = 1", "event"),
]


@pytest.mark.parametrize(("table", "change", "key"), TOUCHED)
def test_updated_at_is_set_by_the_database_and_strictly_increases(world, table, change, key):
    target = world.ids[key]
    query = sql.SQL(
        "update epic_events.{} set {}, updated_at = '2001-01-01' where id = %s returning updated_at"
    ).format(sql.Identifier(table), sql.SQL(change))
    original = admin_value(world.db, f"select updated_at from epic_events.{table} where id = %s", (target,))
    with psycopg.connect(world.db.admin_dsn) as conn:  # one transaction: now() does not move
        stamps = [conn.execute(query, (target,)).fetchone()[0] for _ in range(3)]
    assert original < stamps[0] < stamps[1] < stamps[2]
    assert stamps[2] - stamps[0] < timedelta(seconds=60)


@pytest.mark.parametrize(("table", "change", "key"), TOUCHED)
def test_no_department_writes_updated_at_or_created_at(world, table, change, key):
    for column in ("updated_at", "created_at"):
        with pytest.raises(errors.InsufficientPrivilege):
            world.as_("manager").run(f"update {table} set {column} = now() where id = %s", (world.ids[key],))


# --- deleting -----------------------------------------------------------------------------------


def restrict_refusal(server) -> tuple[type[Exception], str]:
    """What the server raises when ON DELETE RESTRICT refuses: PostgreSQL 18 reports
    restrict_violation (23001, "violates RESTRICT setting of foreign key constraint");
    up to 17 it is foreign_key_violation (23503, "violates foreign key constraint").
    The refusal, the constraint and the referring table are the same on both."""
    if pg.major_version(server) >= 18:
        return errors.RestrictViolation, "violates RESTRICT setting of foreign key constraint"
    return errors.ForeignKeyViolation, "violates foreign key constraint"


@pytest.mark.parametrize("key", ["sales", "sales2", "support"])
def test_deleting_an_employee_still_referenced_is_refused(world, key):
    """ON DELETE RESTRICT: the error names the referring table (the CLI says: deactivate instead)."""
    refusal, wording = restrict_refusal(world.db.server)
    with pytest.raises(refusal, match=wording) as info:
        world.as_("manager").run("delete from employee where id = %s", (world.ids[key],))
    assert type(info.value) is refusal  # not merely a subclass: the SQLSTATE this version raises
    assert info.value.diag.constraint_name.endswith("_contact_id_fkey")
    assert (
        admin_value(world.db, "select count(*) from epic_events.employee where id = %s", (world.ids[key],))
        == 1
    )
    message = app_errors.from_database(info.value)
    assert isinstance(message, app_errors.Conflict)
    assert message.message == (
        f"this employee is still referenced by {info.value.diag.table_name} rows:"
        " deactivate the employee instead (`employee deactivate`)"
    )


def test_an_employee_nothing_refers_to_is_deleted_with_their_sessions(world):
    new = world.as_("manager").one(
        "insert into employee (full_name, email, department, password_salt, password_verifier)"
        " values ('Temp Hire', 'temp@epic.test', 'support', %s, %s) returning id",
        (SALT, VERIFIER),
    )["id"]
    session = open_session(world.db, new).id
    open_session(world.db, new)
    assert (
        admin_value(world.db, "select count(*) from epic_events.session where employee_id = %s", (new,)) == 2
    )
    assert world.as_("manager").count("delete from employee where id = %s", (new,)) == 1
    assert (
        admin_value(world.db, "select count(*) from epic_events.session where employee_id = %s", (new,)) == 0
    )
    assert (
        admin_value(
            world.db, "select count(*) from epic_events.session_token where session_id = %s", (session,)
        )
        == 0
    )


@pytest.mark.parametrize(
    ("table", "key", "referenced_by"),
    [
        ("company", "company", "client"),
        ("client", "client", "contract"),
        ("contract", "signed", "event"),
    ],
)
def test_deleting_a_row_still_referenced_is_refused(world, table, key, referenced_by):
    refusal, wording = restrict_refusal(world.db.server)
    with pytest.raises(refusal, match=wording) as info:
        world.as_("manager").run(f"delete from {table} where id = %s", (world.ids[key],))
    assert type(info.value) is refusal
    # The CLI's line (epic_events/errors.py) is the same whichever version refused.
    assert app_errors.from_database(info.value).message == (
        f"this {table} is still referenced by {referenced_by} rows: {app_errors.STILL_REFERENCED[table]}"
    )
    assert info.value.diag.table_name == referenced_by
    assert info.value.diag.constraint_name == f"{referenced_by}_{table}_id_fkey"
    assert (
        admin_value(world.db, f"select count(*) from epic_events.{table} where id = %s", (world.ids[key],))
        == 1
    )


# --- the last active manager ------------------------------------------------------------------------

LAST_MANAGER_CHANGES = {
    "deactivated": "update employee set is_active = false where id = %(manager)s",
    "moved to sales": "update employee set department = 'sales' where id = %(manager)s",
    "deleted": "delete from employee where id = %(manager)s",
}


@pytest.mark.parametrize("change", LAST_MANAGER_CHANGES)
def test_the_last_active_manager_cannot_be_removed(world, change):
    manager = world.as_("manager")
    # With two managers, the other one may go ...
    assert manager.count("update employee set is_active = false where id = %(manager2)s", world.ids) == 1
    # ... but not the last one, whoever asks.
    with pytest.raises(errors.CheckViolation) as info:
        manager.run(LAST_MANAGER_CHANGES[change], world.ids)
    assert info.value.diag.constraint_name == "employee_keep_one_manager"
    with pytest.raises(errors.CheckViolation):
        admin_exec(
            world.db, LAST_MANAGER_CHANGES[change].replace("employee", "epic_events.employee", 1), world.ids
        )
    assert admin_one(
        world.db,
        "select department, is_active from epic_events.employee where id = %s",
        (world.ids["manager"],),
    ) == {"department": "management", "is_active": True}


def test_one_statement_cannot_remove_every_manager_at_once(world):
    # As a manager, the statement also reaches their own row (0016 refuses that).
    with pytest.raises((errors.CheckViolation, errors.InsufficientPrivilege)):
        world.as_("manager").run("update employee set is_active = false where department = 'management'")
    with pytest.raises(errors.CheckViolation):
        admin_exec(world.db, "delete from epic_events.employee where department = 'management'")
    assert (
        admin_value(
            world.db,
            "select count(*) from epic_events.employee where department = 'management' and is_active",
        )
        == 2
    )


def test_an_inactive_manager_may_be_moved_or_deleted(world):
    manager = world.as_("manager")
    manager.run("update employee set is_active = false where id = %(manager2)s", world.ids)
    assert manager.count("update employee set department = 'support' where id = %(manager2)s", world.ids) == 1
    assert manager.count("delete from employee where id = %(manager2)s", world.ids) == 1


# --- deactivation ----------------------------------------------------------------------------------


def test_deactivating_an_employee_revokes_their_sessions(world):
    sales = world.as_("sales")
    other = open_session(world.db, world.ids["sales"]).id
    sales2 = world.as_("sales2")
    assert (
        world.as_("manager").count("update employee set is_active = false where id = %(sales)s", world.ids)
        == 1
    )
    rows = admin_all(
        world.db,
        "select revoked_at, revoked_reason from epic_events.session where employee_id = %s",
        (world.ids["sales"],),
    )
    assert len(rows) == 2
    assert all(r["revoked_at"] and r["revoked_reason"] == "employee_deactivated" for r in rows)
    # Access stops at once, even on an open connection; other people are unaffected.
    assert sales.count("select id from client") == 0
    assert sales2.count("select id from client") == 2
    # Reactivating does not bring the old sessions back.
    world.as_("manager").run("update employee set is_active = true where id = %(sales)s", world.ids)
    assert sales.count("select id from client") == 0
    assert (
        admin_value(
            world.db,
            "select count(*) from epic_events.session where id = %s and revoked_at is null",
            (other,),
        )
        == 0
    )


# --- the audit log ----------------------------------------------------------------------------------


def audit_rows(db, table: str, row_id) -> list[dict]:
    return admin_all(
        db,
        "select * from epic_events.audit_log where table_name = %s and row_id = %s order by id",
        (table, str(row_id)),
    )


AUDITED = [
    # table, (who inserts, insert), (who updates, update, expected changes), (who deletes, delete)
    (
        "company",
        ("sales", "insert into company (name) values ('Audit Co') returning id"),
        (
            "manager",
            "update company set name = 'Audit Co 2' where id = %(id)s",
            lambda ids: {"name": {"old": "Audit Co", "new": "Audit Co 2"}},
        ),
        ("manager", "delete from company where id = %(id)s"),
    ),
    (
        "client",
        (
            "sales",
            "insert into client (full_name, email) values ('Aud It', 'audit@client.test') returning id",
        ),
        (
            "sales",
            "update client set phone = '+33611111111' where id = %(id)s",
            lambda ids: {"phone": {"old": None, "new": "+33611111111"}},
        ),
        ("manager", "delete from client where id = %(id)s"),
    ),
    (
        "contract",
        ("manager", "insert into contract (client_id, total_amount) values (%(client)s, 300) returning id"),
        (
            "sales",
            "update contract set total_amount = 500 where id = %(id)s",
            lambda ids: {"total_amount": {"old": 300, "new": 500}, "amount_due": {"old": 300, "new": 500}},
        ),
        ("manager", "delete from contract where id = %(id)s"),
    ),
    (
        "event",
        (
            "sales",
            "insert into event (contract_id, name, starts_at, ends_at, location, attendees)"
            " values (%(signed)s, 'Audit Party', '2027-01-01 20:00+00', '2027-01-01 23:00+00',"
            " 'Lille', 30) returning id",
        ),
        (
            "manager",
            "update event set support_contact_id = %(support)s where id = %(id)s",
            lambda ids: {"support_contact_id": {"old": None, "new": ids["support"]}},
        ),
        ("manager", "delete from event where id = %(id)s"),
    ),
    (
        "employee",
        (
            "manager",
            "insert into employee (full_name, email, department, password_salt,"
            " password_verifier) values ('Aud Itor', 'auditor@epic.test', 'sales',"
            " %(salt)s, %(verifier)s) returning id",
        ),
        (
            "manager",
            "update employee set department = 'support' where id = %(id)s",
            lambda ids: {"department": {"old": "sales", "new": "support"}},
        ),
        ("manager", "delete from employee where id = %(id)s"),
    ),
]


@pytest.mark.parametrize(("table", "insert", "update", "delete"), AUDITED, ids=[a[0] for a in AUDITED])
def test_the_audit_log_records_who_changed_what(world, table, insert, update, delete):
    params = dict(world.ids, salt=SALT, verifier=VERIFIER)
    who_ins, who_upd, who_del = insert[0], update[0], delete[0]
    row_id = world.as_(who_ins).one(insert[1], params)["id"]
    params["id"] = row_id
    assert world.as_(who_upd).count(update[1], params) == 1
    assert world.as_(who_del).count(delete[1], params) == 1

    ins, upd, dele = audit_rows(world.db, table, row_id)
    for entry, who, action in ((ins, who_ins, "insert"), (upd, who_upd, "update"), (dele, who_del, "delete")):
        assert entry["action"] == action
        assert entry["employee_id"] == world.ids[who]
        assert entry["db_role"] == ROLE[world.as_(who).department]
        assert entry["occurred_at"] is not None
    # insert: every column, new values; delete: every column, old values.
    assert ins["changes"]["id"] == {"new": row_id}
    assert dele["changes"]["id"] == {"old": row_id}
    assert set(ins["changes"]) == set(dele["changes"])
    assert all(set(v) == {"new"} for v in ins["changes"].values())
    assert all(set(v) == {"old"} for v in dele["changes"].values())
    # update: only the changed columns, old -> new (updated_at is not news).
    assert upd["changes"] == update[2](world.ids)


def test_the_audit_log_never_holds_a_password_salt_or_verifier(world):
    manager = world.as_("manager")
    other = bcrypt.hashpw(b"another password", bcrypt.gensalt(4)).decode()
    new_salt, new_verifier = other[:29], hashlib.sha256(other.encode()).digest()
    new = manager.one(
        "insert into employee (full_name, email, department, password_salt, password_verifier)"
        " values ('Pass Word', 'pw@epic.test', 'sales', %s, %s) returning id",
        (SALT, VERIFIER),
    )["id"]
    manager.run(
        "update employee set password_salt = %s, password_verifier = %s where id = %s",
        (new_salt, new_verifier, new),
    )
    manager.run(
        "update employee set password_salt = %s, password_verifier = %s, phone = '+33622222222'"
        " where id = %s",
        (SALT, VERIFIER, new),
    )
    manager.run("delete from employee where id = %s", (new,))
    entries = audit_rows(world.db, "employee", new)
    assert [e["action"] for e in entries] == ["insert", "update", "update", "delete"]
    assert entries[1]["changes"] == {"password": "changed"}
    assert entries[2]["changes"] == {"password": "changed", "phone": {"old": None, "new": "+33622222222"}}
    for entry in (entries[0], entries[3]):
        assert not {"password", "password_salt", "password_verifier"} & set(entry["changes"])
    everything = json.dumps(
        [e["changes"] for e in admin_all(world.db, "select changes from epic_events.audit_log")]
    )
    assert "password_salt" not in everything and "password_verifier" not in everything
    for secret in (SALT, new_salt):
        assert secret not in everything and secret[7:] not in everything
    for verifier in (VERIFIER, new_verifier):
        assert verifier.hex() not in everything


def test_role_grant_and_revoke_are_audited(world):
    manager = world.as_("manager")
    manager.run(
        "insert into department_permission (department, permission_code) values ('support', 'event:update')"
    )
    manager.run(
        "delete from department_permission where department = 'support' and permission_code = 'event:update'"
    )
    grant, revoke = audit_rows(world.db, "department_permission", "support/event:update")
    assert (grant["action"], revoke["action"]) == ("insert", "delete")
    assert grant["employee_id"] == revoke["employee_id"] == world.ids["manager"]
    assert grant["changes"]["permission_code"] == {"new": "event:update"}
    assert revoke["changes"]["department"] == {"old": "support"}


def test_a_client_reassignment_audits_the_client_and_each_contract_that_followed(world):
    world.as_("manager").run(
        "update client set sales_contact_id = %(sales2)s where id = %(client)s", world.ids
    )
    move = {"sales_contact_id": {"old": world.ids["sales"], "new": world.ids["sales2"]}}
    assert audit_rows(world.db, "client", world.ids["client"])[-1]["changes"] == move
    for key in ("contract", "signed"):
        entry = audit_rows(world.db, "contract", world.ids[key])[-1]
        assert entry["changes"] == move
        assert entry["employee_id"] == world.ids["manager"]


def test_an_update_that_changes_nothing_is_not_audited(world):
    manager = world.as_("manager")  # logged in first: a login is audited too
    before = admin_value(world.db, "select count(*) from epic_events.audit_log")
    assert manager.count("update company set name = name where id = %(company)s", world.ids) == 1
    assert admin_value(world.db, "select count(*) from epic_events.audit_log") == before


def test_changes_by_the_admin_are_audited_without_an_employee(world):
    admin_exec(
        world.db, "update epic_events.company set name = 'Admin Co' where id = %s", (world.ids["company"],)
    )
    entry = audit_rows(world.db, "company", world.ids["company"])[-1]
    assert entry["employee_id"] is None
    assert entry["db_role"] == admin_value(world.db, "select session_user")


@pytest.mark.parametrize(
    ("who", "department"), [("sales", "support"), ("sales", "management"), ("support", "sales")]
)
def test_a_contact_cannot_leave_their_department(world, who, department):
    with pytest.raises(psycopg.errors.CheckViolation) as refused:
        world.as_("manager").run(
            "update employee set department = %s where id = %s", (department, world.ids[who])
        )
    assert refused.value.diag.constraint_name == "employee_contacts_keep_department"


def test_a_former_contact_may_move_once_reassigned(world):
    manager = world.as_("manager")
    manager.run(
        "update event set support_contact_id = %(support2)s where support_contact_id = %(support)s", world.ids
    )
    manager.run("update employee set department = 'sales' where id = %(support)s", world.ids)
