"""Issue 14, item 5: numbers for management, each figure checked by hand.

The fixture (2025, far from the World's own rows, made now) is inserted by the
admin with session_replication_role = replica, so that creation, signing and
payment dates are the ones written here; amount_due is written as the ledger
would leave it (total - payments).

    contract  sales  created     signed      total   payments                    due
    A         Sam    2025-01-10  2025-02-03  1000    500 on 02-10, 200 on 03-05  300
    B         Sam    2025-02-20  —           2000    —                           2000
    C         Sara   2025-02-25  2025-02-28  3000    1000 on 03-01, -250 on 03-15 2250
    D         Sam    2024-12-31  2025-01-05   400    400 on 01-06                  0

    event  starts (UTC)        attendees  support
    E1     2025-03-03 10:00    100        Suzy
    E2     2025-03-05 10:00     50        none
    E3     2025-03-12 10:00     30        Stan, deactivated since
    E4     2025-04-01 10:00     10        none  (after the period)
"""

import json
import time
from decimal import Decimal

import pytest

from epic_events import queries
from epic_events.cli import report as report_cli

PERIOD = ("--from", "01/01/2025", "--to", "31/03/2025")
PARAMS = {"starts_on": "2025-01-01", "ends_on": "2025-03-31", "utc_offset": "0"}

BY_MONTH = [
    # month, created, signed, signed_amount, collected, due
    ("2025-01-01", 1, 1, "400.00", "400.00", "0.00"),
    ("2025-02-01", 2, 2, "4000.00", "500.00", "2550.00"),
    ("2025-03-01", 0, 0, "0.00", "950.00", "0.00"),
    (None, 3, 3, "4400.00", "1850.00", "2550.00"),
]
BY_SALES = [
    ("sales2", 1, 1, "3000.00", "750.00", "2250.00"),
    ("sales", 2, 2, "1400.00", "1100.00", "300.00"),
    (None, 3, 3, "4400.00", "1850.00", "2550.00"),
]
BY_WEEK = [
    # week, events, attendees, without_support, share
    ("2025-03-03", 2, 150, 1, Decimal("0.5")),
    ("2025-03-10", 1, 30, 1, Decimal("1.0")),
    (None, 3, 180, 2, Decimal("0.6667")),
]


@pytest.fixture
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def books(world, utc):
    ids = world.ids
    with world.db.admin() as conn:
        conn.execute("set session_replication_role = replica")

        def contract(sales, created, signed, total, due):
            return conn.execute(
                "insert into epic_events.contract (client_id, sales_contact_id, total_amount,"
                " amount_due, is_signed, signed_at, created_at, updated_at)"
                " values (%s, %s, %s, %s, %s, %s, %s, %s) returning id",
                (
                    ids["client"] if sales == "sales" else ids["client2"],
                    ids[sales],
                    total,
                    due,
                    signed is not None,
                    signed and f"{signed} 12:00+00",
                    f"{created} 12:00+00",
                    f"{created} 12:00+00",
                ),
            ).fetchone()[0]

        def pay(contract_id, amount, on):
            conn.execute(
                "insert into epic_events.payment (contract_id, amount, paid_on, method,"
                " recorded_by) values (%s, %s, %s, 'transfer', %s)",
                (contract_id, amount, on, ids["manager"]),
            )

        a = contract("sales", "2025-01-10", "2025-02-03", 1000, 300)
        contract("sales", "2025-02-20", None, 2000, 2000)
        c = contract("sales2", "2025-02-25", "2025-02-28", 3000, 2250)
        d = contract("sales", "2024-12-31", "2025-01-05", 400, 0)
        for contract_id, amount, on in (
            (a, 500, "2025-02-10"),
            (a, 200, "2025-03-05"),
            (c, 1000, "2025-03-01"),
            (c, -250, "2025-03-15"),
            (d, 400, "2025-01-06"),
        ):
            pay(contract_id, amount, on)
        for name, starts, attendees, support in (
            ("E1", "2025-03-03", 100, "support"),
            ("E2", "2025-03-05", 50, None),
            ("E3", "2025-03-12", 30, "support2"),
            ("E4", "2025-04-01", 10, None),
        ):
            conn.execute(
                "insert into epic_events.event (contract_id, name, support_contact_id, starts_at,"
                " ends_at, location, attendees) values (%s, %s, %s, %s, %s, 'Lyon', %s)",
                (
                    a,
                    name,
                    ids[support] if support else None,
                    f"{starts} 10:00+00",
                    f"{starts} 12:00+00",
                    attendees,
                ),
            )
        conn.execute("update epic_events.employee set is_active = false where id = %s", (ids["support2"],))
    return world


def money(row, *keys):
    return tuple(str(row[k]) for k in keys)


def figures(cli, *args):
    """The report as JSON, amounts read exactly (18500.00 stays 18500.00)."""
    r = cli(*args, "--format", "json")
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout, parse_float=Decimal)


def test_sales_by_month_against_the_hand_computed_fixture(cli, books):
    cli.login("manager")
    rows = figures(cli, "report", "sales", *PERIOD)
    assert [
        (r["month"], r["created"], r["signed"]) + money(r, "signed_amount", "collected", "due") for r in rows
    ] == BY_MONTH
    # The same through --by month, and as CSV.
    assert figures(cli, "report", "sales", *PERIOD, "--by", "month") == rows
    csv = cli("report", "sales", *PERIOD, "--format", "csv").stdout.splitlines()
    assert csv[0] == "month,created,signed,signed_amount,collected,due"
    assert csv[2] == "2025-02-01,2,2,4000.00,500.00,2550.00"
    assert csv[-1] == ",3,3,4400.00,1850.00,2550.00"


def test_sales_by_sales_contact_against_the_hand_computed_fixture(cli, books):
    cli.login("manager")
    ids = books.ids
    rows = figures(cli, "report", "sales", *PERIOD, "--by", "sales-contact")
    expected = [(ids[k] if k else None, n, s, *m) for k, n, s, *m in BY_SALES]
    assert [
        (r["sales_contact_id"], r["created"], r["signed"]) + money(r, "signed_amount", "collected", "due")
        for r in rows
    ] == expected
    assert [r["sales_contact_name"] for r in rows] == ["Sara Sales", "Sam Sales", None]


def test_events_by_week_against_the_hand_computed_fixture(cli, books):
    cli.login("manager")
    rows = figures(cli, "report", "events", *PERIOD)
    assert [
        (r["week"], r["events"], r["attendees"], r["without_support"], r["without_support_share"])
        for r in rows
    ] == BY_WEEK


def test_a_shorter_period_counts_only_its_days(cli, books):
    cli.login("manager")
    rows = figures(cli, "report", "sales", "--from", "01/03/2025", "--to", "05/03/2025")
    assert [(r["month"], str(r["collected"])) for r in rows] == [
        ("2025-03-01", "1200.00"),
        (None, "1200.00"),
    ]  # 200 + 1000; not the -250 of the 15th
    rows = figures(cli, "report", "events", "--from", "04/03/2025", "--to", "31/03/2025")
    assert [(r["week"], r["events"]) for r in rows] == [("2025-03-03", 1), ("2025-03-10", 1), (None, 2)]


def test_on_a_terminal_tables_and_bar_charts(cli, books):
    cli.login("manager")
    r = cli("report", "sales", *PERIOD, "--format", "table")
    assert r.exit_code == 0, r.stderr
    for text in (
        "Sales · 01/01/2025 to 31/03/2025",
        "02/2025",
        "Total",
        "4,400.00 €",
        "Signed amount",
        "Collected",
        "█",
    ):
        assert text in r.stdout
    r = cli("report", "events", *PERIOD, "--format", "table")
    assert r.exit_code == 0, r.stderr
    for text in ("03/03/2025", "50.0 %", "66.7 %", "Events", "Without support", "█"):
        assert text in r.stdout
    r = cli("report", "sales", "--from", "01/01/2020", "--to", "31/12/2020", "--format", "table")
    assert r.exit_code == 0 and "nothing in this period" in r.stdout


@pytest.mark.parametrize("who", ["sales", "support"])
@pytest.mark.parametrize(
    "args", [("report", "sales"), ("report", "sales", "--by", "sales-contact"), ("report", "events")]
)
def test_reports_are_managements(cli, books, who, args):
    cli.login(who)
    r = cli(*args, *PERIOD, "--format", "json")
    assert r.exit_code == 3, (r.exit_code, r.stderr)
    assert "report:read" in r.stderr and r.stdout == ""


@pytest.mark.parametrize(
    "query", ["report.sales_by_month", "report.sales_by_sales_contact", "report.events_by_week"]
)
def test_the_rule_holds_in_the_database(books, query):
    """The named query itself, run as each department: no figures without report:read,
    whatever client sends it; the code is data (granted and revoked at run time)."""
    sql = queries.get(query).sql
    assert books.as_("manager").run(sql, PARAMS)
    assert books.as_("sales").run(sql, PARAMS) == []
    assert books.as_("support").run(sql, PARAMS) == []
    with books.db.admin() as conn:
        conn.execute(
            "insert into epic_events.department_permission (department, permission_code)"
            " values ('sales', 'report:read')"
        )
        conn.execute(
            "delete from epic_events.department_permission"
            " where department = 'management' and permission_code = 'report:read'"
        )
    total = books.as_("sales").run(sql, PARAMS)[-1]
    assert total.get("signed_amount", Decimal("4400.00")) == Decimal("4400.00")
    assert total.get("events", 3) == 3
    assert books.as_("manager").run(sql, PARAMS) == []


def test_revoking_report_read_refuses_management(cli, books):
    cli.login("manager")
    assert cli("role", "revoke", "management", "report:read").exit_code == 0
    r = cli("report", "events", *PERIOD, "--format", "json")
    assert r.exit_code == 3 and "report:read" in r.stderr
    assert cli("role", "grant", "management", "report:read").exit_code == 0
    assert figures(cli, "report", "events", *PERIOD)[-1]["events"] == 3


def test_period_errors(cli):
    cli.login("manager")
    r = cli("report", "sales", "--from", "02/01/2025", "--to", "01/01/2025")
    assert r.exit_code == 1 and "--to: before --from" in r.stderr
    r = cli("report", "events", "--from", "soon")
    assert r.exit_code == 1 and "--from" in r.stderr


def test_the_default_period_is_this_year(cli, utc):
    cli.login("manager")
    rows = figures(cli, "report", "sales")
    # The World's three contracts were created now, two signed now (1000 each,
    # 400 due: each carries a 600 opening payment, paid today).
    assert money(rows[-1], "signed_amount", "collected", "due") == ("2000.00", "1800.00", "800.00")
    assert (rows[-1]["created"], rows[-1]["signed"]) == (3, 2)
    assert report_cli.SALES_BY.keys() == {"month", "sales-contact"}
