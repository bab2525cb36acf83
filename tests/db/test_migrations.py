"""The migration chain applies, rolls back to nothing and re-applies, on PostgreSQL 18 and 15.

The session's server (18; 15 in make test's second pass) gets a fresh, empty
database of its own.
PostgreSQL 15 is a throwaway cluster this module starts with Debian's binaries
(tests/pg.py: /usr/lib/postgresql/15/bin, or EPIC_EVENTS_TEST_PG15_BIN), skipped
with the reason when they are missing or the cluster cannot start.

"Nothing" is checked against the catalog as it was before the first migration:
no epic_events schema and no table, function, type, extension, default
privilege or policy left; yoyo's own bookkeeping tables are the only newcomers.
The roles are cluster-wide: the rollback keeps a role only while another
database of the server still uses it.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from epic_events import migrations
from epic_events.paths import MIGRATIONS_DIR
from tests import pg
from tests.world import World

ROLES = ("epic_owner", "epic_authenticator", "epic_management", "epic_sales", "epic_support")
MIGRATION_IDS = sorted(
    p.name.removesuffix(".sql")
    for p in Path(MIGRATIONS_DIR).glob("*.sql")
    if not p.name.endswith(".rollback.sql")
)
SYSTEM_SCHEMAS = "('pg_catalog', 'information_schema', 'pg_toast')"

CATALOG_QUERIES = {
    "schemas": "select nspname, nspowner::regrole::text, nspacl::text from pg_namespace"
    " where nspname not like 'pg\\_%' and nspname <> 'information_schema'",
    "relations": f"select n.nspname || '.' || c.relname, c.relkind::text from pg_class c"
    f" join pg_namespace n on n.oid = c.relnamespace"
    f" where n.nspname not in {SYSTEM_SCHEMAS} and c.relname !~ 'yoyo'",
    "functions": f"select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace"
    f" where n.nspname not in {SYSTEM_SCHEMAS}",
    "types": f"select n.nspname || '.' || t.typname from pg_type t join pg_namespace n on n.oid = t.typnamespace"
    f" where n.nspname not in {SYSTEM_SCHEMAS} and t.typname !~ 'yoyo'",
    "extensions": "select extname from pg_extension",
    "default privileges": "select defaclrole::regrole::text, defaclnamespace, defaclobjtype::text,"
    " defaclacl::text from pg_default_acl",
    "policies": "select polname from pg_policy",
    "triggers": "select tgname from pg_trigger where not tgisinternal",
    "event triggers": "select evtname from pg_event_trigger",
    # NULL means the default privileges: a revoke then a grant back spells them out.
    "database privileges": "select coalesce(datacl, acldefault('d', datdba))::text from pg_database"
    " where datname = current_database()",
    "role settings here": "select setrole::regrole::text, setconfig::text from pg_db_role_setting"
    " where setdatabase = (select oid from pg_database where datname = current_database())",
    "dependencies on roles here": "select pg_describe_object(classid, objid, objsubid), refobjid::regrole::text, deptype::text"
    " from pg_shdepend where dbid = (select oid from pg_database"
    " where datname = current_database()) and refclassid = 'pg_authid'::regclass"
    " and refobjid::regrole::text like 'epic\\_%'",
}


def catalog(dsn: str) -> dict[str, set]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return {name: set(conn.execute(query).fetchall()) for name, query in CATALOG_QUERIES.items()}


def existing_roles(dsn: str) -> set[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return {
            r[0] for r in conn.execute("select rolname from pg_roles where rolname = any(%s)", (list(ROLES),))
        }


def databases_using(dsn: str, role: str) -> set[str]:
    """Other databases of the server holding objects or grants of `role`."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return {
            r[0]
            for r in conn.execute(
                "select distinct d.datname from pg_shdepend s join pg_database d on d.oid = s.dbid"
                " where s.refclassid = 'pg_authid'::regclass and s.refobjid = %s::regrole"
                "   and d.datname <> current_database()",
                (role,),
            )
        }


def check_the_security_model_holds(server: pg.Server, name: str, password: str) -> None:
    """A few rules, under the department roles, on the freshly (re-)applied schema."""
    db = pg.Database(server, name, password)
    world = World.build(db)
    try:
        assert world.as_("sales").count("select id from client") == 2
        assert (
            world.as_("sales").count(
                "update client set phone = '+33700000000' where id = %(client2)s", world.ids
            )
            == 0
        )
        for column in ("password_salt", "password_verifier"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                world.as_("support").run(f"select {column} from employee")
        with pytest.raises(psycopg.errors.CheckViolation):
            world.as_("sales").run(
                "insert into event (contract_id, name, starts_at, ends_at, location,"
                " attendees) values (%(contract)s, 'x', now(), now() + interval '1 hour',"
                " 'x', 1)",
                world.ids,
            )
        with psycopg.connect(db.app_dsn) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select id from epic_events.client")
    finally:
        world.close()


def apply_rollback_reapply(server: pg.Server, password: str, *, others_use_the_roles: bool) -> None:
    """The whole cycle in a new database; the rollback runs with the world's rows still in it."""
    name = f"epic_migrations_{uuid.uuid4().hex[:8]}"
    with server.admin() as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    dsn = server.dsn(name)
    try:
        pristine = catalog(dsn)

        assert migrations.apply(dsn) == MIGRATION_IDS
        applied = catalog(dsn)
        assert ("epic_events",) in {s[:1] for s in applied["schemas"]}
        assert existing_roles(dsn) == set(ROLES)
        check_the_security_model_holds(server, name, password)

        assert migrations.rollback(dsn, None) == MIGRATION_IDS[::-1]
        after = catalog(dsn)
        for part in CATALOG_QUERIES:
            assert after[part] == pristine[part], f"rollback left {part}: {after[part] ^ pristine[part]}"
        assert migrations.pending(dsn) == MIGRATION_IDS
        kept = existing_roles(dsn)
        if others_use_the_roles:
            for role in kept:
                assert databases_using(dsn, role), f"{role} kept though no other database uses it"
        else:
            assert kept == set(), f"roles left behind: {kept}"

        assert migrations.apply(dsn) == MIGRATION_IDS
        assert catalog(dsn) == applied
        check_the_security_model_holds(server, name, password)
    finally:
        pg.drop(server, name)


def test_the_chain_applies_rolls_back_and_reapplies_on_the_session_server(pg_server, template):
    # The template and the tests' clones use the roles: the rollback must keep them.
    apply_rollback_reapply(pg_server, template[1], others_use_the_roles=True)


# --- PostgreSQL 15 ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg15():
    """A cluster of its own (tests/pg.py), even when the session's server is a 15 too:
    alone on its server, the rollback must drop the roles."""
    try:
        with pg.start_debian_cluster("15") as server:
            yield server
    except pg.Unavailable as exc:
        pytest.skip(str(exc))


def test_the_chain_applies_rolls_back_and_reapplies_on_postgresql_15(pg15):
    assert pg15.version.startswith("15")
    # Alone on its server, the rollback drops the roles too.
    apply_rollback_reapply(pg15, "", others_use_the_roles=False)  # trust: no password needed
