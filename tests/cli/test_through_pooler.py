"""Issue 15, item 2: the CLI through PgBouncer in transaction mode.

DATABASE_URL points at PgBouncer (tests/pooler.py: Debian's pgbouncer, one
server connection per database and user, so that every command of every
employee runs on the same backend). The end-to-end core: login, refresh, a
list, an update refused and one allowed, logout, and a deactivation that cuts
a logged-in employee off. Skipped, with the reason, where PgBouncer cannot be
installed.
"""

from __future__ import annotations

import psycopg
import pytest

from tests import pooler as pgbouncer
from tests.cli.conftest import admin_one
from tests.cli.test_tokens_store import token_store
from tests.world import PASSWORD


@pytest.fixture
def pooler(pg_server, db, world):
    yield from pgbouncer.fixture(pg_server, db)


@pytest.fixture
def via_pooler(cli, pooler, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", pooler.app_dsn())
    return cli


def test_the_core_of_the_cli_through_pgbouncer(via_pooler, pooler, world):
    cli = via_pooler
    # login, then a list as sales: their own clients only, through RLS.
    cli.login("sales")
    assert cli.json("whoami")["id"] == world.ids["sales"]
    clients = cli.json("client", "list", "--mine")
    assert [c["id"] for c in clients] == [world.ids["client"]]
    # refresh rotates the tokens, and the new ones work.
    before = token_store().load()
    r = cli("refresh")
    assert r.exit_code == 0, r.stderr
    assert token_store().load()["refresh"] != before["refresh"]
    # support: an update refused (not their event), one allowed (theirs).
    cli.login("support")
    r = cli("event", "update", world.ids["event2"], "--attendees", "1")
    assert r.exit_code == 3 and "event:update:assigned" in r.stderr
    assert admin_one(
        world, "select attendees from epic_events.event where id = %s", (world.ids["event2"],)
    ) == (50,)
    updated = cli.json("event", "update", world.ids["event"], "--attendees", "80")
    assert updated["attendees"] == 80
    # logout: every command is refused after it.
    assert cli("logout").exit_code == 0
    assert cli("whoami").exit_code == 2
    # All of it went through PgBouncer, on its one server connection, and no
    # command left a server-side prepared statement there (psycopg prepares a
    # statement run 5 times on one connection; PgBouncer 1.18 would hand it to
    # another client's transaction): the CLI runs a few statements per command.
    assert len(pooler.admin_console()) == 1
    with psycopg.connect(pooler.app_dsn(), prepare_threshold=None) as conn:
        assert conn.execute("select count(*) from pg_prepared_statements").fetchone() == (0,)


def test_deactivation_bites_through_pgbouncer(via_pooler, world):
    cli = via_pooler
    cli.login("sales")
    assert cli.json("client", "list", "--mine")
    with world.db.admin() as conn:
        conn.execute("update epic_events.employee set is_active = false where id = %s", (world.ids["sales"],))
    r = cli("client", "list")
    assert r.exit_code == 2 and "your session was closed" in r.stderr
    r = cli("login", "--email", "sam@epic.test", "--password-stdin", input=PASSWORD + "\n")
    assert r.exit_code == 2 and "this account is deactivated" in r.stderr
