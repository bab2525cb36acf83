"""Offboarding through the CLI: `employee deactivate --reassign-to`, the question without
it, what `employee view` says someone holds, and leavers' events in `event list --no-support`
and the management dashboard.

In the World, Sam (sales) follows `client` with `contract` and `signed`; Sara (sales2)
follows `client2` with `contract2`; Suzy (support) runs `event`, Stan (support2)
`event2`, both in 2027; `event_unassigned` has no support contact.
"""

from datetime import UTC, datetime, timedelta

import pytest

from tests.cli.conftest import admin_one


def contact_counts(cli, key: str) -> tuple:
    return admin_one(
        cli.world,
        """
        select (select count(*) from epic_events.client where sales_contact_id = %(id)s),
               (select count(*) from epic_events.contract where sales_contact_id = %(id)s),
               (select count(*) from epic_events.event where support_contact_id = %(id)s),
               (select is_active from epic_events.employee where id = %(id)s)""",
        {"id": cli.world.ids[key]},
    )


def test_employee_view_says_what_someone_still_holds(cli):
    cli.login("support")
    sam = cli.json("employee", "view", cli.world.ids["sales"])
    assert (sam["holds_clients"], sam["holds_contracts"], sam["holds_future_events"]) == (1, 2, 0)
    suzy = cli.json("employee", "view", cli.world.ids["support"])
    assert (suzy["holds_clients"], suzy["holds_contracts"], suzy["holds_future_events"]) == (0, 0, 1)
    table = cli("employee", "view", cli.world.ids["sales"], "--format", "table")
    assert "Clients held" in table.stdout and "Future events held" in table.stdout


def test_a_sales_leaver_hands_over_in_one_command(cli, monkeypatch):
    cli.login("manager")
    r = cli(
        "employee",
        "deactivate",
        cli.world.ids["sales"],
        "--reassign-to",
        cli.world.ids["sales2"],
        "--format",
        "json",
    )
    assert r.exit_code == 0, r.stderr
    assert (
        r.stderr
        == f"Handed over to employee {cli.world.ids['sales2']}: 1 clients, 2 contracts, 0 future events.\n"
    )
    out = r.json
    assert out["is_active"] is False
    assert (out["clients_reassigned"], out["contracts_reassigned"], out["events_reassigned"]) == (1, 2, 0)
    assert contact_counts(cli, "sales") == (0, 0, 0, False)
    assert contact_counts(cli, "sales2") == (2, 3, 0, True)
    assert cli.json("employee", "view", cli.world.ids["sales"])["holds_clients"] == 0


def test_a_support_leaver_hands_over_future_events_only(cli):
    start = datetime.now(UTC) - timedelta(days=2)
    admin_one(
        cli.world,
        "insert into epic_events.event (contract_id, name, support_contact_id, starts_at,"
        " ends_at, location, attendees) values (%s, 'Past', %s, %s, %s, 'Lyon', 5) returning id",
        (cli.world.ids["signed"], cli.world.ids["support"], start, start + timedelta(hours=1)),
    )
    cli.login("manager")
    out = cli.json(
        "employee", "deactivate", cli.world.ids["support"], "--reassign-to", cli.world.ids["support2"]
    )
    assert out["events_reassigned"] == 1
    assert contact_counts(cli, "support") == (0, 0, 1, False)  # the past event keeps who ran it
    assert contact_counts(cli, "support2") == (0, 0, 2, True)


@pytest.mark.parametrize(
    ("leaver", "target", "message"),
    [
        ("sales", "support", "reassign-to: employee {target} is not an active sales employee"),
        ("support", "sales2", "reassign-to: employee {target} is not an active support employee"),
        ("sales", "sales", "reassign-to: employee {target} cannot take over from themself"),
    ],
)
def test_the_target_must_be_an_active_colleague_of_the_same_department(cli, leaver, target, message):
    before = (contact_counts(cli, leaver), contact_counts(cli, target))
    cli.login("manager")
    r = cli("employee", "deactivate", cli.world.ids[leaver], "--reassign-to", cli.world.ids[target])
    assert r.exit_code == 1
    assert r.stderr == f"error: {message.format(target=cli.world.ids[target])}\n"
    assert (contact_counts(cli, leaver), contact_counts(cli, target)) == before


def test_an_inactive_target_is_refused(cli):
    cli.login("manager")
    cli.json("employee", "deactivate", cli.world.ids["sales2"], "--yes")
    r = cli("employee", "deactivate", cli.world.ids["sales"], "--reassign-to", cli.world.ids["sales2"])
    assert r.exit_code == 1 and "is not an active sales employee" in r.stderr
    assert contact_counts(cli, "sales") == (1, 2, 0, True)


def test_without_reassign_to_a_script_must_say_yes_and_is_told_how_many(cli):
    cli.login("manager")
    r = cli("employee", "deactivate", cli.world.ids["sales"])
    assert r.exit_code == 1
    assert r.stderr == (
        f"error: employee {cli.world.ids['sales']} still holds 1 clients and 2 contracts:"
        " pass --reassign-to ID to hand them over, or --yes to deactivate anyway\n"
    )
    assert contact_counts(cli, "sales")[3] is True
    # Someone who holds nothing is deactivated without a question.
    assert cli.json("employee", "deactivate", cli.world.ids["manager2"])["is_active"] is False


def test_without_reassign_to_a_person_is_asked(cli):
    cli.login("manager")
    cli.as_terminal()
    r = cli("employee", "deactivate", cli.world.ids["support"], input="n\n")
    # "No" is exit 1, as for every confirmation (130 is an interruption).
    assert r.exit_code == 1 and "still holds 1 future events" in r.stderr
    assert "was not deactivated" in r.stderr
    assert contact_counts(cli, "support")[3] is True
    r = cli("employee", "deactivate", cli.world.ids["support"], "--format", "json", input="y\n")
    assert r.exit_code == 0, r.stderr
    assert contact_counts(cli, "support") == (0, 0, 1, False)  # still their contact, on record


def test_events_of_a_leaver_need_support_in_lists_and_on_the_dashboard(cli):
    cli.login("manager")
    soon = datetime.now(UTC) + timedelta(days=5)
    admin_one(
        cli.world,
        "update epic_events.event set starts_at = %s, ends_at = %s where id = %s returning id",
        (soon, soon + timedelta(hours=2), cli.world.ids["event"]),
    )
    cli.json("employee", "deactivate", cli.world.ids["support"], "--yes")
    listed = [e["id"] for e in cli.json("event", "list", "--no-support")]
    assert listed == sorted([cli.world.ids["event"], cli.world.ids["event_unassigned"]])
    dashboard = cli("--format", "table")
    assert dashboard.exit_code == 0, dashboard.stderr
    assert "Need a support contact" in dashboard.stdout and "Event event" in dashboard.stdout
