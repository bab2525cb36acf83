"""client import FILE.csv: checked as `client create`, all or nothing, the database's rules."""

from __future__ import annotations

import json

from tests.cli.conftest import admin_one


def _file(tmp_path, text: str, name: str = "clients.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _count(world, sql="select count(*) from epic_events.client", params=()):
    return admin_one(world, sql, params)[0]


def test_sales_import_their_own_clients_normalised_with_companies_created(cli, tmp_path):
    cli.login("sales")
    path = _file(
        tmp_path,
        "full_name,email,phone,company\n"
        "  Ann Ample ,ANN@x.io,06 12 34 56 78,New Co\n"
        "Bob Bright,bob@x.io,,acme events\n"
        "Cid Clear,cid@x.io,, New Co \n",
    )
    report = cli.json("client", "import", path)
    assert [c["line"] for c in report["created"]] == [2, 3, 4] and report["skipped"] == []
    sam = cli.world.ids["sales"]
    rows = {r["email"]: r for r in cli.json("client", "list", "--all", "--mine")}
    ann = rows["ANN@x.io"]
    assert ann["full_name"] == "Ann Ample" and ann["phone"] == "+33612345678"
    assert ann["company_name"] == "New Co" and rows["cid@x.io"]["company_id"] == ann["company_id"]
    assert rows["bob@x.io"]["company_id"] == cli.world.ids["company"]  # found whatever its case
    assert {r["sales_contact_id"] for r in rows.values()} == {sam}
    assert _count(cli.world, "select count(*) from epic_events.company where name = 'New Co'") == 1


def test_one_bad_row_and_nothing_is_written_every_reason_with_its_line(cli, tmp_path):
    cli.login("sales")
    before = _count(cli.world)
    path = _file(
        tmp_path,
        "name,email,phone\n"
        "Good One,good@x.io,\n"
        "Bad Mail,not-an-email,\n"
        "Bad Phone,phone@x.io,12\n"
        "Dup,GOOD@x.io,\n"
        "Taken,Client@Client.Test,\n"
        ",blank@x.io,\n",
    )
    r = cli("client", "import", path, "--format", "json")
    assert r.exit_code == 1 and "nothing was imported" in r.stderr
    report = json.loads(r.stdout)
    reasons = {s["line"]: s["reason"] for s in report["skipped"]}
    assert set(reasons) == {3, 4, 5, 6, 7}
    assert reasons[3].startswith("email:") and reasons[4].startswith("phone:")
    assert "the same as line 2" in reasons[5]
    assert f"client {cli.world.ids['client']} already has this email" in reasons[6]
    assert reasons[7].startswith("full_name:")
    assert report["created"] == [] and _count(cli.world) == before


def test_skip_invalid_writes_the_good_rows_and_reports_the_others(cli, tmp_path):
    cli.login("sales")
    before = _count(cli.world)
    path = _file(tmp_path, "full_name,email\nGood One,good@x.io\nBad,nope\nGood Two,good2@x.io\n")
    r = cli("client", "import", path, "--skip-invalid", "--format", "csv")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "line,status,id,reason"
    assert lines[2] == "3,skipped,,email: not a valid email address"
    assert "2 client(s) created, 1 row(s) skipped" in r.stderr
    assert _count(cli.world) == before + 2


def test_dry_run_checks_everything_and_writes_nothing(cli, tmp_path):
    cli.login("sales")
    before = _count(cli.world)
    companies = _count(cli.world, "select count(*) from epic_events.company")
    path = _file(tmp_path, "full_name,email,company\nGood One,good@x.io,Brand New\n")
    report = cli.json("client", "import", path, "--dry-run")
    assert report["dry_run"] and len(report["created"]) == 1
    assert _count(cli.world) == before
    assert _count(cli.world, "select count(*) from epic_events.company") == companies


def test_sales_cannot_import_clients_for_someone_else(cli, tmp_path):
    cli.login("sales")
    before = _count(cli.world)
    path = _file(
        tmp_path,
        f"full_name,email,sales_contact\nMine,m@x.io,sam@epic.test\n"
        f"Theirs,t@x.io,{cli.world.ids['sales2']}\n",
    )
    r = cli("client", "import", path, "--format", "json")
    assert r.exit_code == 1
    assert json.loads(r.stdout)["skipped"][0]["line"] == 3
    assert _count(cli.world) == before


def test_the_database_refuses_what_the_file_does_not_show(cli, tmp_path, monkeypatch):
    """The checks before writing are the CLI's courtesy: with them skipped, the
    database still refuses a client given to someone else (RLS), per row."""
    from epic_events.cli import client_import

    monkeypatch.setattr(
        client_import,
        "_resolve_contact",
        lambda r, by_id, by_email, me, dept: r.update(
            sales_contact_id=by_email[r.pop("sales_contact")]["id"]
        ),
    )
    cli.login("sales")
    before = _count(cli.world)
    path = _file(
        tmp_path, "full_name,email,sales_contact\nMine,m@x.io,sam@epic.test\nTheirs,t@x.io,sara@epic.test\n"
    )
    r = cli("client", "import", path, "--skip-invalid", "--format", "json")
    assert r.exit_code == 0, r.stderr
    report = json.loads(r.stdout)
    assert [c["line"] for c in report["created"]] == [2]
    assert report["skipped"] == [{"line": 3, "reason": "permission denied: " + client_import.RULE}]
    assert _count(cli.world) == before + 1
    r = cli(
        "client",
        "import",
        _file(tmp_path, "full_name,email,sales_contact\nAgain,a@x.io,sara@epic.test\n", "b.csv"),
    )
    assert r.exit_code == 1 and _count(cli.world) == before + 1


def test_management_names_the_sales_contact_by_id_or_email(cli, tmp_path):
    cli.login("manager")
    ids = cli.world.ids
    path = _file(
        tmp_path,
        f"full_name,email,sales_contact\nA,a@x.io,{ids['sales']}\n"
        "B,b@x.io,SARA@epic.test\nC,c@x.io,suzy@epic.test\nD,d@x.io,nobody@x.io\n",
    )
    r = cli("client", "import", path, "--skip-invalid", "--format", "json")
    report = json.loads(r.stdout)
    assert [c["line"] for c in report["created"]] == [2, 3]
    assert {s["line"]: s["reason"] for s in report["skipped"]} == {
        4: "sales_contact: suzy@epic.test is not an active sales employee",
        5: "sales_contact: no employee nobody@x.io",
    }
    owners = {
        admin_one(cli.world, "select sales_contact_id from epic_events.client where id = %s", (c["id"],))[0]
        for c in report["created"]
    }
    assert owners == {ids["sales"], ids["sales2"]}


def test_support_cannot_import(cli, tmp_path):
    cli.login("support")
    r = cli("client", "import", _file(tmp_path, "full_name,email\nA,a@x.io\n"))
    assert r.exit_code == 3 and "client:create" in r.stderr


def test_a_file_that_is_not_a_client_file_is_refused(cli, tmp_path):
    cli.login("sales")
    r = cli("client", "import", _file(tmp_path, "who,mail\nA,a@x.io\n"))
    assert r.exit_code == 1 and "unknown column" in r.stderr
    r = cli("client", "import", _file(tmp_path, "full_name,email\nA,a@x.io,extra\n"), "--format", "json")
    assert r.exit_code == 1 and "2 cells" not in r.stderr
    assert json.loads(r.stdout)["skipped"][0]["reason"] == "3 cell(s), the header has 2"


def test_many_rows_go_in_batches_in_one_transaction(cli, tmp_path):
    from epic_events.cli.client_import import BATCH

    cli.login("sales")
    before = _count(cli.world)
    n = 2 * BATCH + 7
    body = "".join(f"Client {i},c{i}@bulk.test\n" for i in range(n))
    report = cli.json("client", "import", _file(tmp_path, "full_name,email\n" + body))
    assert len(report["created"]) == n and report["created"][-1]["line"] == n + 1
    assert _count(cli.world) == before + n
    # the last batch refused by the database (a duplicate the file check cannot see
    # because it was taken meanwhile) rolls back the first ones too:
    body = "".join(f"Again {i},a{i}@bulk.test\n" for i in range(n))
    from epic_events.cli import client_import

    real = client_import._check_against_database

    def blind(tx, good, skipped, me, department):
        kept = real(tx, good, skipped, me, department)
        kept[-1][1]["email"] = "c0@bulk.test"
        return kept

    cli.monkeypatch.setattr(client_import, "_check_against_database", blind)
    r = cli("client", "import", _file(tmp_path, "full_name,email\n" + body, "again.csv"), "--format", "json")
    assert r.exit_code == 1
    assert json.loads(r.stdout)["skipped"] == [
        {
            "line": n + 1,
            "reason": "email: a client with this email already exists (emails are compared ignoring case)",
        }
    ]
    assert _count(cli.world) == before + n


def test_an_import_longer_than_a_request_lasts_stops_and_writes_nothing(cli, tmp_path, monkeypatch):
    from epic_events.cli import client_import

    monkeypatch.setattr(client_import, "BATCH", 1)
    monkeypatch.setattr(client_import, "DEADLINE_S", -1)  # as if 5 minutes had passed
    cli.login("sales")
    before = _count(cli.world)
    r = cli("client", "import", _file(tmp_path, "full_name,email\nA,a@x.io\nB,b@x.io\n"))
    assert r.exit_code == 1 and "split the file" in r.stderr
    assert _count(cli.world) == before


def test_the_progress_bar_shows_on_a_terminal_only(monkeypatch):
    import io

    from epic_events.cli import client_import

    assert client_import._Progress(10).bar is None  # pytest's stderr is no terminal

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stderr", Terminal())
    progress = client_import._Progress(10)
    try:
        assert progress.bar is not None
        progress.checked()
        progress.written(10)
        assert progress.bar.tasks[1].completed == 10
    finally:
        progress.stop()


# --- what a user trial found (issue 15's review) -----------------------------------------------


def test_company_and_email_keys_are_the_databases_not_pythons(cli, tmp_path):
    """str.lower() and PostgreSQL's lower() differ for some letters (İ gives 'i̇' in Python;
    a final Σ gives 'ς'): a new company named so was created and left off its clients, a
    second import then refused it as taken, and an email with İ crashed the import (exit 70).
    The keys are the database's now."""
    cli.login("sales")
    path = _file(
        tmp_path,
        "full_name,email,company\n"
        "Iz One,iz1@t.example,İzmir Travel\n"
        "Sig One,sig1@t.example,ΟΔΥΣΣΕΑΣ\n"
        "Uni One,İpek@t.example,\n",
    )
    report = cli.json("client", "import", path)
    assert [c["line"] for c in report["created"]] == [2, 3, 4] and report["skipped"] == []
    rows = {r["email"]: r for r in cli.json("client", "list", "--all", "--mine")}
    assert rows["iz1@t.example"]["company_name"] == "İzmir Travel"
    assert rows["sig1@t.example"]["company_name"] == "ΟΔΥΣΣΕΑΣ"
    again = _file(tmp_path, "full_name,email,company\nIz Two,iz2@t.example,İzmir Travel\n", "again.csv")
    report = cli.json("client", "import", again)
    assert report["skipped"] == []
    iz2 = next(r for r in cli.json("client", "list", "--all", "--mine") if r["email"] == "iz2@t.example")
    assert iz2["company_id"] == rows["iz1@t.example"]["company_id"]
    r = cli("client", "import", _file(tmp_path, "full_name,email\nUni Two,İPEK@t.example\n", "dup.csv"))
    assert r.exit_code == 1 and "already has this email" in r.stdout + r.stderr


def test_a_sales_contact_of_other_digits_is_no_employee_not_a_crash(cli, tmp_path):
    cli.login("manager")
    path = _file(tmp_path, "full_name,email,sales_contact\nSup Two,sup2@t.example,²\n")
    r = cli("client", "import", path, "--format", "json")
    assert r.exit_code == 1, r.stderr
    assert json.loads(r.stdout)["skipped"] == [{"line": 2, "reason": "sales_contact: no employee ²"}]


def test_management_leaving_the_sales_contact_empty_is_told_before_anything(cli, tmp_path):
    """Empty means the importer, and a manager holds no clients: said per line, up front
    (it was found at insert time, naming an employee id the user never typed)."""
    cli.login("manager")
    path = _file(tmp_path, "full_name,email,sales_contact,company\nOrph One,orph1@t.example,,Orphan Zeta\n")
    r = cli("client", "import", path, "--skip-invalid", "--format", "json")
    report = json.loads(r.stdout)
    assert report["skipped"][0]["reason"].startswith("sales_contact: empty (you)")
    assert _count(cli.world, "select count(*) from epic_events.company where name = 'Orphan Zeta'") == 0


def test_support_is_refused_before_any_row_is_read(cli, tmp_path):
    """Support may create no client: exit 3 whatever the file holds (a row naming a company
    came back as a row error with PostgreSQL's own words, exit 1 or 0)."""
    cli.login("support")
    for text in ("full_name,email,company\nA,a@x.io,New Co\n", "full_name,email\n"):
        r = cli("client", "import", _file(tmp_path, text), "--skip-invalid")
        assert r.exit_code == 3 and "client:create" in r.stderr, (text, r.stderr)


def test_a_quote_never_closed_is_refused_not_swallowed(cli, tmp_path):
    cli.login("sales")
    lines = ["full_name,email", "Good,good@x.io", '"Unterminated,ub1@t.example'] + [
        f"Next {i},next{i}@x.io" for i in range(100)
    ]
    r = cli("client", "import", _file(tmp_path, "\n".join(lines) + "\n"), "--skip-invalid", "--dry-run")
    assert r.exit_code == 1 and "line 3: a quoted cell is never closed" in r.stderr, r.stderr
    first = "\n".join(lines[:1] + lines[2:]) + "\n"  # the unclosed quote on the first data line
    r = cli("client", "import", _file(tmp_path, first, "first.csv"), "--dry-run")
    assert r.exit_code == 1 and "line 2: a quoted cell is never closed" in r.stderr, r.stderr


def test_a_column_given_twice_is_refused(cli, tmp_path):
    cli.login("sales")
    for header in ("full_name,email,email", "full_name,name,email", "full_name,email,company,company_name"):
        cells = ",".join(["a@x.io" if "mail" in h else "A" for h in header.split(",")])
        r = cli("client", "import", _file(tmp_path, f"{header}\n{cells}\n"))
        assert r.exit_code == 1 and "all give" in r.stderr, (header, r.stderr)
    assert _count(cli.world, "select count(*) from epic_events.client where email = 'a@x.io'") == 0


def test_interrupted_while_reporting_says_the_import_was_committed(cli, tmp_path, monkeypatch):
    """The commit comes before the report: a Ctrl-C (or a reader that stops) during the
    report must not pass for an interrupted import, or a second run refuses every row."""
    from epic_events.cli import client_import

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(client_import, "_emit", interrupted)
    cli.login("sales")
    r = cli("client", "import", _file(tmp_path, "full_name,email\nA,a@x.io\nB,b@x.io\n"))
    assert r.exit_code == 130
    assert "the import was committed (2 client(s) created)" in r.stderr
    assert (
        _count(cli.world, "select count(*) from epic_events.client where email in ('a@x.io', 'b@x.io')") == 2
    )


def test_a_new_company_is_spelt_as_its_first_line_has_it(cli, tmp_path):
    cli.login("sales")
    lines = ["full_name,email,company"] + [
        f"P{i},p{i}@x.io,{name}" for i, name in enumerate(["Zeta Works", "ZETA WORKS", "zeta works"] * 20)
    ]
    report = cli.json("client", "import", _file(tmp_path, "\n".join(lines) + "\n"))
    assert len(report["created"]) == 60
    assert _count(cli.world, "select count(*) from epic_events.company where name = 'Zeta Works'") == 1
    assert _count(cli.world, "select count(*) from epic_events.company where lower(name) = 'zeta works'") == 1
