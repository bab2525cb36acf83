"""SPEC "Default rights" and "Commands" for contracts, through the CLI."""

import json
from decimal import Decimal

import pytest

from epic_events import observability, queries
from epic_events.cli.contract import list_parameters
from tests.cli.conftest import admin_one

RECORD_KEYS = [
    "id",
    "client_id",
    "client_name",
    "sales_contact_id",
    "sales_contact_name",
    "total_amount",
    "amount_due",
    "is_signed",
    "signed_at",
    "created_at",
    "updated_at",
]


def stored(cli, key_or_id):
    """The contract as the database holds it (read as the admin)."""
    contract_id = cli.world.ids.get(key_or_id, key_or_id)
    return admin_one(
        cli.world,
        "select total_amount, amount_due, is_signed, signed_at,"
        " sales_contact_id, updated_at from epic_events.contract where id = %s",
        (contract_id,),
    )


def count_contracts(cli):
    return admin_one(cli.world, "select count(*) from epic_events.contract")[0]


def unsigned_contract_of_sales2(cli) -> int:
    return admin_one(
        cli.world,
        "insert into epic_events.contract (client_id, total_amount) values (%s, 800) returning id",
        (cli.world.ids["client2"],),
    )[0]


# -- reading ----------------------------------------------------------------------
def test_everyone_reads_every_contract(cli):
    ids = cli.world.ids
    for who in ("manager", "sales", "support"):
        cli.login(who)
        assert [c["id"] for c in cli.json("contract", "list")] == sorted(
            [ids["contract"], ids["signed"], ids["contract2"]]
        )


def test_view_shows_the_client_contact_the_sales_contact_and_the_events(cli):
    ids = cli.world.ids
    cli.login("support")
    shown = cli.json("contract", "view", ids["signed"])
    assert shown["client_name"] == "Client of sales"
    assert shown["client_email"] == "client@client.test"
    assert shown["client_phone"] == "+33612345678"
    assert shown["sales_contact_name"] == "Sam Sales"
    assert {e["id"] for e in shown["events"]} == {ids["event"], ids["event_unassigned"]}
    assert {e["support_contact_name"] for e in shown["events"]} == {"Suzy Support", None}


def test_view_as_a_table_draws_the_events(cli):
    cli.login("sales")
    r = cli("contract", "view", cli.world.ids["signed"], "--format", "table")
    assert r.exit_code == 0, r.stderr
    assert "Client of sales" in r.stdout and "Events" in r.stdout and "Suzy" in r.stdout


def test_view_of_a_missing_contract_is_not_found(cli):
    cli.login("sales")
    r = cli("contract", "view", "999999")
    assert r.exit_code == 4 and "contract 999999: not found" in r.stderr


# -- create -----------------------------------------------------------------------
def test_management_creates_an_unsigned_contract_whose_defaults_come_from_the_database(cli):
    cli.login("manager")
    created = cli.json("contract", "create", "--client", cli.world.ids["client"], "--total", "1500")
    assert created["amount_due"] == 1500.0
    assert created["sales_contact_id"] == cli.world.ids["sales"]  # the client's
    assert created["is_signed"] is False and created["signed_at"] is None
    assert stored(cli, created["id"])[:3] == (Decimal("1500.00"), Decimal("1500.00"), False)


def test_management_may_give_the_amount_due_and_the_sales_contact(cli):
    cli.login("manager")
    created = cli.json(
        "contract",
        "create",
        "--client",
        cli.world.ids["client"],
        "--total",
        "1,500.50 €",
        "--due",
        "500",
        "--sales-contact",
        cli.world.ids["sales2"],
    )
    assert (created["total_amount"], created["amount_due"]) == (1500.5, 500.0)
    assert created["sales_contact_id"] == cli.world.ids["sales2"]


@pytest.mark.parametrize("who", ["sales", "support"])
def test_only_management_creates_contracts(cli, who):
    cli.login(who)
    before = count_contracts(cli)
    r = cli("contract", "create", "--client", cli.world.ids["client"], "--total", "1500")
    assert r.exit_code == 3
    assert "contract:create" in r.stderr
    assert count_contracts(cli) == before


def test_a_contract_for_a_missing_client_is_not_found(cli):
    cli.login("manager")
    r = cli("contract", "create", "--client", "999999", "--total", "1500")
    assert r.exit_code == 4 and r.stderr.startswith("error: --client: no such record")
    assert count_contracts(cli) == 3


@pytest.mark.parametrize("who", ["support", "manager"])
def test_the_sales_contact_must_be_a_sales_employee(cli, who):
    cli.login("manager")
    before = count_contracts(cli)
    r = cli(
        "contract",
        "create",
        "--client",
        cli.world.ids["client"],
        "--total",
        "1500",
        "--sales-contact",
        cli.world.ids[who],
    )
    assert r.exit_code == 1
    assert "--sales-contact" in r.stderr and "not an active sales employee" in r.stderr
    assert count_contracts(cli) == before


@pytest.mark.parametrize(
    "options, field",
    [
        (("--total", "-1"), "--total: must not be negative"),
        (("--total", "10.005"), "--total: at most two decimals"),
        (("--total", "lots"), "--total: not an amount"),
        (("--total", "100", "--due", "-5"), "--due: must not be negative"),
        (("--total", "100", "--due", "150"), "--due: 150.00 is more than the total (100.00)"),
    ],
)
def test_bad_amounts_are_refused_and_change_nothing(cli, options, field):
    cli.login("manager")
    before = count_contracts(cli)
    r = cli("contract", "create", "--client", cli.world.ids["client"], *options)
    assert r.exit_code == 1
    assert r.stderr.startswith(f"error: {field}")
    assert count_contracts(cli) == before


def test_missing_option_without_a_terminal_is_an_error_not_a_prompt(cli):
    cli.login("manager")
    r = cli("contract", "create", "--client", cli.world.ids["client"])
    assert r.exit_code == 1 and "--total" in r.stderr


def test_missing_options_are_asked_on_a_terminal(cli):
    cli.login("manager")
    cli.as_terminal()
    r = cli("contract", "create", "--format", "json", input=f"{cli.world.ids['client2']}\n12.345\n2000\n\n")
    assert r.exit_code == 0, r.stderr
    assert "--total: at most two decimals" in r.stderr
    assert '"amount_due": 2000.0' in r.stdout
    assert f'"sales_contact_id": {cli.world.ids["sales2"]}' in r.stdout


# -- update and payments ----------------------------------------------------------
def test_sales_update_their_own_contracts_only(cli):
    cli.login("sales")
    updated = cli.json("contract", "update", cli.world.ids["contract"], "--total", "2000")
    # 600 of the 1000 were paid (the opening payment): the amount due follows the total.
    assert (updated["total_amount"], updated["amount_due"]) == (2000.0, 1400.0)
    before = stored(cli, "contract2")
    r = cli("contract", "update", cli.world.ids["contract2"], "--total", "5000")
    assert r.exit_code == 3
    assert "contract:update:own" in r.stderr
    assert stored(cli, "contract2") == before


def test_support_cannot_update_contracts(cli):
    cli.login("support")
    before = stored(cli, "contract")
    r = cli("contract", "update", cli.world.ids["contract"], "--pay", "10")
    assert r.exit_code == 3 and "payment:create" in r.stderr
    r = cli("contract", "update", cli.world.ids["contract"], "--total", "1200")
    assert r.exit_code == 3 and "contract:update" in r.stderr
    assert stored(cli, "contract") == before


def test_management_updates_any_contract(cli):
    cli.login("manager")
    updated = cli.json("contract", "update", cli.world.ids["contract2"], "--total", "600")
    assert updated["amount_due"] == 0.0
    assert stored(cli, "contract2")[:2] == (Decimal("600.00"), Decimal("0.00"))


def test_payments_lower_the_amount_due_and_none_is_lost(cli):
    cli.login("sales")
    assert cli.json("contract", "update", cli.world.ids["contract"], "--pay", "100")["amount_due"] == 300.0
    assert cli.json("contract", "update", cli.world.ids["contract"], "--pay", "50.50")["amount_due"] == 249.5
    assert stored(cli, "contract")[:2] == (Decimal("1000.00"), Decimal("249.50"))


def test_a_payment_may_settle_the_contract_but_not_exceed_the_amount_due(cli):
    cli.login("sales")
    r = cli("contract", "update", cli.world.ids["contract"], "--pay", "400.01")
    assert r.exit_code == 1
    assert r.stderr.startswith("error: --pay: a payment of 400.01 is more than the 400.00 still due")
    assert stored(cli, "contract")[1] == Decimal("400.00")
    assert cli.json("contract", "update", cli.world.ids["contract"], "--pay", "400")["amount_due"] == 0.0


def test_payments_made_at_the_same_time_both_count(world):
    """Two payments in flight at once: the second waits for the contract's row lock
    (taken by the ledger's trigger), then counts what the first left."""
    import threading

    record = queries.get("contract.record_payment").sql
    first, second = world.as_("sales"), world.as_("manager")

    def pay(actor, amount):
        with actor.conn.cursor() as cur:
            actor._begin(cur)
            cur.execute(
                record,
                {
                    "contract_id": world.ids["contract"],
                    "amount": Decimal(amount),
                    "paid_on": None,
                    "method": "cash",
                    "reference": None,
                },
            )
            return cur.fetchone()

    assert pay(first, "100") is not None  # holds the row lock, not yet committed
    late = threading.Thread(target=lambda: (pay(second, "50"), second.conn.commit()))
    late.start()
    late.join(0.3)
    assert late.is_alive()  # waiting for the first payment
    first.conn.commit()
    late.join(10)
    assert admin_one(
        world, "select amount_due from epic_events.contract where id = %s", (world.ids["contract"],)
    ) == (Decimal("250.00"),)


@pytest.mark.parametrize(
    "options, message",
    [
        (("--pay", "-5"), "--pay: must not be negative"),
        (("--pay", "0"), "--pay: must be more than 0"),
        (("--pay", "1.005"), "--pay: at most two decimals"),
        (("--pay", "5", "--due", "100"), "--due: the amount due follows the payment ledger"),
        (("--due", "100"), "--due: the amount due follows the payment ledger"),
        (("--total", "599.99"), "--total: 599.99 is less than the 600.00 already paid"),
        (("--total", "-1"), "--total: must not be negative"),
    ],
)
def test_bad_updates_are_refused_and_change_nothing(cli, options, message):
    cli.login("manager")
    before = stored(cli, "contract")
    r = cli("contract", "update", cli.world.ids["contract"], *options)
    assert r.exit_code == 1
    assert r.stderr.startswith(f"error: {message}")
    assert stored(cli, "contract") == before


def test_an_update_with_nothing_to_change_is_an_error_without_a_terminal(cli):
    cli.login("manager")
    r = cli("contract", "update", cli.world.ids["contract"])
    assert r.exit_code == 1 and "nothing to update" in r.stderr


def test_update_asks_the_total_on_a_terminal(cli):
    cli.login("manager")
    cli.as_terminal()
    r = cli("contract", "update", cli.world.ids["contract"], "--format", "json", input="1200\n")
    assert r.exit_code == 0, r.stderr
    assert stored(cli, "contract")[:2] == (Decimal("1200.00"), Decimal("600.00"))


def test_a_stale_update_is_a_conflict_and_changes_nothing(cli):
    cli.login("sales")
    seen = cli.json("contract", "view", cli.world.ids["contract"])["updated_at"]
    cli.json("contract", "update", cli.world.ids["contract"], "--total", "1200")
    for late in (("--total", "1300"), ("--pay", "10")):
        r = cli("contract", "update", cli.world.ids["contract"], *late, "--if-updated-at", seen)
        assert r.exit_code == 5 and "changed by someone else" in r.stderr
    assert stored(cli, "contract")[:2] == (Decimal("1200.00"), Decimal("600.00"))


def test_update_of_a_missing_contract_is_not_found(cli):
    cli.login("manager")
    r = cli("contract", "update", "999999", "--pay", "1")
    assert r.exit_code == 4 and "not found" in r.stderr


# -- sign -------------------------------------------------------------------------
def test_sales_sign_their_own_contract_and_the_database_stamps_it(cli, monkeypatch):
    recorded = []
    monkeypatch.setattr(observability, "event", lambda message, **data: recorded.append((message, data)))
    cli.login("sales")
    signed = cli.json("contract", "sign", cli.world.ids["contract"], "--yes")
    assert signed["is_signed"] is True and signed["signed_at"] is not None
    is_signed, signed_at = stored(cli, "contract")[2:4]
    assert is_signed and signed_at is not None
    assert recorded == [
        (
            "contract signed",
            {
                "contract_id": cli.world.ids["contract"],
                "client_id": cli.world.ids["client"],
                "total_amount": "1000.00",
            },
        )
    ]


def test_sales_cannot_sign_another_sales_contract(cli):
    other = unsigned_contract_of_sales2(cli)
    cli.login("sales")
    for contract_id in (other, cli.world.ids["contract2"]):
        before = stored(cli, contract_id)
        r = cli("contract", "sign", contract_id, "--yes")
        assert r.exit_code == 3
        assert "contract:sign:own" in r.stderr
        assert stored(cli, contract_id) == before


def test_the_database_refuses_a_signature_once_the_right_is_revoked(cli):
    admin_one(
        cli.world,
        "delete from epic_events.department_permission where department = 'sales'"
        " and permission_code = 'contract:sign:own' returning 1",
    )
    cli.login("sales")
    r = cli("contract", "sign", cli.world.ids["contract"], "--yes")
    assert r.exit_code == 3 and "contract:sign:own" in r.stderr
    assert stored(cli, "contract")[2] is False
    # Updating the amounts is another right, still held.
    assert cli.json("contract", "update", cli.world.ids["contract"], "--pay", "1")["amount_due"] == 399.0


def test_support_cannot_sign(cli):
    cli.login("support")
    r = cli("contract", "sign", cli.world.ids["contract"], "--yes")
    assert r.exit_code == 3 and "contract:sign" in r.stderr
    assert stored(cli, "contract")[2] is False


def test_management_signs_any_contract_once(cli):
    other = unsigned_contract_of_sales2(cli)
    cli.login("manager")
    assert cli.json("contract", "sign", other, "--yes")["is_signed"] is True
    first = stored(cli, other)
    r = cli("contract", "sign", other, "--yes")
    assert r.exit_code == 5
    assert f"contract {other} is already signed" in r.stderr
    assert stored(cli, other) == first


def test_signing_a_missing_contract_is_not_found(cli):
    cli.login("manager")
    r = cli("contract", "sign", "999999", "--yes")
    assert r.exit_code == 4 and "not found" in r.stderr


# -- reassign ---------------------------------------------------------------------
def test_management_reassigns_one_contract(cli):
    cli.login("manager")
    moved = cli.json("contract", "reassign", cli.world.ids["contract"], cli.world.ids["sales2"])
    assert moved["sales_contact_id"] == cli.world.ids["sales2"]
    assert moved["sales_contact_name"] == "Sara Sales"
    assert stored(cli, "signed")[4] == cli.world.ids["sales"]  # only that contract moved


@pytest.mark.parametrize("who", ["support", "manager", "inactive sales", "nobody"])
def test_a_contract_goes_only_to_an_active_sales_employee(cli, who):
    if who == "inactive sales":
        admin_one(
            cli.world,
            "update epic_events.employee set is_active = false where id = %s returning id",
            (cli.world.ids["sales2"],),
        )
    employee_id = {"inactive sales": cli.world.ids["sales2"], "nobody": 999999}.get(
        who, cli.world.ids.get(who)
    )
    cli.login("manager")
    r = cli("contract", "reassign", cli.world.ids["contract"], employee_id)
    if who == "nobody":
        assert (r.exit_code, r.stderr) == (4, "error: employee 999999: not found\n")
    else:
        assert r.exit_code == 1
        assert "sales_contact_id" in r.stderr and "not an active sales employee" in r.stderr
    assert stored(cli, "contract")[4] == cli.world.ids["sales"]


@pytest.mark.parametrize("who", ["sales", "support"])
def test_only_management_reassigns_contracts(cli, who):
    cli.login(who)
    r = cli("contract", "reassign", cli.world.ids["contract"], cli.world.ids["sales2"])
    assert r.exit_code == 3 and "contract:update" in r.stderr
    assert stored(cli, "contract")[4] == cli.world.ids["sales"]


# -- delete -----------------------------------------------------------------------
def test_management_deletes_a_contract_without_events_only(cli):
    cli.login("manager")
    r = cli("contract", "delete", cli.world.ids["signed"], "--yes")
    assert r.exit_code == 5
    assert "still referenced by event rows" in r.stderr and "delete its events first" in r.stderr
    assert stored(cli, "signed") is not None
    assert cli("contract", "delete", cli.world.ids["contract"], "--yes").exit_code == 0
    assert stored(cli, "contract") is None


@pytest.mark.parametrize("who", ["sales", "support"])
def test_only_management_deletes_contracts(cli, who):
    cli.login(who)
    r = cli("contract", "delete", cli.world.ids["contract"], "--yes")
    assert r.exit_code == 3 and "contract:delete" in r.stderr
    assert stored(cli, "contract") is not None


def test_delete_needs_yes_without_a_terminal(cli):
    cli.login("manager")
    r = cli("contract", "delete", cli.world.ids["contract"])
    assert r.exit_code == 1 and "--yes" in r.stderr
    assert stored(cli, "contract") is not None


def test_delete_asks_on_a_terminal(cli):
    cli.login("manager")
    cli.as_terminal()
    r = cli("contract", "delete", cli.world.ids["contract"], input="n\n")
    assert r.exit_code != 0 and stored(cli, "contract") is not None
    r = cli("contract", "delete", cli.world.ids["contract"], input="y\n")
    assert r.exit_code == 0 and stored(cli, "contract") is None


# -- filters, paging, shapes ------------------------------------------------------
def listed(cli, *options):
    return [c["id"] for c in cli.json("contract", "list", *options)]


def test_unsigned_filter(cli):
    cli.login("manager")
    assert listed(cli, "--unsigned") == [cli.world.ids["contract"]]


def test_unpaid_filter(cli):
    ids = cli.world.ids
    admin_one(
        cli.world,
        "insert into epic_events.payment (contract_id, amount, method) values (%s, 400, 'cash') returning id",
        (ids["contract2"],),
    )
    cli.login("manager")
    assert listed(cli, "--unpaid") == sorted([ids["contract"], ids["signed"]])


def test_mine_filter_is_the_contracts_one_is_the_sales_contact_of(cli):
    ids = cli.world.ids
    cli.login("sales")
    assert listed(cli, "--mine") == sorted([ids["contract"], ids["signed"]])
    assert listed(cli, "--mine", "--unsigned") == [ids["contract"]]
    cli.login("sales2")
    assert listed(cli, "--mine") == [ids["contract2"]]
    assert listed(cli, "--mine", "--unsigned") == []


def test_client_filter(cli):
    cli.login("support")
    assert listed(cli, "--client", cli.world.ids["client2"]) == [cli.world.ids["contract2"]]


def test_list_pages_and_sorts(cli):
    ids = cli.world.ids
    admin_one(
        cli.world,
        "insert into epic_events.payment (contract_id, amount, method) values (%s, 350, 'cash') returning id",
        (ids["signed"],),
    )
    cli.login("manager")
    assert listed(cli, "--sort", "amount_due") == [ids["signed"], ids["contract"], ids["contract2"]]
    assert listed(cli, "--sort", "amount_due", "--desc") == [ids["contract2"], ids["contract"], ids["signed"]]
    assert listed(cli, "--desc", "--limit", "2") == [ids["contract2"], ids["signed"]]
    assert listed(cli, "--limit", "2", "--page", "2") == [ids["contract2"]]
    assert listed(cli, "--limit", "1", "--offset", "1") == [ids["signed"]]
    r = cli("contract", "list", "--limit", "2", "--format", "table")
    assert r.exit_code == 0 and "more with --offset 2" in r.stdout


def test_json_keys_are_the_data_model_columns(cli):
    cli.login("sales")
    listed_ = cli.json("contract", "list")
    assert all(list(c) == RECORD_KEYS for c in listed_)
    one = cli.json("contract", "view", cli.world.ids["contract"])
    assert list(one) == RECORD_KEYS[:3] + ["client_email", "client_phone"] + RECORD_KEYS[3:] + ["events"]
    assert one["total_amount"] == 1000.0 and one["amount_due"] == 400.0


def test_csv_shape(cli):
    cli.login("sales")
    lines = cli("contract", "list", "--format", "csv").stdout.splitlines()
    assert lines[0] == ",".join(RECORD_KEYS)
    assert len(lines) == 4


# -- the plans behind the filters -------------------------------------------------
# A realistic spread: 200 sales employees, 400 clients, 6,000 contracts of which
# a fifth are unsigned and a quarter not fully paid. With a handful of rows
# the planner rightly reads the whole table; here it must pick the index.
BULK = """
insert into epic_events.employee (full_name, email, department, password_salt, password_verifier)
select 'Extra sales ' || g, 'extra-sales-' || g || '@epic.test', 'sales', '$2b$04$' || repeat('x', 22), sha256('x')
  from generate_series(1, 200) g;
insert into epic_events.client (full_name, email, sales_contact_id)
select 'Bulk client ' || g, 'bulk' || g || '@client.test', s.id
  from generate_series(0, 399) g
  join (select id, row_number() over (order by id) - 1 as n, count(*) over () as total
          from epic_events.employee
         where department = 'sales') s on s.n = g % s.total;
insert into epic_events.contract (client_id, total_amount, amount_due, is_signed)
select c.id, 1000, case when g % 4 = 0 then 100 else 0 end, g % 5 <> 0
  from generate_series(0, 5999) g
  join (select id, row_number() over (order by id) - 1 as n
          from epic_events.client
         where full_name like 'Bulk client %') c on c.n = g % 400;
analyze epic_events.employee, epic_events.client, epic_events.contract;
"""


def indexes_used(actor, dotted: str, params: dict) -> set[str]:
    """Run EXPLAIN of a named query as this employee (their role, RLS and all)."""
    plan = actor.one("explain (format json) " + queries.get(dotted).sql, params)["QUERY PLAN"]
    found, todo = set(), [plan[0]["Plan"]]
    while todo:
        node = todo.pop()
        if "Index Name" in node:
            found.add(node["Index Name"])
        todo.extend(node.get("Plans", []))
    return found


def test_contract_list_filters_are_served_by_their_indexes(world):
    with world.db.admin() as conn:
        conn.execute(BULK)
    cases = [
        ("manager", {}, "contract_pkey"),
        ("manager", {"unsigned": True}, "contract_unsigned_all_idx"),
        ("sales", {"unsigned": True, "mine": True}, "contract_unsigned_idx"),
        ("manager", {"unpaid": True}, "contract_unpaid_all_idx"),
        ("sales", {"unpaid": True, "mine": True}, "contract_unpaid_idx"),
        ("sales", {"mine": True}, "contract_sales_contact_idx"),
        ("support", {"client_id": world.ids["client"]}, "contract_client_idx"),
    ]
    for who, filters, index in cases:
        used = indexes_used(world.as_(who), "contract.list_contracts", list_parameters(**filters))
        assert index in used, f"{who} {filters}: expected {index}, the plan used {used}"


def test_signing_asks_first_on_a_terminal_and_no_signs_nothing(cli):
    cli.login("sales")
    cli.as_terminal()
    contract_id = cli.world.ids["contract"]
    r = cli("contract", "sign", contract_id, input="n\n")
    assert r.exit_code == 1
    assert f"Sign contract {contract_id} (Client of sales, 1,000.00 €)? A signature is final" in r.stderr
    assert r.stderr.endswith(f"aborted: contract {contract_id} was not signed\n")
    assert stored(cli, "contract")[2] is False
    r = cli("contract", "sign", contract_id, "--format", "json", input="y\n")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["is_signed"] is True


def test_signing_without_a_terminal_needs_yes_as_deleting_does(cli):
    cli.login("sales")
    r = cli("contract", "sign", cli.world.ids["contract"])
    assert r.exit_code == 1
    assert "sign: pass --yes to confirm without a terminal" in r.stderr
    assert stored(cli, "contract")[2] is False


def test_reassigning_a_contract_to_an_employee_who_does_not_exist_is_not_found(cli):
    cli.login("manager")
    r = cli("contract", "reassign", cli.world.ids["contract"], "999999")
    assert (r.exit_code, r.stderr) == (4, "error: employee 999999: not found\n")
    r = cli("contract", "reassign", cli.world.ids["contract"], cli.world.ids["support"])
    assert r.exit_code == 1 and "not an active sales employee" in r.stderr


def test_on_a_terminal_the_client_and_the_amount_due_are_checked_at_their_prompts(cli):
    cli.login("manager")
    cli.as_terminal()
    client_id = cli.world.ids["client"]
    r = cli("contract", "create", "--format", "json", input=f"999999\n{client_id}\n3\n1000\n2\n")
    assert r.exit_code == 0, r.stderr
    assert r.stderr.index("--client: client 999999 not found") < r.stderr.index("Total amount")
    assert "--due: 1000.00 is more than the total (3.00)" in r.stderr
    created = json.loads(r.stdout)
    assert (created["client_id"], created["amount_due"]) == (client_id, 2.0)
