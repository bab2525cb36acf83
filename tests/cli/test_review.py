"""`epic-events db review` through the CLI (the matrix itself: tests/db/test_review.py)."""

from __future__ import annotations

import json


def test_review_json_for_scripts(cli):
    r = cli("db", "review", "--format", "json")
    assert r.exit_code == 0, r.stderr
    report = json.loads(r.stdout)
    assert set(report) == {"matrix", "functions", "problems"}
    assert report["problems"] == []
    cell = next(
        c
        for c in report["matrix"]
        if (c["table"], c["operation"], c["department"]) == ("client", "update", "sales")
    )
    assert cell["outcome"] == "own rows" and cell["held"] == ["client:update:own"]


def test_review_table_for_people(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "220")
    r = cli("db", "review", "--format", "table")
    assert r.exit_code == 0, r.stderr
    assert "Effective rights" in r.stdout and "contract_update" in r.stdout
    assert "schema_version()" in r.stdout and "pg_catalog, epic_events, pg_temp" in r.stdout
    assert r.stdout.rstrip().endswith("No house rule broken.")


def test_review_needs_the_admin_connection(cli, monkeypatch):
    monkeypatch.delenv("EPIC_EVENTS_ADMIN_DSN")
    r = cli("db", "review")
    assert r.exit_code == 6 and "EPIC_EVENTS_ADMIN_DSN is not set" in r.stderr
