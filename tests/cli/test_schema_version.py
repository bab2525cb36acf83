"""A CLI and a schema of different versions: exit 6, both named, and what to run (0024)."""

from __future__ import annotations

import pytest

from epic_events import db
from tests.cli.conftest import admin_one


def _pretend(cli, version: str) -> None:
    """The schema answers `version` (as if yoyo had recorded it)."""
    with cli.world.db.admin() as conn:
        conn.execute("begin")
        conn.execute("set local role epic_owner")
        conn.execute(
            "create or replace function epic_events.schema_version() returns text"
            " language sql stable security definer"
            " set search_path = pg_catalog, epic_events, pg_temp"
            f" as $$ select '{version}'::text $$"
        )
        conn.execute("commit")


def test_the_schema_tells_the_newest_migration_yoyo_applied(cli):
    assert admin_one(cli.world, "select epic_events.schema_version()")[0] == db.expected_schema()
    newest = admin_one(cli.world, "select max(migration_id) from _yoyo_migration")[0]
    assert newest == db.expected_schema()


def test_a_schema_behind_is_exit_6_naming_both_and_db_migrate(cli):
    cli.login("sales")
    _pretend(cli, "0019_client_notes")
    r = cli("client", "list")
    assert r.exit_code == 6
    assert r.stderr == (
        "error: the database schema is behind this epic-events: the database is at "
        f"0019_client_notes, this epic-events needs {db.expected_schema()}: "
        "an admin runs `epic-events db migrate`\n"
    )


def test_a_schema_ahead_is_exit_6_asking_for_a_newer_cli(cli):
    cli.login("sales")
    _pretend(cli, "9999_from_the_future")
    r = cli("client", "list")
    assert r.exit_code == 6
    assert "the database is at 9999_from_the_future" in r.stderr
    assert f"this epic-events was built for {db.expected_schema()}: upgrade epic-events" in r.stderr


def test_login_checks_the_schema_first(cli):
    _pretend(cli, "9999_from_the_future")
    r = cli("login", "--email", "sam@epic.test", "--password-stdin", input="whatever\n")
    assert r.exit_code == 6 and "upgrade epic-events" in r.stderr
    # Nothing was attempted: no login attempt recorded for that email.
    assert (
        admin_one(
            cli.world,
            "select count(*) from epic_events.audit_log"
            " where table_name = 'session' and row_id = 'sam@epic.test'",
        )[0]
        == 0
    )


@pytest.mark.parametrize("command", [("client", "list"), ("whoami",)])
def test_a_schema_older_than_the_version_function_is_behind_not_an_internal_error(cli, command):
    """What an older schema did before: exit 70, "function … does not exist"."""
    cli.login("sales")
    from epic_events.paths import MIGRATIONS_DIR

    since = [
        p
        for p in MIGRATIONS_DIR.glob("*.sql")
        if not p.name.endswith(".rollback.sql") and p.stem >= db.VERSIONED_SINCE
    ]
    # 0024 (and any later one) goes: no schema_version() any more.
    r = cli("db", "rollback", "--count", len(since), "--yes")
    assert r.exit_code == 0, r.stderr
    r = cli(*command)
    assert r.exit_code == 6
    assert r.stderr == (
        "error: the database schema is behind this epic-events: the database is at a migration "
        f"older than 0024_schema_version, this epic-events needs {db.expected_schema()}: "
        "an admin runs `epic-events db migrate`\n"
    )
    r = cli("login", "--email", "sam@epic.test", "--password-stdin", input="x\n")
    assert r.exit_code == 6 and "an admin runs `epic-events db migrate`" in r.stderr

    assert cli("db", "migrate").exit_code == 0
    cli.login("sales")
    assert cli(*command, "--format", "json").exit_code == 0
