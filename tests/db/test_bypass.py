"""Ways around the rules that test_attacks.py does not try: every one is refused.

The forged-identity matrix that lived here (forged, replayed or dropped claims)
has its successor in tests/security/test_attacks.py::test_no_valid_token_no_identity.
Here: the authenticator alone touches no table, nobody but the owner alters a
table or switches RLS off, no department creates objects, every table has RLS
enabled and forced, the audit log is append-only, no function is PUBLIC's, and
only the admin bootstraps the first manager.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors

from tests.db.helpers import (
    ALL_TABLES,
    SECRET_TABLES,
    admin_all,
    admin_value,
    authenticator,
    run_as,
    snapshot,
)
from tests.world import SALT, VERIFIER, login

DEPARTMENT_ROLES = ("epic_management", "epic_sales", "epic_support")


# --- the authenticator on its own ---------------------------------------------------

#: A column of each table, to write an UPDATE that parses.
A_COLUMN = {
    "department": "name",
    "permission": "code",
    "department_permission": "granted_at",
    "audit_log": "occurred_at",
    "session": "expires_at",
    "session_token": "expires_at",
    "signing_key": "kid",
    "auth_secret": "purpose",
    "login_attempt": "attempted_at",
    "payment": "amount",
    "client_note": "body",
}


@pytest.mark.parametrize("table", ALL_TABLES + SECRET_TABLES)
@pytest.mark.parametrize(
    "statement",
    [
        "select * from epic_events.{t}",
        "select count(*) from epic_events.{t}",
        "insert into epic_events.{t} default values",
        "update epic_events.{t} set {c} = {c}",
        "delete from epic_events.{t}",
        "truncate epic_events.{t}",
    ],
)
def test_the_authenticator_without_a_department_role_is_refused_everywhere(db, table, statement):
    with authenticator(db) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute(statement.format(t=table, c=A_COLUMN.get(table, "updated_at")))


def test_the_authenticator_inherits_nothing_from_the_department_roles(db):
    with psycopg.connect(db.admin_dsn, autocommit=True) as conn:
        row = conn.execute(
            "select rolinherit, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls"
            " from pg_roles where rolname = 'epic_authenticator'"
        ).fetchone()
    assert row == (False, False, False, False, False)
    with authenticator(db) as conn:
        # Member of the departments, but without SET ROLE none of their grants apply.
        assert conn.execute("select pg_has_role('epic_sales', 'member')").fetchone()[0]
        assert not conn.execute("select has_table_privilege('epic_events.client', 'select')").fetchone()[0]


@pytest.mark.parametrize("role", DEPARTMENT_ROLES)
@pytest.mark.parametrize("target", ["epic_owner", "the admin"])
def test_a_department_role_cannot_become_the_owner_or_the_admin(world, role, target):
    """From inside a live request too (test_attacks.py tries the authenticator alone)."""
    actor = world.as_({"epic_management": "manager", "epic_sales": "sales", "epic_support": "support"}[role])
    if target == "the admin":
        target = admin_value(world.db, "select quote_ident(current_user)")
    with authenticator(world.db) as conn, pytest.raises(errors.InsufficientPrivilege):
        run_as(conn, f"set local role {target}", role=role, token=actor.access_token)


# --- RLS cannot be switched off --------------------------------------------------------


@pytest.mark.parametrize("role", (None,) + DEPARTMENT_ROLES)
@pytest.mark.parametrize(
    "change",
    [
        "disable row level security",
        "no force row level security",
        "disable trigger all",
        "owner to epic_authenticator",
    ],
)
def test_nobody_but_the_owner_alters_a_table(world, role, change):
    actor = world.as_(
        "manager" if role in (None, "epic_management") else "sales" if role == "epic_sales" else "support"
    )
    with authenticator(world.db) as conn:
        for table in ALL_TABLES + SECRET_TABLES:
            with pytest.raises(errors.InsufficientPrivilege, match="must be owner"):
                run_as(
                    conn,
                    f"alter table epic_events.{table} {change}",
                    role=role,
                    token=actor.access_token if role else None,
                )


@pytest.mark.parametrize("role", DEPARTMENT_ROLES)
def test_a_department_role_cannot_create_objects_or_drop_policies(db, role):
    with authenticator(db) as conn:
        for statement in (
            "create table epic_events.shadow (id int)",
            "create table public.shadow (id int)",
            "create function epic_events.f() returns int language sql as 'select 1'",
            "create sequence epic_events.request_shadow",
            "drop policy client_read on epic_events.client",
            "drop policy signing_key_by_definer on epic_events.signing_key",
            "create policy sneak on epic_events.client using (true)",
            "create policy sneak on epic_events.signing_key using (true)",
            "grant select on epic_events.session to epic_sales",
            "grant select on epic_events.signing_key to epic_sales",
            "grant usage on sequence epic_events.request_employee to epic_sales",
        ):
            with pytest.raises(errors.InsufficientPrivilege):
                run_as(conn, statement, role=role)


def test_every_table_has_row_level_security_enabled_and_forced(db):
    with psycopg.connect(db.admin_dsn) as conn:
        rows = conn.execute(
            "select relname, relrowsecurity, relforcerowsecurity from pg_class"
            " where relnamespace = 'epic_events'::regnamespace and relkind in ('r', 'p')"
        ).fetchall()
    assert {r[0] for r in rows} == set(ALL_TABLES + SECRET_TABLES)
    assert all(r[1] and r[2] for r in rows), rows


def test_the_secret_tables_grant_nothing_and_admit_only_the_owner(db):
    """signing_key, auth_secret and login_attempt: no privilege for anyone but their owner,
    and each policy names epic_owner alone."""
    grants = admin_all(
        db,
        "select c.relname, a.grantee::regrole::text as grantee, a.privilege_type"
        "  from pg_class c, aclexplode(c.relacl) a"
        " where c.relnamespace = 'epic_events'::regnamespace and c.relname = any(%s)"
        "   and a.grantee <> c.relowner",
        (list(SECRET_TABLES),),
    )
    assert grants == []
    policies = admin_all(
        db,
        "select tablename, roles from pg_policies where schemaname = 'epic_events' and tablename = any(%s)",
        (list(SECRET_TABLES),),
    )
    assert sorted(p["tablename"] for p in policies) == sorted(SECRET_TABLES)
    assert all(p["roles"] == ["epic_owner"] for p in policies), policies


def test_no_function_of_the_schema_is_executable_by_public(db):
    with psycopg.connect(db.admin_dsn) as conn:
        rows = conn.execute(
            "select p.oid::regprocedure::text from pg_proc p"
            " where p.pronamespace = 'epic_events'::regnamespace"
            "   and p.proowner = 'epic_owner'::regrole"
            "   and has_function_privilege('public', p.oid, 'execute')"
        ).fetchall()
    # pg_trgm's functions belong to the extension (the admin's), not to epic_owner.
    assert rows == []


# --- the audit log is append-only ---------------------------------------------------------

AUDIT_WRITES = [
    "insert into audit_log (db_role, table_name, row_id, action, changes)"
    " values ('epic_sales', 'client', '1', 'delete', '{}')",
    "insert into audit_log (db_role, table_name, row_id, action, changes)"
    " values ('epic_authenticator', 'session', 'x', 'login', '{}')",
    "update audit_log set employee_id = null",
    "delete from audit_log",
    "delete from audit_log where table_name = 'session'",
    "truncate audit_log",
]


@pytest.mark.parametrize("who", ["manager", "sales", "support"])
@pytest.mark.parametrize("statement", AUDIT_WRITES)
def test_no_department_writes_the_audit_log(world, who, statement):
    actor = world.as_(who)  # logged in first: the login is audited too
    before = snapshot(world.db, "audit_log")
    with pytest.raises(errors.InsufficientPrivilege):
        actor.run(statement)
    assert snapshot(world.db, "audit_log") == before


@pytest.mark.parametrize("statement", [w for w in AUDIT_WRITES if not w.startswith("insert")])
def test_not_even_the_admin_rewrites_the_audit_log(world, statement):
    world.as_("sales")  # a login: an authentication event to rewrite as well
    before = snapshot(world.db, "audit_log")
    assert {"insert", "login"} <= {r.split('"action": "')[1].split('"')[0] for r in before["audit_log"]}
    with pytest.raises(errors.InsufficientPrivilege, match="append-only"):
        admin_value(world.db, statement.replace("audit_log", "epic_events.audit_log", 1))
    assert snapshot(world.db, "audit_log") == before


# --- the first manager ---------------------------------------------------------------------

BOOTSTRAP = "select epic_events.bootstrap_manager('Eve', 'eve@epic.test', null, %s, %s)"


@pytest.mark.parametrize("role", (None,) + DEPARTMENT_ROLES)
def test_only_the_admin_may_bootstrap_the_first_manager(db, role):
    """On a fresh database (no manager yet), neither the CLI's login nor a department may."""
    with (
        authenticator(db) as conn,
        pytest.raises(errors.InsufficientPrivilege, match="permission denied for function"),
    ):
        run_as(conn, BOOTSTRAP, (SALT, VERIFIER), role=role)
    assert admin_value(db, "select count(*) from epic_events.employee") == 0
    # The admin may, once; the new manager logs in with that password.
    new_id = admin_value(db, BOOTSTRAP, (SALT, VERIFIER))
    assert new_id is not None
    with pytest.raises(errors.UniqueViolation, match="already exists"):
        admin_value(db, BOOTSTRAP.replace("eve@", "eve2@"), (SALT, VERIFIER))
    with authenticator(db) as conn:
        row = login(conn, "eve@epic.test")
    assert (row["status"], row["employee_id"], row["department"]) == ("ok", new_id, "management")


@pytest.mark.parametrize(
    ("salt", "verifier", "constraint"),
    [
        ("not a salt", VERIFIER, "employee_password_salt_is_bcrypt"),
        (SALT, b"short", "employee_password_verifier_is_sha256"),
    ],
)
def test_bootstrap_checks_the_salt_and_verifier(db, salt, verifier, constraint):
    with pytest.raises(errors.CheckViolation) as info:
        admin_value(db, BOOTSTRAP, (salt, verifier))
    assert info.value.diag.constraint_name == constraint
