"""Money, in and out: one grammar (validate.AMOUNT_HELP), exact in JSON and CSV.

What a table prints (18,500.00 €) is accepted back; a comma that could be a
thousands separator or a decimal comma is refused with a hint, never guessed;
JSON amounts are numbers with exactly two decimals, CSV writes 18500.00 and
booleans true/false.
"""

from __future__ import annotations

import csv
import io
import json
import re
from decimal import Decimal

import pytest

from epic_events import render, validate
from epic_events.render import Column
from tests.cli.conftest import admin_one

ACCEPTED = {
    "18,500.00 €": "18500.00",
    "18,500.00": "18500.00",
    "€18,500.00": "18500.00",
    "18500": "18500.00",
    "18500.5": "18500.50",
    "18500.50": "18500.50",
    " 18500 ": "18500.00",
    "1,234,567.8": "1234567.80",
    "0": "0.00",
    "0.05": "0.05",
    "9999999999.99": "9999999999.99",
}
REFUSED = {
    "1,000": "ambiguous",
    "1,5": "ambiguous",
    "1500,50": "ambiguous",
    "12,345,678": "ambiguous",
    "1e2": "not an amount",
    "1E2": "not an amount",
    "Infinity": "not an amount",
    "NaN": "not an amount",
    "0x10": "not an amount",
    "18 500": "not an amount",
    ".5": "not an amount",
    "5.": "not an amount",
    "+5": "not an amount",
    "1,00.00": "not an amount",
    "€": "not an amount",
    "": "not an amount",
    "10.005": "at most two decimals",
    "10.500": "at most two decimals",
    "-1": "must not be negative",
    "-1,000.00 €": "must not be negative",
    "10000000000": "at most 9999999999.99",
}


@pytest.mark.parametrize("typed, stored", list(ACCEPTED.items()))
def test_an_accepted_amount_is_stored_exactly(cli, typed, stored):
    cli.login("manager")
    r = cli("contract", "create", "--client", cli.world.ids["client"], "--total", typed, "--format", "json")
    assert r.exit_code == 0, r.stderr
    assert f'"total_amount": {stored},' in r.stdout
    assert admin_one(
        cli.world,
        "select total_amount from epic_events.contract where id = %s",
        (json.loads(r.stdout)["id"],),
    ) == (Decimal(stored),)


@pytest.mark.parametrize("typed, reason", list(REFUSED.items()))
def test_a_refused_amount_says_why_and_changes_nothing(cli, typed, reason):
    cli.login("manager")
    before = admin_one(cli.world, "select count(*) from epic_events.contract")
    r = cli("contract", "create", "--client", cli.world.ids["client"], "--total", typed)
    assert r.exit_code == 1
    assert r.stderr.startswith("error: --total: ") and reason in r.stderr, r.stderr
    assert admin_one(cli.world, "select count(*) from epic_events.contract") == before


@pytest.mark.parametrize("typed, hint", [("1,000", "write 1000 or 1,000.00"), ("1,5", "write 1.5")])
def test_an_ambiguous_amount_gets_a_hint(cli, typed, hint):
    cli.login("sales")
    r = cli("contract", "update", cli.world.ids["contract"], "--pay", typed)
    assert r.exit_code == 1
    assert hint in r.stderr and "a point before the cents" in r.stderr
    assert admin_one(
        cli.world, "select amount_due from epic_events.contract where id = %s", (cli.world.ids["contract"],)
    ) == (Decimal("400.00"),)


def test_what_a_table_prints_reads_back(cli):
    cli.login("sales")
    contract = cli.world.ids["contract"]
    cli.json("contract", "update", contract, "--total", "18500")  # 600 already paid: 17,900 due
    cli.json("contract", "pay", contract, "--amount", "5554.4", "--method", "transfer")
    card = cli("contract", "view", contract, "--format", "table").stdout
    total, due = re.findall(r"[0-9][0-9,]*\.[0-9]{2} €", card)[:2]
    assert (total, due) == ("18,500.00 €", "12,345.60 €")
    updated = cli("contract", "update", contract, "--total", total, "--format", "json")
    assert updated.exit_code == 0, updated.stderr
    assert '"total_amount": 18500.00' in updated.stdout and '"amount_due": 12345.60' in updated.stdout
    paid = cli("contract", "pay", contract, "--amount", due, "--method", "card", "--format", "json")
    assert paid.exit_code == 0, paid.stderr
    assert '"amount": 12345.60' in paid.stdout and '"amount_due": 0.00' in paid.stdout


def test_every_amount_option_states_the_grammar_in_its_help(cli):
    for command, amount_options in (
        (("contract", "create"), ("--total", "--due")),
        (("contract", "update"), ("--total", "--pay")),
        (("contract", "pay"), ("--amount",)),
    ):
        text = " ".join(cli(*command, "--help").stdout.split())
        for option in amount_options:
            described = text.split(f"{option} AMOUNT", 1)[1].split(" --", 1)[0]
            assert "18,500.00" in described and "1,000 is ambiguous" in described, (command, option)


# --- output ------------------------------------------------------------------------------------


def test_json_amounts_have_exactly_two_decimals_nested_ones_too(cli):
    cli.login("manager")
    cli.json("contract", "update", cli.world.ids["contract"], "--total", "12000")  # 600 paid
    cli.json("contract", "pay", cli.world.ids["contract"], "--amount", "10101.5", "--method", "cash")
    view = cli("contract", "view", cli.world.ids["contract"], "--format", "json").stdout
    assert '"total_amount": 12000.00,' in view and '"amount_due": 1298.50,' in view
    listed = cli("contract", "list", "--format", "json").stdout
    assert '"total_amount": 12000.00,' in listed and not re.search(r"\d\.\d[,\n]", listed)
    # A client's contracts, nested as JSON by the database, too.
    client = cli("client", "view", cli.world.ids["client"], "--format", "json").stdout
    assert '"total_amount": 12000.00' in client and '"amount_due": 1298.50' in client
    assert not re.search(r'"(total_amount|amount_due)": \d+(\.\d)?[,\n}]', client), client
    # Still plain JSON numbers.
    assert json.loads(view)["amount_due"] == 1298.5


def test_csv_amounts_have_two_decimals_and_booleans_are_true_or_false(cli):
    cli.login("sales")
    rows = list(csv.DictReader(io.StringIO(cli("contract", "list", "--format", "csv").stdout)))
    by_id = {int(r["id"]): r for r in rows}
    unsigned, signed = by_id[cli.world.ids["contract"]], by_id[cli.world.ids["signed"]]
    assert (unsigned["total_amount"], unsigned["amount_due"]) == ("1000.00", "400.00")
    assert (unsigned["is_signed"], signed["is_signed"]) == ("false", "true")
    employees = cli("employee", "list", "--format", "csv").stdout
    assert ",true," in employees and "True" not in employees


def test_negative_amounts_stay_numbers_in_csv_only_text_is_neutralised():
    """No column holds a negative amount today (a refund may); a number is never
    prefixed, a text cell starting like a formula is."""
    columns = [Column("amount", "Amount", "money"), Column("note", "Note"), Column("ok", "Ok", "bool")]
    out = render.to_csv(
        [
            {"amount": Decimal("-250.00"), "note": "-250.00", "ok": False},
            {"amount": Decimal("0.50"), "note": "=1+1", "ok": True},
        ],
        columns,
    )
    assert out.splitlines() == ["amount,note,ok", "-250.00,'-250.00,false", "0.50,'=1+1,true"]


def test_the_grammar_is_one_function():
    """The prompts, the options and the payment all go through validate.amount."""
    assert validate.amount("pay", "18,500.00 €") == Decimal("18500.00")
    assert validate.amount("refund", "-1,000.50", negative=True) == Decimal("-1000.50")
    assert str(validate.amount("pay", "-0")) == "0.00"
