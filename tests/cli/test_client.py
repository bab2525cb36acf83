"""SPEC "Default rights" and "Commands" for clients, through the CLI."""

import json

from tests.cli.conftest import admin_one


def test_everyone_reads_every_client(cli):
    for who in ("manager", "sales", "support"):
        cli.login(who)
        assert {c["id"] for c in cli.json("client", "list")} == {
            cli.world.ids["client"],
            cli.world.ids["client2"],
        }


def test_sales_creates_a_client_and_becomes_its_sales_contact(cli):
    cli.login("sales")
    created = cli.json(
        "client",
        "create",
        "--name",
        "Kevin Casey",
        "--email",
        "kevin@startup.io",
        "--phone",
        "06 12 34 56 78",
        "--company",
        "Cool Startup LLC",
    )
    assert created["sales_contact_id"] == cli.world.ids["sales"]
    assert created["phone"] == "+33612345678"
    assert created["company_name"] == "Cool Startup LLC"
    assert admin_one(
        cli.world, "select full_name from epic_events.client where id = %s", (created["id"],)
    ) == ("Kevin Casey",)


def test_management_may_name_the_sales_contact(cli):
    cli.login("manager")
    created = cli.json(
        "client", "create", "--name", "Ada", "--email", "ada@x.io", "--sales-contact", cli.world.ids["sales2"]
    )
    assert created["sales_contact_id"] == cli.world.ids["sales2"]


def test_sales_cannot_create_a_client_for_someone_else(cli):
    cli.login("sales")
    r = cli(
        "client", "create", "--name", "Ada", "--email", "ada@x.io", "--sales-contact", cli.world.ids["sales2"]
    )
    assert r.exit_code == 3
    assert "client:create" in r.stderr


def test_support_cannot_create_clients(cli):
    cli.login("support")
    r = cli("client", "create", "--name", "Ada", "--email", "ada@x.io")
    assert r.exit_code == 3


def test_sales_updates_their_own_client_only(cli):
    cli.login("sales")
    updated = cli.json("client", "update", cli.world.ids["client"], "--phone", "+44 20 7946 0958")
    assert updated["phone"] == "+442079460958"
    r = cli("client", "update", cli.world.ids["client2"], "--phone", "0611223344")
    assert r.exit_code == 3
    assert "client:update:own" in r.stderr
    assert admin_one(
        cli.world, "select phone from epic_events.client where id = %s", (cli.world.ids["client2"],)
    ) == ("+33612345678",)


def test_management_reassigns_a_client_and_its_contracts_follow(cli):
    cli.login("manager")
    moved = cli.json("client", "reassign", cli.world.ids["client"], cli.world.ids["sales2"])
    assert moved["sales_contact_id"] == cli.world.ids["sales2"]
    assert admin_one(
        cli.world,
        "select count(*) from epic_events.contract where client_id = %s and sales_contact_id <> %s",
        (cli.world.ids["client"], cli.world.ids["sales2"]),
    ) == (0,)


def test_reassigning_to_a_support_employee_is_refused(cli):
    cli.login("manager")
    r = cli("client", "reassign", cli.world.ids["client"], cli.world.ids["support"])
    assert r.exit_code == 1
    assert "sales_contact_id" in r.stderr and "not an active sales employee" in r.stderr


def test_sales_cannot_reassign(cli):
    cli.login("sales")
    r = cli("client", "reassign", cli.world.ids["client"], cli.world.ids["sales2"])
    assert r.exit_code == 3


def test_mine_and_search_filters(cli):
    cli.login("sales")
    assert [c["id"] for c in cli.json("client", "list", "--mine")] == [cli.world.ids["client"]]
    assert [c["id"] for c in cli.json("client", "list", "--search", "client2@")] == [cli.world.ids["client2"]]
    assert [c["id"] for c in cli.json("client", "list", "--search", "ACME")] == sorted(
        [cli.world.ids["client"], cli.world.ids["client2"]]
    )
    assert cli.json("client", "list", "--search", "100%_") == []


def test_list_pages_and_sorts(cli):
    cli.login("manager")
    for i in range(5):
        cli.json(
            "client",
            "create",
            "--name",
            f"Zed {i}",
            "--email",
            f"z{i}@x.io",
            "--sales-contact",
            cli.world.ids["sales"],
        )
    first = cli.json("client", "list", "--limit", "3", "--sort", "name")
    second = cli.json("client", "list", "--limit", "3", "--page", "2", "--sort", "name")
    names = [c["full_name"] for c in first + second]
    assert names == sorted(names, key=str.lower) and len(names) == 6
    newest = cli.json("client", "list", "--limit", "1", "--desc")
    assert newest[0]["full_name"] == "Zed 4"


def test_view_shows_contracts_and_events(cli):
    cli.login("support")
    shown = cli.json("client", "view", cli.world.ids["client"])
    assert {c["id"] for c in shown["contracts"]} == {cli.world.ids["contract"], cli.world.ids["signed"]}
    assert {e["id"] for e in shown["events"]} == {cli.world.ids["event"], cli.world.ids["event_unassigned"]}


def test_view_of_a_missing_client_is_not_found(cli):
    cli.login("sales")
    r = cli("client", "view", "999999")
    assert r.exit_code == 4 and "not found" in r.stderr


def test_bad_input_is_refused_and_changes_nothing(cli):
    cli.login("sales")
    before = admin_one(cli.world, "select count(*) from epic_events.client")
    for args, field in (
        (("--email", "not-an-email"), "--email"),
        (("--phone", "12"), "--phone"),
        (("--name", " "), "--name"),
    ):
        base = {"--name": "Ok Name", "--email": "ok@x.io"}
        base.update(dict([args]))
        r = cli("client", "create", *[x for kv in base.items() for x in kv])
        assert r.exit_code == 1, r.stderr
        assert r.stderr.startswith(f"error: {field}:")
    assert admin_one(cli.world, "select count(*) from epic_events.client") == before


def test_a_company_name_the_database_refuses_names_the_company_option(cli):
    # The database's rule on company names can be stricter than the CLI's check
    # ([[:cntrl:]] follows the server's locale): here it is made to refuse
    # "Forbidden", which the CLI lets through. The message names --company.
    with cli.world.db.admin() as conn:
        conn.execute(
            "alter table epic_events.company drop constraint company_name_valid,"
            " add constraint company_name_valid check (name !~ 'Forbidden')"
        )
    cli.login("sales")
    before = admin_one(cli.world, "select count(*) from epic_events.client")
    for command in (
        ["client", "create", "--name", "Ok Name", "--email", "ok@x.io"],
        ["client", "update", cli.world.ids["client"]],
    ):
        r = cli(*command, "--company", "Forbidden Corp")
        assert r.exit_code == 1, r.stderr
        assert r.stderr == "error: --company: must be 1-200 characters, no control characters\n"
    assert admin_one(cli.world, "select count(*) from epic_events.client") == before
    assert admin_one(cli.world, "select count(*) from epic_events.company where name = 'Forbidden Corp'") == (
        0,
    )


def test_missing_option_without_a_terminal_is_an_error_not_a_prompt(cli):
    cli.login("sales")
    r = cli("client", "create", "--name", "Ada")
    assert r.exit_code == 1 and "--email" in r.stderr


def test_missing_options_are_asked_on_a_terminal(cli):
    cli.login("sales")
    cli.as_terminal()
    r = cli(
        "client",
        "create",
        "--format",
        "json",
        input="Ada Lovelace\nnot-an-email\nada@x.io\n06 12 34 56 78\n\n",
    )
    assert r.exit_code == 0, r.stderr
    assert "--email: not a valid email address" in r.stderr
    assert '"email": "ada@x.io"' in r.stdout


def test_stale_update_is_a_conflict(cli):
    cli.login("sales")
    seen = cli.json("client", "view", cli.world.ids["client"])["updated_at"]
    cli.json("client", "update", cli.world.ids["client"], "--name", "First Writer")
    r = cli("client", "update", cli.world.ids["client"], "--name", "Second Writer", "--if-updated-at", seen)
    assert r.exit_code == 5 and "changed by someone else" in r.stderr
    assert admin_one(
        cli.world, "select full_name from epic_events.client where id = %s", (cli.world.ids["client"],)
    ) == ("First Writer",)


def test_management_deletes_a_client_without_contracts_only(cli):
    cli.login("manager")
    r = cli("client", "delete", cli.world.ids["client"], "--yes")
    assert r.exit_code == 5 and "contracts" in r.stderr
    lone = cli.json(
        "client",
        "create",
        "--name",
        "Lone",
        "--email",
        "lone@x.io",
        "--sales-contact",
        cli.world.ids["sales"],
    )
    assert cli("client", "delete", lone["id"], "--yes").exit_code == 0
    assert admin_one(cli.world, "select count(*) from epic_events.client where id = %s", (lone["id"],)) == (
        0,
    )


def test_sales_cannot_delete_clients(cli):
    cli.login("sales")
    r = cli("client", "delete", cli.world.ids["client"], "--yes")
    assert r.exit_code == 3 and "client:delete" in r.stderr


def test_csv_shape(cli):
    cli.login("sales")
    r = cli("client", "list", "--format", "csv")
    header = r.stdout.splitlines()[0]
    assert header == (
        "id,full_name,email,phone,company_id,company_name,sales_contact_id,"
        "sales_contact_name,created_at,updated_at,last_contact_at"
    )
    assert len(r.stdout.splitlines()) == 3


def test_reassigning_to_an_employee_who_does_not_exist_is_not_found(cli):
    cli.login("manager")
    r = cli("client", "reassign", cli.world.ids["client"], "999999")
    assert r.exit_code == 4
    assert r.stderr == "error: employee 999999: not found\n"


def test_errors_name_the_option_typed_not_the_column(cli):
    cli.login("sales")
    r = cli("client", "update", cli.world.ids["client"], "--last-contact", "yesterday")
    assert r.exit_code == 1 and r.stderr.startswith("error: --last-contact: not a date")
    r = cli(
        "client",
        "create",
        "--name",
        "Ada",
        "--email",
        "ada@x.io",
        "--sales-contact",
        cli.world.ids["support"],
    )
    assert r.exit_code in (1, 3) and "last_contact_at" not in r.stderr
    cli.login("manager")
    r = cli(
        "client",
        "create",
        "--name",
        "Ada",
        "--email",
        "ada@x.io",
        "--sales-contact",
        cli.world.ids["support"],
    )
    assert r.exit_code == 1 and r.stderr.startswith("error: --sales-contact:")


def test_an_interactive_update_with_enter_on_every_field_writes_nothing(cli):
    cli.login("sales")
    cli.as_terminal()
    client_id = cli.world.ids["client"]
    before = admin_one(cli.world, "select updated_at from epic_events.client where id = %s", (client_id,))
    r = cli("client", "update", client_id, input="\n" * 5)
    assert r.exit_code == 0, r.stderr
    assert "Last contact" in r.stderr  # every field is offered, the last contact too
    assert r.stderr.endswith(f"Nothing changed: client {client_id} is left as it was.\n")
    assert (
        admin_one(cli.world, "select updated_at from epic_events.client where id = %s", (client_id,))
        == before
    )


def test_an_interactive_update_offers_the_last_contact(cli):
    cli.login("sales")
    cli.as_terminal()
    client_id = cli.world.ids["client"]
    r = cli("client", "update", client_id, "--format", "json", input="\n\n\n\n24/11/2026 15:30\n")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["last_contact_at"] is not None
    # The same minute typed back (Enter on its shown value) is no change either.
    r = cli("client", "update", client_id, input="\n" * 5)
    assert "Nothing changed" in r.stderr


def test_client_view_names_the_support_contact_of_its_events(cli):
    cli.login("sales")
    r = cli("client", "view", cli.world.ids["client"], "--format", "table")
    assert r.exit_code == 0, r.stderr
    assert "Suzy Support" in r.stdout
    events = cli.json("client", "view", cli.world.ids["client"])["events"]
    assert {e["support_contact_name"] for e in events} == {"Suzy Support", None}
