"""`epic-events` with no command: the dashboard, for people and for scripts."""

import json


def test_format_json_prints_the_dashboard_as_json(cli):
    cli.login("manager")
    r = cli("--format", "json")
    assert r.exit_code == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["department"] == "management"
    assert shown["unsigned_count"] == 1 and shown["unsigned_total"] == 1000.0


def test_piped_output_is_json(cli):
    cli.login("sales")
    r = cli()  # Click's runner is not a terminal: as `epic-events | jq`
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["department"] == "sales"


def test_the_sales_dashboard_names_the_support_contact(cli):
    cli.login("sales")
    shown = json.loads(cli().stdout)
    assert {e["support_contact_name"] for e in shown["my_next_events"]} == {"Suzy Support", None}
    table = cli("--format", "table")
    assert table.exit_code == 0, table.stderr
    assert "Suzy Support" in table.stdout
