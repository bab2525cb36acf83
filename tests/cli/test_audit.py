"""`epic-events audit` (management reads the trail) and `db purge-audit` (the admin's retention)."""

from __future__ import annotations

import csv
import io
import json

import psycopg
import pytest

from tests.cli.conftest import admin_one


def _rename_client(cli, name="Renamed Client"):
    cli.login("sales")
    r = cli("client", "update", cli.world.ids["client"], "--name", name, "--format", "json")
    assert r.exit_code == 0, r.stderr


def test_a_change_names_the_employee_the_login_the_role_and_old_to_new(cli):
    _rename_client(cli)
    cli.login("manager")
    [row] = cli.json("audit", "--table", "client", "--record", cli.world.ids["client"], "--action", "update")
    assert row["employee_id"] == cli.world.ids["sales"]
    assert row["employee_name"] == "Sam Sales"
    assert row["login_role"] == "epic_authenticator"  # session_user: the login that connected
    assert row["db_role"] == "epic_sales"  # the department role it used
    assert row["changes"]["full_name"] == {"old": "Client of sales", "new": "Renamed Client"}


def test_the_table_shows_old_to_new(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    _rename_client(cli)
    cli.login("manager")
    r = cli("audit", "--table", "client", "--action", "update", "--format", "table")
    assert r.exit_code == 0, r.stderr
    assert "full_name: Client of sales → Renamed Client" in " ".join(r.stdout.split())
    assert "Sam Sales" in r.stdout and "epic_authenticator / epic_sales" in r.stdout


def test_logins_and_failures_are_in_the_same_trail(cli):
    cli.login("sales")
    r = cli("login", "--email", "sam@epic.test", "--password-stdin", input="wrong\n")
    assert r.exit_code == 2
    cli.login("manager")
    rows = cli.json("audit", "--table", "session")
    actions = [r["action"] for r in rows]
    assert {"login", "login_failed", "login_attempt"} <= set(actions)
    failed = next(r for r in rows if r["action"] == "login_failed")
    assert failed["row_id"] == "sam@epic.test" and failed["login_role"] == "epic_authenticator"
    assert [r["action"] for r in cli.json("audit", "--action", "login_failed")] == ["login_failed"]


def test_filters_by_employee_and_date_range(cli):
    _rename_client(cli)
    cli.login("manager")
    mine = cli.json("audit", "--employee", cli.world.ids["sales"], "--table", "client")
    assert mine and all(r["employee_id"] == cli.world.ids["sales"] for r in mine)
    assert cli.json("audit", "--to", "01/01/2020") == []
    assert cli.json("audit", "--from", "01/01/2020", "--table", "client", "--action", "update")
    r = cli("audit", "--from", "02/01/2020", "--to", "01/01/2020")
    assert (r.exit_code, r.stderr) == (1, "error: --to: before --from\n")


def test_pages_and_all(cli):
    cli.login("manager")  # the world's logins: attempts and logins
    for _ in range(3):
        cli.login("manager")
    everything = cli.json("audit", "--all")
    total = admin_one(cli.world, "select count(*) from epic_events.audit_log")[0]
    assert len(everything) == total
    assert [r["id"] for r in everything] == sorted((r["id"] for r in everything), reverse=True)
    first = cli.json("audit", "--limit", "2")
    second = cli.json("audit", "--limit", "2", "--page", "2")
    assert [r["id"] for r in first + second] == [r["id"] for r in everything[:4]]
    r = cli("audit", "--limit", "2", "--format", "table")
    assert "more with --offset 2" in r.stdout
    r = cli("audit", "--all", "--page", "2")
    assert r.exit_code == 1 and "--all" in r.stderr


def test_all_streams_past_one_batch(cli):
    """--all reads one server-side cursor, 5,000 rows a batch, and writes each batch as it
    comes (it held every row in a list: 3 GB for half a million rows); every row once,
    newest first, in json and csv; --limit is refused with it, as on the other lists."""
    with cli.world.db.admin() as conn:  # three batches of the cursor: each insert is audited
        conn.execute(
            "insert into epic_events.company (name) select 'Audited ' || g from generate_series(1, 12000) g"
        )
    cli.login("manager")
    total = admin_one(cli.world, "select count(*) from epic_events.audit_log")[0]
    assert total > 12_000
    ids = [r["id"] for r in cli.json("audit", "--all")]
    assert len(ids) == len(set(ids)) == total and ids == sorted(ids, reverse=True)
    lines = list(csv.reader(io.StringIO(cli("audit", "--all", "--format", "csv").stdout)))
    assert len(lines) == 1 + total and [int(line[0]) for line in lines[1:]] == ids
    r = cli("audit", "--all", "--limit", "5")
    assert r.exit_code == 1 and "--all" in r.stderr
    r = cli("audit", "--all", "--format", "table")
    assert r.exit_code == 1 and "--format csv" in r.stderr and r.stdout == ""


def test_csv_export_carries_every_column_and_the_changes_as_json(cli):
    _rename_client(cli)
    cli.login("manager")
    r = cli("audit", "--all", "--format", "csv")
    assert r.exit_code == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(rows[0]) == [
        "id",
        "occurred_at",
        "employee_id",
        "employee_name",
        "login_role",
        "db_role",
        "table_name",
        "row_id",
        "action",
        "changes",
    ]
    update = next(x for x in rows if x["table_name"] == "client" and x["action"] == "update")
    assert json.loads(update["changes"])["full_name"]["new"] == "Renamed Client"


@pytest.mark.parametrize("who", ["sales", "support"])
def test_only_management_reads_the_trail(cli, who):
    cli.login(who)
    r = cli("audit")
    assert r.exit_code == 3
    assert "audit trail is management's" in r.stderr


# --- retention ---------------------------------------------------------------------------


def test_purge_deletes_older_rows_and_records_itself(cli):
    with cli.world.db.admin() as conn:
        conn.execute("alter table epic_events.audit_log disable trigger audit_log_append_only")
        conn.execute(
            "update epic_events.audit_log set occurred_at = '2020-01-01' where id in"
            " (select id from epic_events.audit_log order by id limit 3)"
        )
        conn.execute("alter table epic_events.audit_log enable trigger audit_log_append_only")
    before = admin_one(cli.world, "select count(*) from epic_events.audit_log")[0]
    r = cli("db", "purge-audit", "--before", "01/01/2021", "--yes")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("deleted 3 audit rows older than 01/01/2021")
    assert admin_one(cli.world, "select count(*) from epic_events.audit_log")[0] == before - 3 + 1
    record = admin_one(
        cli.world,
        "select db_role, login_role, table_name, action, changes"
        " from epic_events.audit_log order by id desc limit 1",
    )
    login = admin_one(cli.world, "select session_user")[0]
    assert record[1:4] == (login, "audit_log", "purge")
    assert record[4]["deleted"] == 3 and "before" in record[4]
    cli.login("manager")
    [purge] = cli.json("audit", "--action", "purge")
    assert purge["changes"]["deleted"] == 3


def test_purge_needs_a_past_date_and_a_yes_without_terminal(cli):
    r = cli("db", "purge-audit", "--before", "01/01/2999", "--yes")
    assert (r.exit_code, r.stderr) == (1, "error: --before: must be in the past\n")
    r = cli("db", "purge-audit", "--before", "01/01/2021")
    assert r.exit_code == 1 and "--yes" in r.stderr


def test_the_database_refuses_a_purge_into_the_future(cli):
    with cli.world.db.admin() as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("select epic_events.purge_audit_log(now() + interval '1 day')")


def test_the_trail_stays_append_only_outside_the_purge(cli):
    """The owner, with the DELETE it now holds, deletes nothing by hand (its policy wants the
    purge's cutoff); the admin, whom RLS does not bind, meets the append-only trigger."""
    total = admin_one(cli.world, "select count(*) from epic_events.audit_log")[0]
    with cli.world.db.admin() as conn:
        conn.execute("begin")
        conn.execute("set local role epic_owner")
        assert conn.execute("delete from epic_events.audit_log").rowcount == 0
        conn.execute("rollback")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute("delete from epic_events.audit_log")
    assert admin_one(cli.world, "select count(*) from epic_events.audit_log")[0] == total


def test_a_department_cannot_purge(cli):
    manager = cli.world.as_("manager")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for function"):
        manager.run("select epic_events.purge_audit_log('2020-01-01')")


def test_all_refused_writes_nothing_not_even_a_header(cli):
    """The cursor opens at its first fetch: the refusal must come before the csv header
    or the json bracket (a header-only audit.csv looked like an empty trail)."""
    cli.login("sales")
    for fmt in ("csv", "json"):
        r = cli("audit", "--all", "--format", fmt)
        assert (r.exit_code, r.stdout) == (3, ""), (fmt, r.stderr)
