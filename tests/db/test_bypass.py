"""Ways around the rules, tried in SQL: every one must see nothing and change nothing.

The CLI's claims (role, epic.employee_id, epic.session_id) are only claims: the
database believes them only for a live session of that employee, active, in the
role of their department. Here we connect as epic_authenticator (as the CLI
does) and forge, replay or drop those claims.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import psycopg
import pytest
from psycopg import errors

from tests.db.helpers import (
    ALL_TABLES, BUSINESS_TABLES, admin_exec, admin_value, authenticator, open_session,
    run_with_claims, snapshot,
)
from tests.world import _HASH

DEPARTMENT_ROLES = ("epic_management", "epic_sales", "epic_support")
#: Tables every logged-in employee reads; forged claims must read none of them.
READABLE = BUSINESS_TABLES + ("department", "permission", "department_permission")

#: Statements that change one row for an honest manager; with forged claims
#: each must change nothing.
WRITES = [
    "update employee set phone = '+33700000009' where id = %(support2)s",
    "update company set name = 'Hijacked' where id = %(company)s",
    "update client set phone = '+33700000009' where id = %(client2)s",
    "update contract set total_amount = 900 where id = %(contract2)s",
    "update contract set is_signed = true where id = %(contract)s",
    "update event set support_contact_id = %(support)s where id = %(event_unassigned)s",
    "delete from event where id = %(event_unassigned)s",
    "delete from department_permission where department = 'sales'",
]
INSERTS = [
    "insert into company (name) values ('Forged Ltd')",
    # sales_contact_id defaults to current_employee_id(): NULL here, so RLS decides.
    "insert into client (full_name, email) values ('F', 'f@client.test')",
    "insert into department_permission (department, permission_code) values ('support', 'event:update')",
    # recorded_by defaults to current_employee_id(): NULL here, so RLS refuses.
    "insert into payment (contract_id, amount, method) values (%(contract2)s, 10, 'cash')",
    "insert into payment (contract_id, amount, method) values (%(contract2)s, -10, 'cash')",
    "insert into client_note (client_id, kind, body) values (%(client2)s, 'call', 'forged')",
    "insert into employee (full_name, email, department, password_hash)"
    " values ('Mallory', 'mallory@epic.test', 'management', %(hash)s)",
]


def forged_claims(world, scenario):
    """(role, employee_id, session_id) for each way of lying about who one is."""
    ids = world.ids
    if scenario.startswith("no claims as "):
        return "epic_" + scenario.removeprefix("no claims as "), None, None
    if scenario == "employee id but no session":
        return "epic_management", ids["manager"], None
    if scenario == "random session id":
        return "epic_management", ids["manager"], uuid.uuid4()
    session, _ = open_session(world.db, ids["manager"])
    if scenario == "revoked session (logout)":
        with authenticator(world.db) as conn:
            assert conn.execute("select epic_events.auth_revoke_session(%s, false)",
                                (session,)).fetchone()[0] == 1
        return "epic_management", ids["manager"], session
    if scenario == "expired session":
        expired, _ = open_session(world.db, ids["manager"], expires=timedelta(seconds=-1))
        return "epic_management", ids["manager"], expired
    if scenario == "another employee's session":
        other, _ = open_session(world.db, ids["manager2"])
        return "epic_management", ids["manager"], other
    if scenario == "session of a deactivated employee":
        admin_exec(world.db, "update epic_events.employee set is_active = false where id = %s",
                   (ids["manager"],))
        return "epic_management", ids["manager"], session
    if scenario == "deactivated employee, session not revoked":
        # Defence in depth: even if a session escaped revocation, is_active cuts access.
        admin_exec(world.db, "update epic_events.employee set is_active = false where id = %s",
                   (ids["manager"],))
        admin_exec(world.db, "update epic_events.session set revoked_at = null, revoked_reason = null"
                             " where id = %s", (session,))
        return "epic_management", ids["manager"], session
    if scenario == "employee moved to another department":
        admin_exec(world.db, "update epic_events.employee set department = 'sales' where id = %s",
                   (ids["manager"],))
        return "epic_management", ids["manager"], session
    if scenario == "malformed session id":
        return "epic_management", ids["manager"], f"{session}' or true --"
    if scenario == "empty session id":
        return "epic_management", ids["manager"], ""
    if scenario == "malformed employee id":
        return "epic_management", f"{ids['manager']} or 1=1", session
    if scenario == "negative employee id":
        return "epic_management", f"-{ids['manager']}", session
    if scenario == "employee id out of range":
        return "epic_management", "9" * 30, session
    if scenario == "sales employee claiming management's role":
        sales_session, _ = open_session(world.db, ids["sales"])
        return "epic_management", ids["sales"], sales_session
    if scenario == "support employee claiming sales's role":
        support_session, _ = open_session(world.db, ids["support"])
        return "epic_sales", ids["support"], support_session
    raise AssertionError(scenario)


SCENARIOS = [
    "no claims as management", "no claims as sales", "no claims as support",
    "employee id but no session", "random session id", "revoked session (logout)", "expired session", "another employee's session", "session of a deactivated employee",
    "deactivated employee, session not revoked", "employee moved to another department",
    "malformed session id", "empty session id", "malformed employee id",
    "negative employee id", "employee id out of range", "sales employee claiming management's role",
    "support employee claiming sales's role",
]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_forged_claims_see_nothing_and_change_nothing(world, scenario):
    role, employee_id, session_id = forged_claims(world, scenario)
    params = dict(world.ids, hash=_HASH)
    before = snapshot(world.db, *BUSINESS_TABLES, "department_permission", "audit_log")
    with authenticator(world.db) as conn:
        def run(statement):
            return run_with_claims(conn, statement, params, role=role,
                                   employee_id=employee_id, session_id=session_id)

        assert run("select epic_events.current_employee_id()")[0] == [(None,)]
        for table in READABLE:
            rows, _ = run(f"select {'id' if table in BUSINESS_TABLES else '1'} from {table}")
            assert rows == [], f"{table} is visible with {scenario}"
        if role == "epic_management":
            assert run("select id from audit_log")[0] == []
        for statement in WRITES:
            if role == "epic_management":  # within its grants: RLS alone must stop them
                assert run(statement)[1] == 0, statement
                continue
            try:
                assert run(statement)[1] == 0, statement
            except errors.InsufficientPrivilege:
                pass  # above this role's SQL grants: refused outright
        for statement in INSERTS:
            with pytest.raises(errors.InsufficientPrivilege):
                run(statement)
    assert snapshot(world.db, *BUSINESS_TABLES, "department_permission", "audit_log") == before


def test_the_same_claims_with_a_live_session_do_see_and_change(world):
    """The control for the test above: an honest manager's claims work."""
    session, _ = open_session(world.db, world.ids["manager"])
    with authenticator(world.db) as conn:
        rows, _ = run_with_claims(conn, "select id from client", role="epic_management",
                                  employee_id=world.ids["manager"], session_id=session)
        assert len(rows) == 2
        for statement in WRITES:
            _, affected = run_with_claims(conn, statement, world.ids, role="epic_management",
                                          employee_id=world.ids["manager"], session_id=session)
            assert affected >= 1, statement


# --- the authenticator on its own ---------------------------------------------------

#: A column of each table, to write an UPDATE that parses.
A_COLUMN = {"department": "name", "permission": "code", "department_permission": "granted_at",
            "audit_log": "occurred_at", "session": "expires_at", "session_token": "expires_at",
            "payment": "recorded_at", "client_note": "noted_at"}


@pytest.mark.parametrize("table", ALL_TABLES)
@pytest.mark.parametrize("statement", [
    "select * from {t}",
    "select count(*) from {t}",
    "insert into {t} default values",
    "update {t} set {c} = {c}",
    "delete from {t}",
    "truncate {t}",
])
def test_the_authenticator_without_a_department_role_is_refused_everywhere(db, table, statement):
    with authenticator(db) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute(statement.format(t=table, c=A_COLUMN.get(table, "updated_at")))


def test_the_authenticator_alone_is_nobody_even_with_a_live_sessions_claims(world):
    """current_employee_id() is callable by the authenticator (the CLI asks it in the
    same round trip that sets the role, 0002) but answers NULL without the department
    role; has_permission() is not callable at all."""
    manager = world.as_("manager")
    with authenticator(world.db) as conn:
        rows, _ = run_with_claims(conn, "select epic_events.current_employee_id()", role=None,
                                  employee_id=manager.employee_id, session_id=manager.session_id)
        assert rows == [(None,)]
        with pytest.raises(errors.InsufficientPrivilege):
            run_with_claims(conn, "select epic_events.has_permission('client:delete')", role=None,
                            employee_id=manager.employee_id, session_id=manager.session_id)


@pytest.mark.parametrize("target", ["epic_owner", "the admin"])
def test_the_authenticator_cannot_become_the_owner_or_an_admin(db, target):
    if target == "the admin":
        target = admin_value(db, "select quote_ident(current_user)")
    with authenticator(db) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute(f"set role {target}")


def test_the_authenticator_inherits_nothing_from_the_department_roles(db):
    with psycopg.connect(db.admin_dsn, autocommit=True) as conn:
        row = conn.execute("select rolinherit, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls"
                           " from pg_roles where rolname = 'epic_authenticator'").fetchone()
    assert row == (False, False, False, False, False)
    with authenticator(db) as conn:
        # Member of the departments, but without SET ROLE none of their grants apply.
        assert conn.execute("select pg_has_role('epic_sales', 'member')").fetchone()[0]
        assert not conn.execute("select has_table_privilege('epic_events.client', 'select')").fetchone()[0]


@pytest.mark.parametrize("role", DEPARTMENT_ROLES)
def test_a_department_role_cannot_become_the_owner(db, role):
    with authenticator(db) as conn, pytest.raises(errors.InsufficientPrivilege):
        run_with_claims(conn, "set local role epic_owner", role=role)


# --- RLS cannot be switched off --------------------------------------------------------

@pytest.mark.parametrize("role", (None,) + DEPARTMENT_ROLES)
@pytest.mark.parametrize("change", ["disable row level security", "no force row level security",
                                    "disable trigger all", "owner to epic_authenticator"])
def test_nobody_but_the_owner_alters_a_table(world, role, change):
    who = "manager" if role in (None, "epic_management") else "sales"
    actor = world.as_(who)
    with authenticator(world.db) as conn:
        for table in ALL_TABLES:
            with pytest.raises(errors.InsufficientPrivilege, match="must be owner"):
                run_with_claims(conn, f"alter table epic_events.{table} {change}", role=role,
                                employee_id=actor.employee_id, session_id=actor.session_id)


@pytest.mark.parametrize("role", DEPARTMENT_ROLES)
def test_a_department_role_cannot_create_objects_or_drop_policies(db, role):
    with authenticator(db) as conn:
        for statement in ("create table epic_events.shadow (id int)",
                          "create table public.shadow (id int)",
                          "create function epic_events.f() returns int language sql as 'select 1'",
                          "drop policy client_read on epic_events.client",
                          "create policy sneak on epic_events.client using (true)",
                          "grant select on epic_events.session to epic_sales"):
            with pytest.raises(errors.InsufficientPrivilege):
                run_with_claims(conn, statement, role=role)


def test_every_table_has_row_level_security_enabled_and_forced(db):
    with psycopg.connect(db.admin_dsn) as conn:
        rows = conn.execute(
            "select relname, relrowsecurity, relforcerowsecurity from pg_class"
            " where relnamespace = 'epic_events'::regnamespace and relkind = 'r'").fetchall()
    assert {r[0] for r in rows} == set(ALL_TABLES)
    assert all(r[1] and r[2] for r in rows), rows


def test_security_definer_functions_pin_their_search_path(db):
    with psycopg.connect(db.admin_dsn) as conn:
        rows = conn.execute(
            "select p.oid::regprocedure::text, p.proconfig from pg_proc p"
            " where p.pronamespace = 'epic_events'::regnamespace and p.prosecdef").fetchall()
    assert rows
    for name, config in rows:
        assert config and any(c.startswith("search_path=pg_catalog") for c in config), name


def test_no_function_of_the_schema_is_executable_by_public(db):
    with psycopg.connect(db.admin_dsn) as conn:
        rows = conn.execute(
            "select p.oid::regprocedure::text from pg_proc p"
            " where p.pronamespace = 'epic_events'::regnamespace"
            "   and p.proowner = 'epic_owner'::regrole"
            "   and has_function_privilege('public', p.oid, 'execute')").fetchall()
    # pg_trgm's functions belong to the extension (the admin's), not to epic_owner.
    assert rows == []


# --- the audit log is append-only ---------------------------------------------------------

AUDIT_WRITES = [
    "insert into audit_log (db_role, table_name, row_id, action, changes)"
    " values ('epic_sales', 'client', '1', 'delete', '{}')",
    "update audit_log set employee_id = null",
    "delete from audit_log",
    "truncate audit_log",
]


@pytest.mark.parametrize("who", ["manager", "sales", "support"])
@pytest.mark.parametrize("statement", AUDIT_WRITES)
def test_no_department_writes_the_audit_log(world, who, statement):
    before = snapshot(world.db, "audit_log")
    with pytest.raises(errors.InsufficientPrivilege):
        world.as_(who).run(statement)
    assert snapshot(world.db, "audit_log") == before


@pytest.mark.parametrize("statement", AUDIT_WRITES[1:])
def test_not_even_the_admin_rewrites_the_audit_log(world, statement):
    before = snapshot(world.db, "audit_log")
    assert before["audit_log"]
    with pytest.raises(errors.InsufficientPrivilege, match="append-only"):
        admin_exec(world.db, f"{statement.replace('audit_log', 'epic_events.audit_log', 1)}")
    assert snapshot(world.db, "audit_log") == before


# --- functions meant for someone else ---------------------------------------------------------

AUTH_CALLS = [
    "select * from epic_events.auth_find_employee('mona@epic.test')",
    "select epic_events.auth_open_session(gen_random_uuid(), %(manager)s, sha256('x'), now() + interval '1 day')",
    "select * from epic_events.auth_rotate_session(sha256('x'), sha256('y'), now() + interval '1 day')",
    "select epic_events.auth_revoke_session(gen_random_uuid(), true)",
]


@pytest.mark.parametrize("who", ["manager", "sales", "support"])
@pytest.mark.parametrize("call", AUTH_CALLS)
def test_department_roles_cannot_execute_the_auth_functions(world, who, call):
    with pytest.raises(errors.InsufficientPrivilege, match="permission denied for function"):
        world.as_(who).run(call, world.ids)


BOOTSTRAP = "select epic_events.bootstrap_manager('Eve', 'eve@epic.test', null, %s)"


@pytest.mark.parametrize("role", (None,) + DEPARTMENT_ROLES)
def test_only_the_admin_may_bootstrap_the_first_manager(db, role):
    """On a fresh database (no manager yet), neither the CLI's login nor a department may."""
    with authenticator(db) as conn, pytest.raises(errors.InsufficientPrivilege,
                                                  match="permission denied for function"):
        run_with_claims(conn, BOOTSTRAP, (_HASH,), role=role)
    assert admin_value(db, "select count(*) from epic_events.employee") == 0
    # The admin may, once.
    assert admin_value(db, BOOTSTRAP, (_HASH,)) is not None
    with pytest.raises(errors.UniqueViolation, match="already exists"):
        admin_value(db, BOOTSTRAP.replace("eve@", "eve2@"), (_HASH,))


@pytest.mark.parametrize("who", ["manager", "sales", "support"])
@pytest.mark.parametrize("table", ["session", "session_token"])
def test_department_roles_cannot_read_sessions(world, who, table):
    with pytest.raises(errors.InsufficientPrivilege):
        world.as_(who).run(f"select * from {table}")
