"""0016: clean text in every text column, one client per email, nobody removes themself.

Each rule is fed a bad value in SQL, by the department that may write the column
(through RLS, as the CLI does) and by the admin (constraints bind everyone).
Then the migration itself: applied to a database that already holds rows
breaking its rules, it stops and names each of them (table, id, column).
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import errors, sql
from yoyo import get_backend, read_migrations

from epic_events import migrations
from epic_events.cli.main import cli as root
from epic_events.errors import InvalidInput
from epic_events.paths import MIGRATIONS_DIR
from tests import pg
from tests.db.helpers import admin_exec, admin_one, admin_value
from tests.world import World

MIGRATION = "0016_text_and_self_guards"

# Spaces at either end (Unicode's, not only ASCII's) and control characters.
UNCLEAN = [
    "Lead ",
    " Lead",
    "Lead\u00a0",
    "\u3000Lead",
    "Lead\u2028",
    "Le\x1bad",
    "Lead\x1b]0;owned\x07",
    "Le\x85ad",
    "Le\tad",
    "Le\nad",
]
UNCLEAN_NOTES = ["Notes ", "\nNotes", "Notes\t", "No\x1b[2Jtes", "No\x07tes", "No\rtes", "No\x9btes"]

# (who may write it, statement with %(v)s and the world's ids, constraint)
BY_DEPARTMENT = {
    "employee full_name": (
        "manager",
        "update employee set full_name = %(v)s where id = %(support)s",
        "employee_full_name_clean",
    ),
    "employee email": (
        "manager",
        "update employee set email = 'x@epic.test' || %(v)s where id = %(support)s",
        "employee_email_clean",
    ),
    "company name": ("sales", "insert into company (name) values (%(v)s)", "company_name_clean"),
    "client full_name": (
        "sales",
        "insert into client (full_name, email) values (%(v)s, 'new@client.test')",
        "client_full_name_clean",
    ),
    "client email": (
        "sales",
        "update client set email = 'c@client.test' || %(v)s where id = %(client)s",
        "client_email_clean",
    ),
    "event name": ("support", "update event set name = %(v)s where id = %(event)s", "event_name_clean"),
    "event location": (
        "support",
        "update event set location = %(v)s where id = %(event)s",
        "event_location_clean",
    ),
}
# Columns no department writes: the admin only.
BY_ADMIN_ONLY = {
    "employee employee_number": (
        "update epic_events.employee set employee_number = %(v)s where id = %(support)s",
        "employee_employee_number_clean",
    ),
    "permission description": (
        "update epic_events.permission set description = %(v)s where code = 'event:delete'",
        "permission_description_clean",
    ),
}


def _as_admin(statement: str) -> str:
    for table in ("employee", "company", "client", "event"):
        statement = statement.replace(f"update {table} ", f"update epic_events.{table} ")
        statement = statement.replace(f"insert into {table} ", f"insert into epic_events.{table} ")
    return statement


def _unclean_for(column: str) -> list[str]:
    # An email's own check already refuses ASCII spaces and controls anywhere:
    # what only 0016 refuses there is a Unicode space at the end.
    return ["\u00a0", "\u3000", "\u2028"] if column.endswith("email") else UNCLEAN


@pytest.mark.parametrize("column", list(BY_DEPARTMENT))
def test_unclean_text_is_refused_under_the_department_that_writes_it(world, column):
    who, statement, constraint = BY_DEPARTMENT[column]
    for value in _unclean_for(column):
        with pytest.raises(errors.CheckViolation) as info:
            world.as_(who).run(statement, world.ids | {"v": value})
        assert info.value.diag.constraint_name in {constraint, constraint.replace("_clean", "_valid")}, value
    # The same statement with clean text goes through.
    clean = "" if column.endswith("email") else "Lead"
    assert world.as_(who).count(statement, world.ids | {"v": clean}) == 1


@pytest.mark.parametrize("column", list(BY_DEPARTMENT) + list(BY_ADMIN_ONLY))
def test_unclean_text_is_refused_as_admin(world, column):
    if column in BY_DEPARTMENT:
        statement, constraint = _as_admin(BY_DEPARTMENT[column][1]), BY_DEPARTMENT[column][2]
    else:
        statement, constraint = BY_ADMIN_ONLY[column]
    if "client_full_name" in constraint:
        statement = statement.replace("(full_name, email)", "(full_name, email, sales_contact_id)")
        statement = statement.replace("'new@client.test')", "'new@client.test', %(sales)s)")
    for value in _unclean_for(column):
        with pytest.raises(errors.CheckViolation) as info:
            admin_exec(world.db, statement, world.ids | {"v": value})
        assert info.value.diag.constraint_name in {constraint, constraint.replace("_clean", "_valid")}, value


def test_only_the_new_check_refuses_a_trailing_space_or_an_escape_in_a_location(world):
    """The checks before 0016 let these through: the new constraint is the one that refuses."""
    for value in ("Nice ", "Nice\x1b]0;owned\x07", "\u00a0Nice"):
        with pytest.raises(errors.CheckViolation) as info:
            world.as_("support").run(
                "update event set location = %(v)s where id = %(event)s", world.ids | {"v": value}
            )
        assert info.value.diag.constraint_name == "event_location_clean"


def test_notes_keep_tabs_and_line_breaks_inside_only(world):
    support = world.as_("support")
    update = "update event set notes = %(v)s where id = %(event)s"
    for value in UNCLEAN_NOTES:
        with pytest.raises(errors.CheckViolation) as info:
            support.run(update, world.ids | {"v": value})
        assert info.value.diag.constraint_name == "event_notes_clean", value
        with pytest.raises(errors.CheckViolation):
            admin_exec(
                world.db,
                "update epic_events.event set notes = %(v)s where id = %(event)s",
                world.ids | {"v": value},
            )
    kept = "Parking: 40 cars\n\tgate B\nBand at 21:00"
    assert support.count(update, world.ids | {"v": kept}) == 1
    assert (
        admin_value(world.db, "select notes from epic_events.event where id = %s", (world.ids["event"],))
        == kept
    )


def test_every_text_column_of_every_table_is_checked(world):
    """Each text column has a check constraint of its own, or references one that has;
    the audit log's, written by its trigger from the catalog and session_user, are the documented exception,
    and so is the email a login attempt typed (owner-only, kept as typed, for the throttle)."""
    unchecked = admin_value(
        world.db,
        """
        select coalesce(array_agg(c.relname || '.' || a.attname order by 1), '{}')
          from pg_attribute a
          join pg_class c on c.oid = a.attrelid
         where c.relnamespace = 'epic_events'::regnamespace and c.relkind = 'r'
           and a.attnum > 0 and not a.attisdropped
           and a.atttypid in ('text'::regtype, 'varchar'::regtype)
           and not exists (select from pg_constraint k
                            where k.conrelid = c.oid and k.contype in ('c', 'f')
                              and a.attnum = any (k.conkey))""",
    )
    assert set(unchecked) <= {
        "audit_log.db_role",
        "audit_log.login_role",
        "audit_log.table_name",
        "audit_log.row_id",
        "login_attempt.email_key",
    }


# --- one client per email --------------------------------------------------------------------


@pytest.mark.parametrize("email", ["CLIENT@client.test", "client@CLIENT.TEST", "Client@Client.Test"])
def test_client_email_is_unique_regardless_of_case(world, email):
    # World's first client is client@client.test.
    with pytest.raises(errors.UniqueViolation) as info:
        world.as_("sales").run("insert into client (full_name, email) values ('Twin', %s)", (email,))
    assert info.value.diag.constraint_name == "client_email_key"
    with pytest.raises(errors.UniqueViolation) as info:
        world.as_("manager").run(
            "update client set email = %(e)s where id = %(client2)s", world.ids | {"e": email}
        )
    assert info.value.diag.constraint_name == "client_email_key"
    with pytest.raises(errors.UniqueViolation):
        admin_exec(
            world.db,
            "insert into epic_events.client (full_name, email, sales_contact_id) values ('Twin', %s, %s)",
            (email, world.ids["sales"]),
        )
    # Changing the case of one's own email is no duplicate.
    assert (
        world.as_("sales").count(
            "update client set email = %(e)s where id = %(client)s", world.ids | {"e": email}
        )
        == 1
    )


# --- nobody deactivates, deletes or moves themself ----------------------------------------------

SELF_CHANGES = {
    "deactivate": "update employee set is_active = false where id = %(manager)s",
    "move to sales": "update employee set department = 'sales' where id = %(manager)s",
    "delete": "delete from employee where id = %(manager)s",
}


@pytest.mark.parametrize("change", list(SELF_CHANGES))
def test_a_manager_cannot_remove_themself(world, change):
    manager = world.as_("manager")
    with pytest.raises(errors.InsufficientPrivilege) as info:
        manager.run(SELF_CHANGES[change], world.ids)
    assert info.value.diag.constraint_name == "employee_not_self"
    assert "yourself" in info.value.diag.message_primary
    assert admin_one(
        world.db,
        "select department, is_active from epic_events.employee where id = %s",
        (world.ids["manager"],),
    ) == {"department": "management", "is_active": True}


@pytest.mark.parametrize("change", list(SELF_CHANGES))
def test_another_manager_or_the_admin_may(world, change):
    """The guard is about oneself: a colleague may, and so may the admin, who is no employee."""
    assert world.as_("manager2").count(SELF_CHANGES[change], world.ids) == 1


def test_the_admin_is_not_bound_by_the_self_guard(world):
    admin_exec(
        world.db, "update epic_events.employee set is_active = false where id = %(manager)s", world.ids
    )
    assert (
        admin_value(
            world.db, "select is_active from epic_events.employee where id = %s", (world.ids["manager"],)
        )
        is False
    )


def test_a_manager_may_still_update_their_own_name_and_phone(world):
    assert (
        world.as_("manager").count(
            "update employee set full_name = 'Mona M.', phone = '+33611223344' where id = %(manager)s",
            world.ids,
        )
        == 1
    )


# --- the migration, on a database that already breaks its rules ---------------------------------


def apply_until(dsn: str, stop: str) -> None:
    """Apply every migration before `stop` (whatever their number)."""
    backend = get_backend(migrations.yoyo_uri(dsn))
    try:
        with backend.lock():
            pending = backend.to_apply(read_migrations(str(MIGRATIONS_DIR)))
            backend.apply_migrations(pending[: sum(m.id < stop for m in pending)])
    finally:
        backend.connection.close()


@pytest.fixture
def before_0016(pg_server, template):
    name = f"epic_0016_{uuid.uuid4().hex[:8]}"
    with pg_server.admin() as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    apply_until(pg_server.dsn(name), MIGRATION)
    db = pg.Database(pg_server, name, template[1])
    world = World.build(db)
    yield db, world
    world.close()
    pg.drop(pg_server, name)


def test_the_migration_lists_the_rows_that_break_its_rules(before_0016, monkeypatch):
    db, world = before_0016
    ids = world.ids
    admin_exec(db, "update epic_events.company set name = name || ' ' where id = %(company)s", ids)
    admin_exec(
        db,
        "update epic_events.client set email = upper(%(e)s) where id = %(client2)s",
        ids | {"e": "client@client.test"},
    )
    admin_exec(
        db,
        "update epic_events.event set location = E'Lyon\\x1b]0;owned\\x07',"
        " notes = E'ok\\x1b[2J' where id = %(event)s",
        ids,
    )
    admin_exec(db, "update epic_events.employee set full_name = ' ' || full_name where id = %(sales)s", ids)

    # As a DBA sees it through the CLI: one line, exit 1 (invalid data), every row named.
    monkeypatch.setenv("EPIC_EVENTS_ADMIN_DSN", db.admin_dsn)
    done = CliRunner().invoke(root, ["db", "migrate"])
    assert done.exit_code == 1, done.output
    assert len(done.stderr.splitlines()) == 1 and "5 existing row(s) break its rules" in done.stderr
    assert f"company {ids['company']} name" in done.stderr and f"event {ids['event']} notes" in done.stderr

    # Through the Python API (what `db migrate` calls), the database's error is the cause.
    with pytest.raises(InvalidInput) as info:
        migrations.apply(db.admin_dsn)
    cause = info.value.__cause__
    assert isinstance(cause, psycopg.errors.CheckViolation)
    message, detail = cause.diag.message_primary, cause.diag.message_detail
    expected = [
        f"company {ids['company']} name",
        f"client {ids['client2']} email",
        f"event {ids['event']} location",
        f"event {ids['event']} notes",
        f"employee {ids['sales']} full_name",
    ]
    assert message.startswith(f"{MIGRATION}: 5 existing row(s) break its rules")
    for row in expected:
        assert row in message, row
        assert any(line.startswith(row) for line in detail.splitlines()), row
    assert f"(the same as client {ids['client']} but for case)" in message
    assert MIGRATION not in {m.id for m in migrations.status(db.admin_dsn) if m.applied}
    # Nothing of it stayed behind, the policies included.
    assert admin_value(db, "select count(*) from pg_class where relname = 'client_email_key'") == 0
    assert (
        admin_value(
            db,
            "select bool_and(relforcerowsecurity) from pg_class"
            " where relnamespace = 'epic_events'::regnamespace and relkind = 'r'",
        )
        is True
    )

    # Fixed, it applies.
    admin_exec(db, "update epic_events.company set name = btrim(name)")
    admin_exec(db, "update epic_events.client set email = 'other@client.test' where id = %(client2)s", ids)
    admin_exec(db, "update epic_events.event set location = 'Lyon', notes = 'ok' where id = %(event)s", ids)
    admin_exec(db, "update epic_events.employee set full_name = btrim(full_name)")
    assert MIGRATION in migrations.apply(db.admin_dsn)
    assert (
        admin_value(
            db,
            "select bool_and(relforcerowsecurity) from pg_class"
            " where relnamespace = 'epic_events'::regnamespace and relkind = 'r'",
        )
        is True
    )


def test_the_migration_applies_on_clean_data(before_0016):
    db, _ = before_0016
    assert MIGRATION in migrations.apply(db.admin_dsn)
