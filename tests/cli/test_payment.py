"""The payment ledger through the CLI: `contract pay`, `contract payments`, `contract update --pay`.

The World's contracts have a total of 1000 and 400 due: 600 is their opening payment.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from tests.cli.conftest import admin_one

PAYMENT_KEYS = [
    "id",
    "contract_id",
    "amount",
    "paid_on",
    "method",
    "reference",
    "recorded_by",
    "recorded_by_name",
    "recorded_at",
]


def due(cli, key="contract") -> Decimal:
    return admin_one(
        cli.world, "select amount_due from epic_events.contract where id = %s", (cli.world.ids[key],)
    )[0]


def payments_in_ledger(cli, key="contract") -> int:
    return admin_one(
        cli.world, "select count(*) from epic_events.payment where contract_id = %s", (cli.world.ids[key],)
    )[0]


def test_sales_record_a_payment_on_their_contract_and_the_amount_due_follows(cli):
    cli.login("sales")
    paid = cli.json(
        "contract",
        "pay",
        cli.world.ids["contract"],
        "--amount",
        "150.50",
        "--method",
        "transfer",
        "--on",
        "27/11/2026",
        "--reference",
        "VIR-118",
    )
    assert list(paid) == PAYMENT_KEYS + ["total_amount", "amount_due"]
    assert {
        k: paid[k]
        for k in ("amount", "paid_on", "method", "reference", "recorded_by", "recorded_by_name", "amount_due")
    } == {
        "amount": 150.5,
        "paid_on": "2026-11-27",
        "method": "transfer",
        "reference": "VIR-118",
        "recorded_by": cli.world.ids["sales"],
        "recorded_by_name": "Sam Sales",
        "amount_due": 249.5,
    }
    assert due(cli) == Decimal("249.50")


def test_payments_lists_the_ledger_with_what_was_paid_to_date(cli):
    cli.login("manager")
    cli.json("contract", "pay", cli.world.ids["contract"], "--amount", "100", "--method", "cash")
    rows = cli.json("contract", "payments", cli.world.ids["contract"])
    assert [(r["amount"], r["method"], r["reference"], r["recorded_by"]) for r in rows] == [
        (600.0, "other", "opening balance", None),
        (100.0, "cash", None, cli.world.ids["manager"]),
    ]
    assert list(rows[0]) == PAYMENT_KEYS
    table = cli("contract", "payments", cli.world.ids["contract"], "--format", "table")
    assert table.exit_code == 0
    assert "Paid to date" in table.stdout and "700.00 €" in table.stdout
    assert "paid 700.00 € of 1,000.00 €; 300.00 € due" in table.stdout
    csv = cli("contract", "payments", cli.world.ids["contract"], "--format", "csv")
    assert csv.stdout.splitlines()[0] == ",".join(PAYMENT_KEYS)
    assert len(csv.stdout.splitlines()) == 3


def test_everyone_reads_the_ledger(cli):
    cli.login("support")
    assert len(cli.json("contract", "payments", cli.world.ids["contract2"])) == 1


def test_payments_of_a_missing_contract_is_not_found(cli):
    cli.login("support")
    r = cli("contract", "payments", "999999")
    assert r.exit_code == 4 and "not found" in r.stderr


@pytest.mark.parametrize(
    ("who", "key", "rule"),
    [
        ("sales", "contract2", "payment:create:own"),  # Sara's contract
        ("support", "contract", "payment:create"),
    ],
)
def test_only_the_sales_contact_and_management_record_payments(cli, who, key, rule):
    cli.login(who)
    r = cli("contract", "pay", cli.world.ids[key], "--amount", "10", "--method", "cash")
    assert r.exit_code == 3 and rule in r.stderr
    assert payments_in_ledger(cli, key) == 1 and due(cli, key) == Decimal("400.00")


def test_a_correction_is_a_negative_payment_by_management_only(cli):
    cli.login("sales")
    r = cli("contract", "pay", cli.world.ids["contract"], "--amount", "-50", "--method", "other")
    assert r.exit_code == 3 and "payment:correct" in r.stderr
    cli.login("manager")
    fixed = cli.json(
        "contract",
        "pay",
        cli.world.ids["contract"],
        "--amount",
        "-50",
        "--method",
        "other",
        "--reference",
        "cheque 118 bounced",
    )
    assert (fixed["amount"], fixed["amount_due"]) == (-50.0, 450.0)
    r = cli("contract", "pay", cli.world.ids["contract"], "--amount", "-550.01", "--method", "other")
    assert r.exit_code == 1
    assert r.stderr.startswith("error: --amount: a correction of 550.01 is more than the 550.00 paid")
    assert payments_in_ledger(cli) == 2


def test_a_payment_above_what_is_due_is_refused(cli):
    cli.login("sales")
    r = cli("contract", "pay", cli.world.ids["contract"], "--amount", "400.01", "--method", "card")
    assert r.exit_code == 1
    assert r.stderr == (
        "error: --amount: a payment of 400.01 is more than the 400.00 still due"
        f" on contract {cli.world.ids['contract']}\n"
    )
    assert (
        cli.json("contract", "pay", cli.world.ids["contract"], "--amount", "400", "--method", "card")[
            "amount_due"
        ]
        == 0.0
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--amount", "0", "--method", "cash"), "--amount: must not be 0"),
        (("--amount", "lots", "--method", "cash"), "--amount: not an amount"),
        (("--amount", "1.005", "--method", "cash"), "--amount: at most two decimals"),
        (("--amount", "10", "--method", "cash", "--on", "someday"), "--on: not a date"),
        (
            (
                "--amount",
                "10",
                "--method",
                "cash",
                "--on",
                (date.today() + timedelta(days=3)).strftime("%d/%m/%Y"),
            ),
            "--on: ",
        ),
        (("--amount", "10", "--method", "cash", "--reference", "line\nbreak"), "--reference: "),
        (("--amount", "10"), "missing option --method"),
        (("--method", "cash"), "missing option --amount"),
    ],
)
def test_bad_payments_are_refused_and_record_nothing(cli, options, message):
    cli.login("sales")
    r = cli("contract", "pay", cli.world.ids["contract"], *options)
    assert r.exit_code == 1, r.stderr
    assert r.stderr.startswith(f"error: {message}")
    assert payments_in_ledger(cli) == 1 and due(cli) == Decimal("400.00")


def test_pay_asks_the_amount_and_the_method_on_a_terminal(cli):
    cli.login("sales")
    cli.as_terminal()
    r = cli("contract", "pay", cli.world.ids["contract"], "--format", "json", input="0\n25\ncrypto\ncheque\n")
    assert r.exit_code == 0, r.stderr
    assert "--amount: must not be 0" in r.stderr and "method: must be one of" in r.stderr
    assert due(cli) == Decimal("375.00")


def test_update_pay_goes_through_the_ledger(cli):
    cli.login("sales")
    assert cli.json("contract", "update", cli.world.ids["contract"], "--pay", "40")["amount_due"] == 360.0
    last = cli.json("contract", "payments", cli.world.ids["contract"])[-1]
    assert (last["amount"], last["method"], last["recorded_by"]) == (40.0, "other", cli.world.ids["sales"])


def test_revoking_payment_create_own_stops_sales_at_once(cli):
    cli.login("sales")
    admin_one(
        cli.world,
        "delete from epic_events.department_permission where department = 'sales'"
        " and permission_code = 'payment:create:own' returning 1",
    )
    r = cli("contract", "pay", cli.world.ids["contract"], "--amount", "10", "--method", "cash")
    assert r.exit_code == 3 and "payment:create:own" in r.stderr
    assert payments_in_ledger(cli) == 1
