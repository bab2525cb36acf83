"""Shell completion (Click's own), including ids completed from the database."""

from click.testing import CliRunner

from epic_events.cli.main import cli as root


def complete(words: str) -> list[str]:
    """What bash would be offered for the last word of `words`."""
    parts = words.split(" ")
    env = {"_EPIC_EVENTS_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(len(parts) - 1)}
    result = CliRunner().invoke(root, [], env=env, prog_name="epic-events")
    return [line.split(",", 1)[1] for line in result.output.splitlines() if "," in line]


def test_commands_and_options_complete():
    assert {"client", "contract", "event", "login"} <= set(complete("epic-events "))
    assert "--unsigned" in complete("epic-events contract list --uns")


def test_ids_complete_from_the_database_for_the_logged_in_employee(cli):
    cli.login("support")
    ids = {str(cli.world.ids[k]) for k in ("client", "client2")}
    assert set(complete("epic-events client view ")) == ids
    first = str(cli.world.ids["event"])
    assert first in complete(f"epic-events event update {first[0]}")
    assert complete("epic-events client view x") == []


def test_not_logged_in_completes_nothing_and_does_not_fail(cli):
    assert complete("epic-events client view ") == []


def test_departments_complete_without_the_database():
    assert complete("epic-events employee create --department ") == ["management", "sales", "support"]
    assert complete("epic-events employee update 3 --department s") == ["sales", "support"]
    assert complete("epic-events role grant ") == ["management", "sales", "support"]


def test_role_grant_completes_permission_codes(cli):
    cli.login("manager")
    assert complete("epic-events role grant support event:u") == ["event:update", "event:update:assigned"]
    assert "client:create:own" in complete("epic-events role revoke sales ")


def test_assign_support_offers_support_employees_only(cli):
    cli.login("manager")
    ids = cli.world.ids
    offered = complete(f"epic-events event assign-support {ids['event']} ")
    assert set(offered) == {str(ids["support"]), str(ids["support2"])}
