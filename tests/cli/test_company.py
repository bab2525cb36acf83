"""SPEC "Default rights" and "Commands" for companies, through the CLI."""

import pytest

from tests.cli.conftest import admin_one

COLUMNS = ["id", "name", "client_count", "created_at", "updated_at"]


def companies(cli) -> int:
    return admin_one(cli.world, "select count(*) from epic_events.company")[0]


def add_companies(cli, *names) -> list[int]:
    with cli.world.db.admin() as c:
        return [
            c.execute("insert into epic_events.company (name) values (%s) returning id", (n,)).fetchone()[0]
            for n in names
        ]


# -- reading ------------------------------------------------------------------------
@pytest.mark.parametrize("who", ["manager", "sales", "support"])
def test_everyone_lists_companies_with_their_client_count(cli, who):
    (empty,) = add_companies(cli, "Empty Corp")
    cli.login(who)
    listed = cli.json("company", "list")
    assert [(c["id"], c["client_count"]) for c in listed] == [(cli.world.ids["company"], 2), (empty, 0)]
    assert list(listed[0]) == COLUMNS


@pytest.mark.parametrize("who", ["manager", "sales", "support"])
def test_everyone_views_a_company_with_its_clients(cli, who):
    cli.login(who)
    shown = cli.json("company", "view", cli.world.ids["company"])
    assert shown["name"] == "Acme Events" and shown["client_count"] == 2
    assert [(c["id"], c["sales_contact_name"]) for c in shown["clients"]] == [
        (cli.world.ids["client"], "Sam Sales"),
        (cli.world.ids["client2"], "Sara Sales"),
    ]


def test_view_of_a_missing_company_is_not_found(cli):
    cli.login("sales")
    r = cli("company", "view", "999999")
    assert r.exit_code == 4 and "company 999999: not found" in r.stderr


def test_search_filter_matches_part_of_the_name_whatever_its_case(cli):
    startup, _ = add_companies(cli, "Cool Startup LLC", "100% Fun")
    cli.login("support")
    assert [c["id"] for c in cli.json("company", "list", "--search", "STARTUP")] == [startup]
    assert cli.json("company", "list", "--search", "0%_F") == []  # wildcards are literal
    assert [c["name"] for c in cli.json("company", "list", "--search", "0% F")] == ["100% Fun"]


def test_list_pages_and_sorts(cli):
    add_companies(cli, "delta", "Bravo", "charlie", "Echo")
    cli.login("sales")
    first = cli.json("company", "list", "--limit", "3", "--sort", "name")
    second = cli.json("company", "list", "--limit", "3", "--offset", "3", "--sort", "name")
    assert [c["name"] for c in first + second] == ["Acme Events", "Bravo", "charlie", "delta", "Echo"]
    assert cli.json("company", "list", "--sort", "name", "--desc", "--limit", "1")[0]["name"] == "Echo"
    assert cli.json("company", "list", "--desc", "--limit", "1")[0]["name"] == "Echo"


def test_csv_shape(cli):
    cli.login("support")
    r = cli("company", "list", "--format", "csv")
    lines = r.stdout.splitlines()
    assert lines[0] == ",".join(COLUMNS)
    assert lines[1].startswith(f"{cli.world.ids['company']},Acme Events,2,")


# -- create -------------------------------------------------------------------------
@pytest.mark.parametrize("who", ["manager", "sales"])
def test_management_and_sales_create_companies(cli, who):
    cli.login(who)
    made = cli.json("company", "create", "--name", "Cool Startup LLC")
    assert list(made) == COLUMNS and made["client_count"] == 0
    assert admin_one(cli.world, "select name from epic_events.company where id = %s", (made["id"],)) == (
        "Cool Startup LLC",
    )


def test_support_cannot_create_companies(cli):
    cli.login("support")
    r = cli("company", "create", "--name", "Cool Startup LLC")
    assert r.exit_code == 3 and "company:create" in r.stderr
    assert companies(cli) == 1


def test_a_duplicate_name_is_a_conflict_whatever_its_case(cli):
    cli.login("sales")
    r = cli("company", "create", "--name", "ACME events")
    assert r.exit_code == 5 and "name: a company with this name already exists" in r.stderr
    assert companies(cli) == 1


def test_a_blank_name_is_refused(cli):
    cli.login("sales")
    r = cli("company", "create", "--name", "  ")
    assert r.exit_code == 1 and r.stderr.startswith("error: --name:")
    r = cli("company", "create")
    assert r.exit_code == 1 and "--name" in r.stderr
    assert companies(cli) == 1


def test_a_missing_name_is_asked_on_a_terminal(cli):
    cli.login("sales")
    cli.as_terminal()
    r = cli("company", "create", "--format", "json", input="x" * 201 + "\nCool Startup LLC\n")
    assert r.exit_code == 0, r.stderr
    assert "name: at most 200 characters" in r.stderr
    assert companies(cli) == 2


# -- update -------------------------------------------------------------------------
def test_management_renames_a_company(cli):
    cli.login("manager")
    renamed = cli.json("company", "update", cli.world.ids["company"], "--name", "Acme Events SAS")
    assert renamed["name"] == "Acme Events SAS" and renamed["updated_at"] > renamed["created_at"]


@pytest.mark.parametrize("who", ["sales", "support"])
def test_only_management_renames_companies(cli, who):
    cli.login(who)
    r = cli("company", "update", cli.world.ids["company"], "--name", "Hijacked")
    assert r.exit_code == 3 and "company:update" in r.stderr
    assert admin_one(
        cli.world, "select name from epic_events.company where id = %s", (cli.world.ids["company"],)
    ) == ("Acme Events",)


def test_renaming_to_a_taken_name_is_a_conflict(cli):
    (other,) = add_companies(cli, "Other Corp")
    cli.login("manager")
    r = cli("company", "update", other, "--name", "acme EVENTS")
    assert r.exit_code == 5 and "already exists" in r.stderr


def test_a_stale_update_is_a_conflict_and_changes_nothing(cli):
    cli.login("manager")
    acme = cli.world.ids["company"]
    seen = cli.json("company", "view", acme)["updated_at"]
    cli.json("company", "update", acme, "--name", "First Writer")
    r = cli("company", "update", acme, "--name", "Second Writer", "--if-updated-at", seen)
    assert r.exit_code == 5 and "changed by someone else" in r.stderr
    assert admin_one(cli.world, "select name from epic_events.company where id = %s", (acme,)) == (
        "First Writer",
    )


def test_update_asks_the_name_with_its_current_value_on_a_terminal(cli):
    cli.login("manager")
    cli.as_terminal()
    r = cli("company", "update", cli.world.ids["company"], "--format", "json", input="Acme Events SAS\n")
    assert r.exit_code == 0, r.stderr
    assert "[Acme Events]" in r.stderr  # prompts go to stderr
    assert admin_one(
        cli.world, "select name from epic_events.company where id = %s", (cli.world.ids["company"],)
    ) == ("Acme Events SAS",)


# -- delete -------------------------------------------------------------------------
def test_management_deletes_a_company_no_client_works_for(cli):
    (empty,) = add_companies(cli, "Empty Corp")
    cli.login("manager")
    assert cli("company", "delete", empty, "--yes").exit_code == 0
    assert companies(cli) == 1


def test_deleting_a_company_with_clients_is_refused(cli):
    cli.login("manager")
    r = cli("company", "delete", cli.world.ids["company"], "--yes")
    assert r.exit_code == 5
    assert "still referenced by client rows" in r.stderr and "move or delete its clients" in r.stderr
    assert companies(cli) == 1


def test_delete_needs_yes_without_a_terminal(cli):
    (empty,) = add_companies(cli, "Empty Corp")
    cli.login("manager")
    r = cli("company", "delete", empty)
    assert r.exit_code == 1 and "--yes" in r.stderr
    assert companies(cli) == 2


@pytest.mark.parametrize("who", ["sales", "support"])
def test_only_management_deletes_companies(cli, who):
    (empty,) = add_companies(cli, "Empty Corp")
    cli.login(who)
    r = cli("company", "delete", empty, "--yes")
    assert r.exit_code == 3 and "company:delete" in r.stderr
    assert companies(cli) == 2


def test_delete_of_a_missing_company_is_not_found(cli):
    cli.login("manager")
    r = cli("company", "delete", "999999", "--yes")
    assert r.exit_code == 4 and "not found" in r.stderr
