"""No owner code through pg_temp (PostgreSQL's "Writing SECURITY DEFINER Functions Safely").

An insider with the shared DSN creates, in their own pg_temp, types and
relations named like the ones the schema's functions use, each checking a
probe that reports who runs it. Then they call every function their roles may
execute and fire every trigger. If any function resolved a name in pg_temp
before pg_catalog or epic_events, the probe would run inside it, and inside a
SECURITY DEFINER function that means as epic_owner: game over.

TEMP is revoked from PUBLIC on the database (0015), so an insider cannot even
create these objects; this test grants TEMP to the authenticator on purpose,
to check the second line of defence (every function's search_path) alone.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from tests.db.helpers import ALL_TABLES, admin_all, admin_exec

#: Types the functions declare, cast to or compare with.
SHADOWED_TYPES = (
    "text",
    "regclass",
    "uuid",
    "jsonb",
    "bytea",
    "int8",
    "int4",
    "numeric",
    "timestamptz",
    "boolean",
    "bigint",
    "integer",
    "name",
    "oid",
    "date",
)
ROLES = ("epic_authenticator", "epic_management", "epic_sales", "epic_support")
TABLES = ALL_TABLES + ("signing_key", "auth_secret", "login_failure")


def plant_probes(conn: psycopg.Connection) -> None:
    """The attacker's pg_temp: a probe, domains over the built-in types, look-alike relations."""
    conn.execute("""
        create function pg_temp.probe(v anyelement) returns boolean language plpgsql as $$
        begin
            raise notice 'PROBE ran as %', current_user;
            return true;
        end $$""")
    conn.execute(
        "create function pg_temp.probe_row() returns boolean language sql as $$ select pg_temp.probe(1) $$"
    )
    for t in SHADOWED_TYPES:
        base = {"bigint": "int8", "integer": "int4", "boolean": "bool"}.get(t, t)
        conn.execute(
            sql.SQL("create domain pg_temp.{} as pg_catalog.{} check (pg_temp.probe(value))").format(
                sql.Identifier(t), sql.Identifier(base)
            )
        )
    for table in TABLES:
        conn.execute(
            sql.SQL(
                "create temp view {} as select * from pg_catalog.pg_class where pg_temp.probe_row()"
            ).format(sql.Identifier(table))
        )
    conn.commit()


def probes(conn: psycopg.Connection) -> list[str]:
    notices: list[str] = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
    return notices


def executable_functions(db) -> list[dict]:
    """Every function in epic_events one of the insider's roles may execute."""
    return admin_all(
        db,
        """
        select p.oid::regprocedure::text as signature, p.proname,
               array(select format_type(t, null) from unnest(p.proargtypes) t) as args,
               array(select r from unnest(%s::text[]) r
                      where has_function_privilege(r, p.oid, 'execute')) as roles
          from pg_proc p
         where p.pronamespace = 'epic_events'::regnamespace
           and p.prorettype <> 'trigger'::regtype
           and not exists (select from pg_depend d where d.classid = 'pg_proc'::regclass
                            and d.objid = p.oid and d.deptype = 'e')
         order by 1""",
        (list(ROLES),),
    )


@pytest.fixture
def insider(world):
    """A manager's own connection (the shared DSN and their login), with TEMP granted."""
    admin_exec(world.db, f'grant temporary on database "{world.db.name}" to epic_authenticator')
    actor = world.as_("manager")
    plant_probes(actor.conn)
    return actor


def test_the_probe_works_where_nothing_is_pinned(insider):
    """The probe is real: in the insider's own statement (no pinned path) it runs."""
    notices = probes(insider.conn)
    insider.conn.execute("select 'x'::text")
    insider.conn.rollback()
    assert any("PROBE ran as epic_authenticator" in n for n in notices)


def test_no_function_runs_the_probe_as_the_owner(world, insider):
    notices = probes(insider.conn)
    functions = executable_functions(world.db)
    assert functions, "no executable function found"
    called = []
    for f in functions:
        for role in f["roles"]:
            args = sql.SQL(", ").join(
                sql.SQL("null::pg_catalog.{}").format(sql.SQL(a))
                if a.isidentifier()
                else sql.SQL("null::{}").format(sql.SQL(a))
                for a in f["args"]
            )
            stmt = sql.SQL("select epic_events.{}({})").format(sql.Identifier(f["proname"]), args)
            try:
                with insider.conn.transaction():
                    if role != "epic_authenticator":
                        insider.conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
                    insider.conn.execute(stmt)
            except psycopg.Error:
                pass  # refusing the call is fine; running the probe is not
            called.append((f["signature"], role))
    insider.conn.rollback()
    assert called
    owner_runs = [n for n in notices if "as epic_owner" in n]
    assert not owner_runs, f"owner code ran from pg_temp: {owner_runs[:3]}"


#: One statement per trigger-bearing table, each firing its BEFORE/AFTER triggers
#: (qualified: the insider's own look-alikes come first in their own search_path).
TRIGGER_FIRES = [
    "update epic_events.employee set phone = '+33700000001' where id = %(support2)s",
    "update epic_events.company set name = name || ' SA' where id = %(company)s",
    "update epic_events.client set phone = '+33700000002' where id = %(client)s",
    "update epic_events.contract set amount_due = amount_due where id = %(contract)s",
    "update epic_events.contract set is_signed = true where id = %(contract)s",
    "update epic_events.client set sales_contact_id = %(sales2)s where id = %(client)s",
    "update epic_events.event set support_contact_id = %(support2)s where id = %(event)s",
    "insert into epic_events.company (name) values ('Probe Ltd')",
    "delete from epic_events.event where id = %(event_unassigned)s",
    "update epic_events.employee set is_active = false where id = %(support2)s",
    "delete from epic_events.department_permission where department = 'support' and permission_code = 'event:update:assigned'",
]


def test_the_login_flow_runs_no_probe_as_the_owner(world, insider):
    """The same, with real arguments: every branch of login, refresh, request, password change."""
    import bcrypt

    from tests.security.insider import request
    from tests.world import login

    notices = probes(insider.conn)
    c = insider.conn
    assert login(c, "sam@epic.test", "wrong password")["status"] == "failed"
    assert login(c, "nobody@epic.test")["status"] == "failed"
    row = login(c, "sam@epic.test")
    assert row["status"] == "ok"
    refreshed = c.execute(
        "select status, access_token from epic_events.auth_refresh(%s)", (row["refresh_token"],)
    ).fetchone()
    assert refreshed[0] == "ok"
    assert c.execute(
        "select status from epic_events.auth_refresh(%s)", (row["refresh_token"],)
    ).fetchone() == ("replayed",)
    c.commit()
    row = login(c, "sam@epic.test")
    assert request(c, "epic_sales", row["access_token"])
    c.execute("select count(*) from epic_events.client")
    new = bcrypt.hashpw(b"another password", bcrypt.gensalt(4))
    import hashlib

    c.execute(
        "select epic_events.change_own_password(%s, %s)", (new[:29].decode(), hashlib.sha256(new).digest())
    )
    c.commit()
    c.execute("select epic_events.auth_logout(%s, true)", (row["refresh_token"],))
    c.commit()
    for _ in range(6):
        login(c, "stan@epic.test", "wrong password")  # failures, then the lockout branch
    owner_runs = [n for n in notices if "as epic_owner" in n]
    assert not owner_runs, f"owner code ran from pg_temp: {owner_runs[:3]}"


def test_no_trigger_runs_the_probe_as_the_owner(world, insider):
    notices = probes(insider.conn)
    fired = 0
    for statement in TRIGGER_FIRES:
        try:
            insider.run(statement, world.ids)
            fired += 1
        except psycopg.Error as exc:
            print(statement, exc)
    assert fired >= len(TRIGGER_FIRES) - 1, "the manager could not fire the triggers"
    owner_runs = [n for n in notices if "as epic_owner" in n]
    assert not owner_runs, f"owner code ran from pg_temp: {owner_runs[:3]}"


def test_every_function_pins_pg_temp_last(world):
    rows = admin_all(
        world.db,
        """
        select p.oid::regprocedure::text as f, coalesce(array_to_string(p.proconfig, ','), '') as config
          from pg_proc p
         where p.pronamespace = 'epic_events'::regnamespace
           -- pg_trgm's C functions (0008) are the extension's, and resolve no names
           and not exists (select from pg_depend d where d.classid = 'pg_proc'::regclass
                            and d.objid = p.oid and d.deptype = 'e')
         order by 1""",
    )
    bad = [r for r in rows if "search_path=pg_catalog, epic_events, pg_temp" not in r["config"]]
    assert not bad, bad


def test_public_has_no_temp_on_the_database(world):
    with psycopg.connect(world.db.app_dsn) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("create temp table t (x int)")
