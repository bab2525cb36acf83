"""Text as people meant it, one client per email, CSV that no spreadsheet runs,
and no manager removing themself (0016), through the CLI."""

from __future__ import annotations

import csv
import io

import pytest

from tests.cli.conftest import admin_one

# --- text is trimmed before it is sent ----------------------------------------------------------


def test_a_company_name_with_spaces_around_is_the_same_company(cli):
    cli.login("sales")
    created = cli.json("company", "create", "--name", "  ACME Peer  ")
    assert created["name"] == "ACME Peer"
    again = cli("company", "create", "--name", "\tacme peer\u00a0")
    assert again.exit_code == 5 and "already exists" in again.stderr
    assert admin_one(
        cli.world, "select count(*) from epic_events.company where lower(name) = 'acme peer'"
    ) == (1,)


def test_names_locations_and_notes_are_stored_trimmed(cli):
    cli.login("sales")
    client = cli.json(
        "client",
        "create",
        "--name",
        "  Kevin Casey ",
        "--email",
        " kevin@startup.io ",
        "--company",
        " Cool Startup LLC ",
    )
    assert (client["full_name"], client["email"], client["company_name"]) == (
        "Kevin Casey",
        "kevin@startup.io",
        "Cool Startup LLC",
    )
    event = cli.json(
        "event",
        "create",
        "--contract",
        cli.world.ids["signed"],
        "--name",
        " Gala ",
        "--start",
        "12/06/2027 19:00",
        "--end",
        "13/06/2027 02:00",
        "--location",
        "  Palais des Congrès, Nice  ",
        "--attendees",
        "150",
        "--notes",
        "\n  Parking for 40 cars\r\n\tgate B  \n",
    )
    assert (event["name"], event["location"]) == ("Gala", "Palais des Congrès, Nice")
    assert event["notes"] == "Parking for 40 cars\n\tgate B"
    assert admin_one(
        cli.world, "select name, location, notes from epic_events.event where id = %s", (event["id"],)
    ) == ("Gala", "Palais des Congrès, Nice", "Parking for 40 cars\n\tgate B")


def test_control_characters_in_notes_are_refused_by_name(cli):
    cli.login("support")
    r = cli("event", "update", cli.world.ids["event"], "--notes", "ok\x1b]0;owned\x07")
    assert r.exit_code == 1 and r.stderr.startswith("error: --notes:")


# --- one client per email ------------------------------------------------------------------------


@pytest.mark.parametrize("email", ["client@client.test", "CLIENT@client.test", " Client@Client.Test "])
def test_a_duplicate_client_email_is_a_conflict_naming_the_option(cli, email):
    cli.login("sales")
    r = cli("client", "create", "--name", "Twin", "--email", email)
    assert r.exit_code == 5
    assert (
        r.stderr
        == "error: --email: a client with this email already exists (emails are compared ignoring case)\n"
    )
    cli.login("manager")
    r = cli("client", "update", cli.world.ids["client2"], "--email", email)
    assert r.exit_code == 5 and "--email: a client with this email already exists" in r.stderr
    assert admin_one(
        cli.world, "select count(*) from epic_events.client where lower(email) = 'client@client.test'"
    ) == (1,)


# --- CSV that a spreadsheet does not run -----------------------------------------------------------


def test_csv_neutralises_cells_that_start_like_a_formula(cli):
    cli.login("sales")
    formula = '=HYPERLINK("http://evil.test","click")'
    created = cli.json(
        "client",
        "create",
        "--name",
        formula,
        "--email",
        "formula@client.test",
        "--phone",
        "06 12 34 56 78",
        "--company",
        "@Acme",
    )
    out = cli("client", "view", created["id"], "--format", "csv").stdout
    row = next(csv.DictReader(io.StringIO(out)))
    assert row["full_name"] == "'" + formula
    assert row["company_name"] == "'@Acme"
    assert row["phone"] == "'+33612345678"
    assert row["id"] == str(created["id"])  # numbers are not touched
    # JSON keeps the text exactly.
    assert cli.json("client", "view", created["id"])["full_name"] == formula
    listed = cli("client", "list", "--format", "csv").stdout
    assert "'=HYPERLINK" in listed and "\n=" not in listed and ",=" not in listed


# --- nobody deactivates, deletes or moves themself ----------------------------------------------

SELF = "you cannot deactivate, delete or move yourself to another department: ask another manager"


@pytest.mark.parametrize(
    "command",
    [
        ("employee", "deactivate", "{me}"),
        ("employee", "delete", "{me}", "--yes"),
        ("employee", "update", "{me}", "--department", "sales"),
    ],
)
def test_a_manager_cannot_remove_themself(cli, command):
    cli.login("manager")
    me = cli.world.ids["manager"]
    r = cli(*(part.format(me=me) for part in command))
    assert r.exit_code == 3
    assert r.stderr == f"error: {SELF}\n"
    assert admin_one(
        cli.world, "select department, is_active from epic_events.employee where id = %s", (me,)
    ) == ("management", True)
    # Another manager may.
    cli.login("manager2")
    r = cli(*(part.format(me=me) for part in command))
    assert r.exit_code == 0, r.stderr
