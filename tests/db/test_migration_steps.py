"""Each migration, one step at a time: its rollback leaves nothing behind, and it re-runs.

tests/db/test_migrations.py runs the whole chain up and down. Here, in a fresh
database, for every migration N: with 1..N-1 applied, snapshot the catalog of
this database; apply N; roll N back and compare (not an object, grant, policy,
trigger or default privilege more or less, nor one changed); apply N again and
compare with its first application. A rollback that forgets something a later
one happens to clean up (a `drop ... cascade`, a `drop schema`) is caught here.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql
from yoyo import get_backend, read_migrations

from epic_events import migrations
from epic_events.paths import MIGRATIONS_DIR
from tests import pg

NOT_OURS = "('pg_catalog', 'information_schema', 'pg_toast')"
THIS_DATABASE = "(select oid from pg_database where datname = current_database())"

# Everything a migration may create or change in one database, by name (never
# by OID, which a re-run changes), with its definition, owner and grants.
CATALOG = {
    "schemas": "select nspname, nspowner::regrole::text, nspacl::text from pg_namespace"
    " where nspname not like 'pg\\_%' and nspname <> 'information_schema'",
    "relations": "select c.oid::regclass::text, c.relkind::text, c.relowner::regrole::text, c.relacl::text,"
    " c.relrowsecurity, c.relforcerowsecurity, c.reloptions::text,"
    " obj_description(c.oid, 'pg_class')"
    " from pg_class c join pg_namespace n on n.oid = c.relnamespace"
    f" where n.nspname not in {NOT_OURS} and c.relname !~ 'yoyo'",
    "columns": "select a.attrelid::regclass::text, a.attname, format_type(a.atttypid, a.atttypmod),"
    " a.attnotnull, a.attidentity::text, a.attgenerated::text, a.attacl::text,"
    " pg_get_expr(d.adbin, d.adrelid), col_description(a.attrelid, a.attnum)"
    " from pg_attribute a join pg_class c on c.oid = a.attrelid"
    " join pg_namespace n on n.oid = c.relnamespace"
    " left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum"
    f" where n.nspname not in {NOT_OURS} and c.relname !~ 'yoyo'"
    " and a.attnum > 0 and not a.attisdropped",
    "constraints": "select conrelid::regclass::text, contypid::regtype::text, conname,"
    " pg_get_constraintdef(c.oid)"
    " from pg_constraint c join pg_namespace n on n.oid = c.connamespace"
    f" where n.nspname not in {NOT_OURS} and conname !~ 'yoyo'",
    "indexes": "select indexrelid::regclass::text, pg_get_indexdef(indexrelid) from pg_index i"
    " join pg_class c on c.oid = i.indexrelid join pg_namespace n on n.oid = c.relnamespace"
    f" where n.nspname not in {NOT_OURS} and c.relname !~ 'yoyo'",
    "functions": "select p.oid::regprocedure::text, p.proowner::regrole::text, p.proacl::text,"
    " p.prosecdef, p.provolatile::text, p.proconfig::text, md5(p.prosrc),"
    " obj_description(p.oid, 'pg_proc')"
    " from pg_proc p join pg_namespace n on n.oid = p.pronamespace"
    f" where n.nspname not in {NOT_OURS}",
    "types": "select t.oid::regtype::text, t.typowner::regrole::text, t.typacl::text from pg_type t"
    " join pg_namespace n on n.oid = t.typnamespace"
    f" where n.nspname not in {NOT_OURS} and t.typname !~ 'yoyo'",
    "policies": "select polrelid::regclass::text, polname, polcmd::text, polpermissive,"
    " array(select r::regrole::text from unnest(polroles) r order by 1)::text,"
    " pg_get_expr(polqual, polrelid), pg_get_expr(polwithcheck, polrelid) from pg_policy",
    "triggers": "select tgrelid::regclass::text, tgname, pg_get_triggerdef(oid), tgenabled::text"
    " from pg_trigger where not tgisinternal",
    "event triggers": "select evtname from pg_event_trigger",
    "extensions": "select extname, extnamespace::regnamespace::text, extversion from pg_extension",
    "default privileges": "select defaclrole::regrole::text, defaclnamespace::regnamespace::text,"
    " defaclobjtype::text, defaclacl::text from pg_default_acl",
    "sequences": "select seqrelid::regclass::text, seqtypid::regtype::text, seqstart, seqincrement"
    " from pg_sequence where seqrelid::regclass::text !~ 'yoyo'",
    "database grants": "select coalesce(datacl, acldefault('d', datdba))::text from pg_database"
    " where datname = current_database()",  # NULL means the default
    "role settings in this database": "select setrole::regrole::text, setconfig::text from pg_db_role_setting"
    f" where setdatabase = {THIS_DATABASE}",
    "shared dependencies": "select pg_describe_object(classid, objid, objsubid),"
    " refobjid::regrole::text, deptype::text from pg_shdepend"
    f" where dbid = {THIS_DATABASE} and refclassid = 'pg_authid'::regclass",
}

MIGRATION_IDS = [m.id for m in read_migrations(str(MIGRATIONS_DIR))]


# The permission codes are the policies' vocabulary: a migration may only seed
# one (0021, report:read), and its rollback must take it back.
PERMISSIONS = {
    "permission codes": "select code, description from epic_events.permission",
    "seeded rights": "select department, permission_code from epic_events.department_permission",
}


def catalog(dsn: str) -> dict[str, set]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        found = {part: set(conn.execute(query).fetchall()) for part, query in CATALOG.items()}
        seeded = conn.execute("select to_regclass('epic_events.department_permission')").fetchone()[0]
        for part, query in PERMISSIONS.items():
            found[part] = set(conn.execute(query).fetchall()) if seeded else set()
        return found


def apply_next(dsn: str) -> str:
    """Apply the first pending migration only; returns its id."""
    backend = get_backend(migrations.yoyo_uri(dsn))
    try:
        with backend.lock():
            step = backend.to_apply(read_migrations(str(MIGRATIONS_DIR)))[:1]
            backend.apply_migrations(step)
    finally:
        backend.connection.close()
    return step[0].id


def tables_in_schema(dsn: str) -> set[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return {
            r[0]
            for r in conn.execute(
                "select c.relname from pg_class c join pg_namespace n"
                " on n.oid = c.relnamespace where n.nspname = 'epic_events'"
                " and c.relkind in ('r', 'p')"
            )
        }


def differences(before: dict[str, set], after: dict[str, set]) -> dict[str, dict]:
    return {
        part: {"left behind or changed": after[part] - before[part], "missing": before[part] - after[part]}
        for part in (*CATALOG, *PERMISSIONS)
        if before[part] != after[part]
    }


@pytest.fixture
def empty_database(pg_server, template):  # template: the roles exist, as on a shared server
    name = f"epic_steps_{uuid.uuid4().hex[:8]}"
    with pg_server.admin() as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    yield pg_server.dsn(name)
    pg.drop(pg_server, name)


def test_each_rollback_restores_the_catalog_and_each_migration_reruns(empty_database):
    dsn = empty_database
    before = catalog(dsn)
    for expected_id in MIGRATION_IDS:
        assert apply_next(dsn) == expected_id
        applied = catalog(dsn)
        assert applied != before, f"{expected_id} changed nothing in the catalog"

        tables = tables_in_schema(dsn)
        assert migrations.rollback(dsn, 1) == [expected_id]
        assert differences(before, catalog(dsn)) == {}, f"rolling back {expected_id}"
        # What `db rollback` announces it drops is what went.
        announced = migrations.dropped_tables([expected_id], sorted(tables))
        assert sorted(announced) == sorted(tables - tables_in_schema(dsn)), expected_id

        assert apply_next(dsn) == expected_id
        assert differences(applied, catalog(dsn)) == {}, f"re-applying {expected_id}"
        before = applied
    assert migrations.pending(dsn) == []


def test_0026_says_which_accounts_keep_it_from_applying(empty_database):
    """A deployment whose accounts were set up with a bcrypt cost of 15 or more (the CLI
    accepted any cost before): 0026 stops with the count and what to do, not a bare
    check violation, and applies once those passwords are reset."""
    dsn = empty_database
    while apply_next(dsn) != "0025_cheaper_request_checks":
        pass
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "insert into epic_events.employee (full_name, email, department, password_salt, password_verifier)"
            " values ('Slow Salt', 'slow@epic.test', 'management', %s, sha256('x'))",
            ("$2b$15$" + "a" * 22,),
        )
    with pytest.raises(Exception) as raised:
        apply_next(dsn)
    assert "0026: 1 account(s) have a bcrypt cost outside 04-14" in str(raised.value)
    assert migrations.pending(dsn)[0] == "0026_shared_dsn_learns_less"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("update epic_events.employee set password_salt = %s", ("$2b$12$" + "a" * 22,))
    assert apply_next(dsn) == "0026_shared_dsn_learns_less"
