"""`make demo`'s loader, on an embedded server of its own."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile

import psycopg
import pytest
from click.testing import CliRunner

from epic_events import config, demo, embedded
from epic_events.cli.main import cli as root


@pytest.fixture
def demo_server(monkeypatch):
    base = tempfile.mkdtemp(prefix="epic-demo-test-")
    os.chmod(base, 0o755)  # see tests/cli/test_embedded.py
    monkeypatch.setenv("XDG_DATA_HOME", base)
    embedded.start()
    yield
    embedded.stop()
    shutil.rmtree(base, ignore_errors=True)


def counts() -> dict:
    with psycopg.connect(embedded.admin_dsn()) as conn:
        return conn.execute("""
            select (select count(*) from epic_events.employee) as employees,
                   (select count(*) from epic_events.employee where department = 'sales') as sales,
                   (select count(*) from epic_events.employee where department = 'support') as support,
                   (select count(*) from epic_events.company) as companies,
                   (select count(*) from epic_events.client) as clients,
                   (select count(*) from epic_events.contract where not is_signed) as unsigned,
                   (select count(*) from epic_events.contract where is_signed and amount_due = 0) as paid,
                   (select count(*) from epic_events.contract
                     where is_signed and amount_due > 0 and amount_due < total_amount) as partly_paid,
                   (select count(*) from epic_events.contract
                     where is_signed and amount_due = total_amount) as signed_unpaid,
                   (select count(*) from epic_events.event where starts_at < now()) as past_events,
                   (select count(*) from epic_events.event where starts_at >= now()) as upcoming_events,
                   (select count(*) from epic_events.event where support_contact_id is null) as unstaffed,
                   (select count(distinct employee_id) from epic_events.audit_log) as audited_authors,
                   (select count(*) from epic_events.payment where recorded_by is not null) as payments,
                   (select count(*) from epic_events.payment where amount < 0) as corrections,
                   (select count(distinct method) from epic_events.payment) as methods,
                   (select count(*) from epic_events.employee where not is_active) as leavers,
                   (select count(*) from epic_events.client c
                      join epic_events.employee e on e.id = c.sales_contact_id
                     where not e.is_active) as clients_of_leavers,
                   (select count(*) from epic_events.event v
                      join epic_events.employee e on e.id = v.support_contact_id
                     where not e.is_active and v.starts_at >= now()) as events_of_leavers,
                   (select count(*) from epic_events.client_note) as notes,
                   (select count(*) from epic_events.client
                     where last_contact_at < now() - interval '30 days') as stale
        """).fetchone()


def test_the_demo_loads_a_realistic_agency_through_the_commands_and_is_idempotent(demo_server):
    assert demo.load() is True
    (
        employees,
        sales,
        support,
        companies,
        clients,
        unsigned,
        paid,
        partly_paid,
        signed_unpaid,
        past,
        upcoming,
        unstaffed,
        authors,
        payments,
        corrections,
        methods,
        leavers,
        clients_of_leavers,
        events_of_leavers,
        notes,
        stale,
    ) = counts()
    assert (employees, sales, support) == (8, 3, 3)
    assert companies >= 15 and clients == 36
    assert min(unsigned, paid, partly_paid, signed_unpaid) > 0, "contracts in every state"
    assert past > 0 and upcoming > 0 and unstaffed > 0
    assert payments > 0 and corrections == 1 and methods >= 3, "a ledger to show"
    # Selim handed his clients over; Sofia left events behind for --no-support to show.
    assert leavers == 2 and clients_of_leavers == 0 and events_of_leavers > 0
    assert notes > clients and 0 < stale < clients, "a contact history, some of it old"
    # Written by the employees whose job it is (manager, each sales rep), not by an admin.
    assert authors >= 4
    before = counts()
    assert demo.load() is False
    assert counts() == before


def test_an_interrupted_load_is_started_afresh(demo_server):
    demo._loading_marker().write_text("interrupted\n")
    with psycopg.connect(embedded.admin_dsn(), autocommit=True) as conn:
        conn.execute("insert into epic_events.company (name) values ('Half Loaded')")
    demo.reset_interrupted_load()
    assert not demo._loading_marker().exists()
    with psycopg.connect(embedded.admin_dsn()) as conn:
        assert conn.execute("select count(*) from epic_events.company").fetchone()[0] == 0


def user_state() -> dict[str, str]:
    """The user's own state directory (their token store), file by file, as digests
    (a failure prints no token); the demo's own subfolder aside."""
    base = config.state_dir()
    return {
        str(p.relative_to(base)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(base.rglob("*"))
        if p.is_file() and p.relative_to(base).parts[0] != "demo"
    }


def test_the_demo_leaves_the_users_own_login_alone(demo_server):
    environment = dict(os.environ)
    assert demo.load() is True
    runner = CliRunner()
    r = runner.invoke(
        root, ["login", "--email", "sam@epic-events.demo", "--password-stdin"], input=demo.PASSWORD + "\n"
    )
    assert r.exit_code == 0, r.stderr
    mine = user_state()
    assert mine, "the user's tokens are stored"

    demo.tour()  # logs in as mona, sam and suzy, and out again
    assert user_state() == mine
    who = runner.invoke(root, ["whoami", "--format", "json"])
    assert who.exit_code == 0, who.stderr
    assert json.loads(who.stdout)["email"] == "sam@epic-events.demo"

    # The loader too, on a database loaded afresh while the user is logged in.
    demo._loading_marker().write_text("interrupted\n")
    demo.reset_interrupted_load()
    assert demo.load() is True
    assert user_state() == mine
    assert dict(os.environ) == environment, "the demo puts the environment back"
