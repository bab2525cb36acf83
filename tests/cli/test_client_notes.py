"""Contact history through the CLI: `client note`, `client view`, `client list --stale`.

In the World, Sam (sales) follows `client`, Sara (sales2) `client2`; neither
has been contacted yet (last_contact_at is null).
"""

from datetime import UTC, datetime, timedelta

import pytest

from tests.cli.conftest import admin_one

NOTE_KEYS = [
    "id",
    "client_id",
    "kind",
    "body",
    "noted_at",
    "written_by",
    "written_by_name",
    "created_at",
    "last_contact_at",
]


def notes_of(cli, key="client") -> int:
    return admin_one(
        cli.world, "select count(*) from epic_events.client_note where client_id = %s", (cli.world.ids[key],)
    )[0]


def test_sales_note_a_call_and_the_last_contact_moves(cli):
    cli.login("sales")
    noted = cli.json(
        "client",
        "note",
        cli.world.ids["client"],
        "--kind",
        "call",
        "--text",
        "Wants a quote\nfor 200 guests",
        "--at",
        "2026-11-24T15:30:00+00:00",
    )
    assert list(noted) == NOTE_KEYS
    assert (noted["kind"], noted["body"], noted["written_by"], noted["written_by_name"]) == (
        "call",
        "Wants a quote\nfor 200 guests",
        cli.world.ids["sales"],
        "Sam Sales",
    )
    assert noted["noted_at"] == noted["last_contact_at"] == "2026-11-24T15:30:00+00:00"
    # An older meeting noted later leaves the last contact where it is.
    older = cli.json(
        "client",
        "note",
        cli.world.ids["client"],
        "--kind",
        "meeting",
        "--text",
        "Lunch",
        "--at",
        "2026-11-01T12:00:00+00:00",
    )
    assert older["last_contact_at"] == "2026-11-24T15:30:00+00:00"


def test_client_view_shows_the_last_notes(cli):
    cli.login("manager")
    for n in range(7):
        cli.json(
            "client",
            "note",
            cli.world.ids["client"],
            "--kind",
            "email",
            "--text",
            f"Mail {n}",
            "--at",
            f"2026-11-{10 + n:02d}T09:00:00+00:00",
        )
    view = cli.json("client", "view", cli.world.ids["client"])
    assert [n["body"] for n in view["notes"]] == ["Mail 6", "Mail 5", "Mail 4", "Mail 3", "Mail 2"]
    assert view["notes"][0]["written_by_name"] == "Mona Manager"
    table = cli("client", "view", cli.world.ids["client"], "--format", "table")
    assert "Last contacts" in table.stdout and "Mail 6" in table.stdout and "Mail 1" not in table.stdout


@pytest.mark.parametrize(
    ("who", "key", "rule"),
    [
        ("sales", "client2", "client_note:create:own"),
        ("support", "client", "client_note:create"),
    ],
)
def test_only_the_sales_contact_and_management_write_notes(cli, who, key, rule):
    cli.login(who)
    r = cli("client", "note", cli.world.ids[key], "--kind", "call", "--text", "Hello")
    assert r.exit_code == 3 and rule in r.stderr
    assert notes_of(cli, key) == 0


def test_management_notes_any_client_and_everyone_reads_them(cli):
    cli.login("manager")
    cli.json("client", "note", cli.world.ids["client2"], "--kind", "other", "--text", "Met at a fair")
    cli.login("support")
    assert [n["body"] for n in cli.json("client", "view", cli.world.ids["client2"])["notes"]] == [
        "Met at a fair"
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--text", "Hello"), "missing option --kind"),
        (("--kind", "call"), "missing option --text"),
        (("--kind", "call", "--text", "   "), "--text: must not be empty"),
        (("--kind", "call", "--text", "Hi", "--at", "someday"), "noted_at: not a date"),
        (
            (
                "--kind",
                "call",
                "--text",
                "Hi",
                "--at",
                (datetime.now() + timedelta(days=5)).strftime("%d/%m/%Y"),
            ),
            "noted_at: ",
        ),
    ],
)
def test_bad_notes_are_refused_and_change_nothing(cli, options, message):
    cli.login("sales")
    r = cli("client", "note", cli.world.ids["client"], *options)
    assert r.exit_code == 1, r.stderr
    assert r.stderr.startswith(f"error: {message}")
    assert notes_of(cli) == 0


def test_note_of_a_missing_client_is_not_found(cli):
    cli.login("manager")
    r = cli("client", "note", "999999", "--kind", "call", "--text", "Hi")
    assert r.exit_code == 4 and "not found" in r.stderr


def test_note_asks_kind_and_text_on_a_terminal(cli):
    cli.login("sales")
    cli.as_terminal()
    r = cli("client", "note", cli.world.ids["client"], "--format", "json", input="fax\ncall\nCalled back\n")
    assert r.exit_code == 0, r.stderr
    assert "kind: must be one of" in r.stderr
    assert notes_of(cli) == 1


def test_stale_lists_clients_not_contacted_for_that_long(cli):
    ids = cli.world.ids
    cli.login("manager")
    assert [c["id"] for c in cli.json("client", "list", "--stale", "30")] == [ids["client"], ids["client2"]]
    recent = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    long_ago = (datetime.now(UTC) - timedelta(days=45)).isoformat()
    cli.json("client", "note", ids["client"], "--kind", "call", "--text", "Recent", "--at", recent)
    cli.json("client", "note", ids["client2"], "--kind", "call", "--text", "Long ago", "--at", long_ago)
    assert [c["id"] for c in cli.json("client", "list", "--stale", "30")] == [ids["client2"]]
    assert [c["id"] for c in cli.json("client", "list", "--stale", "60")] == []
    assert [c["id"] for c in cli.json("client", "list", "--stale", "2")] == [ids["client"], ids["client2"]]
    cli.login("sales2")
    assert [c["id"] for c in cli.json("client", "list", "--mine", "--stale", "30")] == [ids["client2"]]


def test_the_sales_dashboard_counts_stale_clients(cli):
    cli.login("sales")
    r = cli("--format", "table")
    assert r.exit_code == 0, r.stderr
    assert "1 not contacted in 30 days" in " ".join(r.stdout.split())
