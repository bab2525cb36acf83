"""Faults: the database goes away between two commands, or in the middle of one.

Whatever the moment, the CLI says so in one line and exits 6 ("database
unreachable"), with no traceback, and nothing of the interrupted command is
visible afterwards: each command is one transaction, so a command cut off
after some of its statements leaves no trace. Running it again then works.

- In the middle of a command, on the session's server: the backend of the
  command's connection is terminated (pg_terminate_backend from an admin
  connection) right after one of its statements, before the next one or the
  COMMIT; or, for a real `epic-events` process, from a thread that watches
  pg_stat_activity and strikes while the command waits inside its transaction.
- Stopping the server: a dedicated embedded PostgreSQL (its own data
  directory, not the session's server), stopped between two commands and
  during one; and killed with SIGKILL (a crash) after committed writes: started
  again, it has every committed row.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from epic_events import db as epic_db
from epic_events import embedded
from epic_events.cli.main import cli as root
from tests.cli.conftest import admin_one
from tests.db.helpers import ALL_TABLES, snapshot
from tests.world import PASSWORD

pytestmark = pytest.mark.slow

COMMAND = [sys.executable, "-c", "from epic_events.cli.main import main; main()"]


def assert_unreachable(result) -> None:
    """Exit 6, nothing on stdout, one line on stderr, no traceback."""
    code, out, err = (
        (result.exit_code, result.stdout, result.stderr) if hasattr(result, "exit_code") else result
    )
    assert code == 6, (code, out, err)
    assert out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error: database unreachable"), err
    assert "Traceback" not in err


class Killer:
    """Terminates the command's backend right after the named query ran: its next
    statement, or its COMMIT, finds the connection gone."""

    def __init__(self, admin_dsn: str, after: str, monkeypatch):
        self.admin_dsn, self.after = admin_dsn, after
        self.kills = 0
        self.monkeypatch = monkeypatch
        self.real_run = real_run = epic_db.Transaction.run
        killer = self

        def run(tx, dotted, params=None):
            result = real_run(tx, dotted, params)
            if dotted == killer.after and not killer.kills:
                killer.terminate(tx.conn)
            return result

        monkeypatch.setattr(epic_db.Transaction, "run", run)

    def terminate(self, conn) -> None:
        pid = conn.info.backend_pid
        with psycopg.connect(self.admin_dsn, autocommit=True) as admin:
            # With a timeout, pg_terminate_backend returns once the backend is gone.
            assert admin.execute("select pg_terminate_backend(%s, 10000)", (pid,)).fetchone()[0]
        self.kills += 1

    def disarm(self) -> None:
        self.monkeypatch.setattr(epic_db.Transaction, "run", self.real_run)


# who, command (world ids in braces), the query after which the backend dies, stdin
MID_COMMAND = [
    pytest.param(
        "sales",
        ["client", "create", "--name", "Kim Midway", "--email", "kim@mid.test", "--company", "Midway Co"],
        "company.create_company",
        None,
        id="client create: after creating its new company, before the client",
    ),
    pytest.param(
        "sales",
        ["client", "update", "{client}", "--name", "Renamed Midway", "--company", "Midway Co"],
        "client.update_client",
        None,
        id="client update: after the update, before reading it back",
    ),
    pytest.param(
        "manager",
        ["client", "reassign", "{client}", "{sales2}"],
        "client.reassign_client",
        None,
        id="client reassign: after the client and its contracts moved",
    ),
    pytest.param(
        "sales",
        ["contract", "sign", "{contract}", "--yes"],
        "contract.sign_contract",
        None,
        id="contract sign: after the signature",
    ),
    pytest.param(
        "sales",
        ["contract", "update", "{contract}", "--pay", "100"],
        "contract.record_payment",
        None,
        id="contract update --pay: after the payment",
    ),
    pytest.param(
        "sales",
        ["contract", "pay", "{contract}", "--amount", "100", "--method", "cash"],
        "contract.record_payment",
        None,
        id="contract pay: after the payment",
    ),
    pytest.param(
        "manager",
        ["contract", "create", "--client", "{client}", "--total", "500"],
        "contract.create_contract",
        None,
        id="contract create: after the insert",
    ),
    pytest.param(
        "manager",
        ["contract", "reassign", "{contract}", "{sales2}"],
        "contract.reassign_contract",
        None,
        id="contract reassign: after the update",
    ),
    pytest.param(
        "sales",
        [
            "event",
            "create",
            "--contract",
            "{signed}",
            "--name",
            "Midway Gala",
            "--start",
            "01/07/2027 18:00",
            "--end",
            "01/07/2027 23:00",
            "--location",
            "Lyon",
            "--attendees",
            "20",
        ],
        "event.create_event",
        None,
        id="event create: after the insert",
    ),
    pytest.param(
        "support",
        ["event", "update", "{event}", "--notes", "cut off"],
        "event.update_event",
        None,
        id="event update: after the update",
    ),
    pytest.param(
        "manager",
        ["event", "assign-support", "{event_unassigned}", "{support2}"],
        "event.assign_support",
        None,
        id="event assign-support: after the update",
    ),
    pytest.param(
        "manager",
        ["event", "delete", "{event}", "--yes"],
        "event.delete_event",
        None,
        id="event delete: after the delete, at COMMIT",
    ),
    pytest.param(
        "manager",
        [
            "employee",
            "create",
            "--name",
            "Mid Way",
            "--email",
            "midway@epic.test",
            "--department",
            "support",
            "--password-stdin",
        ],
        "employee.create_employee",
        "a fine new password\n",
        id="employee create: after the insert",
    ),
    pytest.param(
        "manager",
        ["employee", "deactivate", "{support2}", "--yes"],
        "employee.set_employee_active",
        None,
        id="employee deactivate: after the update (and its sessions revoked)",
    ),
    pytest.param(
        "manager",
        ["employee", "deactivate", "{support2}", "--reassign-to", "{support}"],
        "employee.offboard_employee",
        None,
        id="employee deactivate --reassign-to: after the handover and the deactivation",
    ),
    pytest.param(
        "sales",
        ["company", "create", "--name", "Midway Co"],
        "company.create_company",
        None,
        id="company create: after the insert",
    ),
    pytest.param(
        "manager",
        ["role", "grant", "sales", "event:create"],
        "role.grant_permission",
        None,
        id="role grant: after the insert, at COMMIT",
    ),
    pytest.param(
        None,
        ["login", "--email", "sam@epic.test", "--password-stdin"],
        "session.login_result",
        PASSWORD + "\n",
        id="login: after opening the session, at COMMIT",
    ),
    pytest.param("sales", ["refresh"], "session.refresh", None, id="refresh: after the rotation, at COMMIT"),
]


@pytest.mark.parametrize("who, args, after, stdin", MID_COMMAND)
def test_a_command_cut_off_midway_exits_6_and_leaves_nothing(cli, monkeypatch, who, args, after, stdin):
    world = cli.world
    if who:
        cli.login(who)
    tokens_before = _token_files()
    args = [a.format(**world.ids) for a in args]
    # A login's attempt is committed before its verdict is asked (0015): that
    # record is meant to outlive the cut; nothing else may.
    tables = [t for t in ALL_TABLES if not (after == "session.login_result" and t == "audit_log")]
    before = snapshot(world.db, *tables)

    killer = Killer(world.db.admin_dsn, after, monkeypatch)
    result = cli(*args, input=stdin)
    assert killer.kills == 1, f"{after} never ran"
    assert_unreachable(result)
    assert snapshot(world.db, *tables) == before, "the interrupted command left a partial write"
    assert _token_files() == tokens_before  # nor did it touch the stored tokens

    killer.disarm()  # the database answers again: the same command now works
    again = cli(*args, input=stdin)
    assert again.exit_code == 0, again.stderr


def _token_files() -> dict[str, str]:
    state = Path(os.environ["XDG_STATE_HOME"])
    return {p.name: p.read_text() for p in sorted(state.rglob("tokens-*.json"))}


def test_a_real_process_killed_while_it_waits_inside_its_transaction(cli):
    """A watcher thread finds the command's connection in pg_stat_activity, waiting on
    a row lock after it created a company, and terminates it there."""
    world = cli.world
    cli.login("sales")
    client_id = world.ids["client"]
    before = snapshot(world.db, *ALL_TABLES)
    holder = psycopg.connect(world.db.admin_dsn)  # holds the client's row lock, in a transaction
    holder.execute("select id from epic_events.client where id = %s for update", (client_id,))
    struck = {}

    def watch():
        with psycopg.connect(world.db.admin_dsn, autocommit=True) as admin:
            for _ in range(600):
                row = admin.execute(
                    "select pid, state, wait_event_type from pg_stat_activity"
                    " where datname = current_database() and application_name = 'epic-events'"
                    "   and wait_event_type = 'Lock'"
                ).fetchone()
                if row:
                    struck["pid"] = row[0]
                    admin.execute("select pg_terminate_backend(%s, 10000)", (row[0],))
                    return
                time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    done = subprocess.run(
        COMMAND + ["client", "update", str(client_id), "--company", "Waited Co", "--name", "Never Renamed"],
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    watcher.join(30)
    holder.rollback()
    holder.close()
    assert "pid" in struck, "the command never waited on the lock"
    assert_unreachable((done.returncode, done.stdout, done.stderr))
    assert snapshot(world.db, *ALL_TABLES) == before
    assert admin_one(world, "select count(*) from epic_events.company where name = 'Waited Co'") == (0,)


# --- a dedicated embedded server: stopped, and crashed -----------------------------------------

BOSS, BOSS_PASSWORD = "boss@faults.test", "a long enough password"


@pytest.fixture
def own_server(monkeypatch):
    """An embedded PostgreSQL of this test's own (see tests/cli/test_embedded.py for why
    it lives outside pytest's tmp_path), stopped and removed afterwards."""
    base = tempfile.mkdtemp(prefix="epic-faults-")
    os.chmod(base, 0o755)
    monkeypatch.setenv("XDG_DATA_HOME", base)
    yield base
    embedded.stop()
    shutil.rmtree(base, ignore_errors=True)


def invoke(*args, input=None):
    return CliRunner().invoke(root, [str(a) for a in args], input=input, catch_exceptions=False)


def _company_names() -> list[str]:
    r = invoke("company", "list", "--format", "json")
    assert r.exit_code == 0, r.stderr
    return sorted(c["name"] for c in json.loads(r.stdout))


def _bootstrap_and_login():
    r = invoke(
        "db",
        "bootstrap",
        "--email",
        BOSS,
        "--name",
        "Bea Boss",
        "--password-stdin",
        input=BOSS_PASSWORD + "\n",
    )
    assert r.exit_code == 0, r.stderr
    r = invoke("login", "--email", BOSS, "--password-stdin", input=BOSS_PASSWORD + "\n")
    assert r.exit_code == 0, r.stderr


def test_a_configured_server_that_stopped_between_two_commands(own_server, monkeypatch):
    embedded.start()
    monkeypatch.setenv("DATABASE_URL", embedded.app_dsn())
    monkeypatch.setenv("EPIC_EVENTS_ADMIN_DSN", embedded.admin_dsn())
    _bootstrap_and_login()
    assert invoke("company", "create", "--name", "Kept Co").exit_code == 0

    assert embedded.stop()
    for args, stdin in (
        (["company", "list"], None),
        (["company", "create", "--name", "Lost Co"], None),
        (["whoami"], None),
        (["contract", "list", "--unpaid"], None),
        (["login", "--email", BOSS, "--password-stdin"], BOSS_PASSWORD + "\n"),
        (["logout"], None),
        (["db", "migrate"], None),
    ):
        assert_unreachable(invoke(*args, input=stdin))
    status = invoke("db", "status")  # says where the database is, then that it cannot be reached
    assert status.exit_code == 6 and status.stderr.startswith("error: database unreachable")
    assert len(status.stderr.splitlines()) == 1 and "Traceback" not in status.stderr

    embedded.start()
    # The failed logout still forgot the tokens here (they may not outlive a logout): log in again.
    r = invoke("login", "--email", BOSS, "--password-stdin", input=BOSS_PASSWORD + "\n")
    assert r.exit_code == 0, r.stderr
    assert _company_names() == ["Kept Co"]


def test_a_server_stopped_while_a_command_waits_inside_its_transaction(own_server, monkeypatch):
    """`client update --company NEW` creates the company, then waits on the client's row
    lock (held by an admin); the server is stopped (fast shutdown) right then."""
    embedded.start()
    admin_dsn = embedded.admin_dsn()
    monkeypatch.setenv("DATABASE_URL", embedded.app_dsn())
    monkeypatch.setenv("EPIC_EVENTS_ADMIN_DSN", admin_dsn)
    _bootstrap_and_login()
    r = invoke(
        "employee",
        "create",
        "--name",
        "Sam Sales",
        "--email",
        "sam@faults.test",
        "--department",
        "sales",
        "--password-stdin",
        "--format",
        "json",
        input="another long password\n",
    )
    assert r.exit_code == 0, r.stderr
    r = invoke(
        "client",
        "create",
        "--name",
        "Kim Client",
        "--email",
        "kim@faults.test",
        "--sales-contact",
        json.loads(r.stdout)["id"],
        "--format",
        "json",
    )
    assert r.exit_code == 0, r.stderr
    client_id = json.loads(r.stdout)["id"]
    holder = psycopg.connect(admin_dsn)
    holder.execute("select id from epic_events.client where id = %s for update", (client_id,))
    stopped = {}

    def stop_when_waiting():
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            for _ in range(600):
                if admin.execute(
                    "select 1 from pg_stat_activity where application_name = 'epic-events'"
                    " and wait_event_type = 'Lock'"
                ).fetchone():
                    break
                time.sleep(0.02)
            else:
                return
        stopped["ok"] = embedded.stop()  # fast shutdown: every session is terminated

    stopper = threading.Thread(target=stop_when_waiting)
    stopper.start()
    done = subprocess.run(
        COMMAND + ["client", "update", str(client_id), "--company", "Midway Co", "--name", "Never Renamed"],
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    stopper.join(60)
    try:
        holder.close()
    except psycopg.Error:
        pass
    assert stopped.get("ok"), "the command never waited on the lock"
    assert_unreachable((done.returncode, done.stdout, done.stderr))

    embedded.start()
    assert _company_names() == []
    r = invoke("client", "view", client_id, "--format", "json")
    assert r.exit_code == 0 and json.loads(r.stdout)["full_name"] == "Kim Client"


def test_after_a_crash_the_restarted_server_keeps_every_committed_row(own_server, monkeypatch):
    """Nothing configured: the embedded server as a new user has it. SIGKILL its
    postmaster after committed writes, start it again (a new process, as a user would):
    every committed row is there."""
    _bootstrap_and_login()  # starts, migrates, creates the first manager
    names = [f"Committed {i}" for i in range(5)]
    for name in names:
        assert invoke("company", "create", "--name", name).exit_code == 0
    listed_before = invoke("company", "list", "--format", "json").stdout

    pid = embedded.running().pid
    os.kill(pid, signal.SIGKILL)
    for _ in range(200):  # the postmaster and, after it, its children go away
        if not Path(f"/proc/{pid}").exists():
            break
        time.sleep(0.05)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    restarted = subprocess.run(
        COMMAND + ["db", "start"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert restarted.returncode == 0, restarted.stderr
    assert embedded.running().pid != pid

    assert _company_names() == sorted(names)
    assert invoke("company", "list", "--format", "json").stdout == listed_before
    r = invoke("whoami", "--format", "json")  # the session survived the crash too
    assert r.exit_code == 0, r.stderr
