"""On an 80-column terminal, tables keep emails and places whole (words wrap, never split)."""

import pytest

from tests.cli.conftest import admin_one

EMAIL = "claire.garnier-lefebvre@a-long-domain-name.example.fr"
PLACE = "Palais des Congrès, Promenade des Anglais, Nice"


@pytest.fixture
def narrow(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    admin_one(
        cli.world,
        "update epic_events.client set email = %s where id = %s returning id",
        (EMAIL, cli.world.ids["client"]),
    )
    admin_one(
        cli.world,
        "update epic_events.event set location = %s where id = %s returning id",
        (PLACE, cli.world.ids["event"]),
    )
    cli.login("manager")
    return cli


def cells(output: str) -> list[str]:
    """Every cell's text, line by line, as drawn."""
    return [cell.strip() for line in output.splitlines() for cell in line.split("│")]


def test_client_list_keeps_every_email_whole(narrow):
    r = narrow("client", "list", "--format", "table")
    assert r.exit_code == 0, r.stderr
    assert max(len(line) for line in r.stdout.splitlines()) <= 80
    assert EMAIL in cells(r.stdout)
    assert "narrow terminal: Last contact" in r.stdout  # what gave way is said


@pytest.mark.parametrize("args", [["event", "list"], ["contract", "view", "{signed}"]])
def test_places_wrap_between_words_only(narrow, args):
    r = narrow(*[a.format(**narrow.world.ids) for a in args], "--format", "table")
    assert r.exit_code == 0, r.stderr
    assert max(len(line) for line in r.stdout.splitlines()) <= 80
    drawn = cells(r.stdout)
    for word in PLACE.split():
        assert any(word in cell.split() for cell in drawn), (word, r.stdout)


def test_employee_list_keeps_every_email_whole(narrow):
    r = narrow("employee", "list", "--format", "table")
    assert r.exit_code == 0, r.stderr
    assert "mona@epic.test" in cells(r.stdout)
