"""The payment ledger (0017), in SQL under each role: amount_due = total - payments.

The World's contracts were inserted with total 1000 and amount_due 400: each
carries an opening payment of 600 (contract_opening_balance).
"""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from psycopg import errors

from epic_events import migrations, queries
from tests.db.helpers import admin_all, admin_exec, admin_one, admin_value, snapshot

PAY = "insert into payment (contract_id, amount, method) values (%(c)s, %(amount)s, 'transfer')"


def due(world, key: str) -> Decimal:
    return admin_value(
        world.db, "select amount_due from epic_events.contract where id = %s", (world.ids[key],)
    )


def ledger(world, key: str) -> list[dict]:
    return admin_all(
        world.db,
        "select amount, method, reference, recorded_by"
        " from epic_events.payment where contract_id = %s order by id",
        (world.ids[key],),
    )


def test_a_contract_inserted_with_less_due_than_its_total_carries_an_opening_payment(world):
    assert ledger(world, "contract") == [
        {"amount": Decimal("600.00"), "method": "other", "reference": "opening balance", "recorded_by": None}
    ]  # inserted by the admin: nobody recorded it
    created = world.as_("manager").one(
        "insert into contract (client_id, total_amount, amount_due) values (%(client)s, 500, 120)"
        " returning id, amount_due",
        world.ids,
    )
    assert created["amount_due"] == Decimal("120.00")
    assert admin_one(
        world.db,
        "select amount, recorded_by from epic_events.payment where contract_id = %s",
        (created["id"],),
    ) == {"amount": Decimal("380.00"), "recorded_by": world.ids["manager"]}
    assert admin_value(
        world.db, "select amount_due from epic_events.contract where id = %s", (created["id"],)
    ) == Decimal("120.00")
    # Due = total: no payment.
    untouched = world.as_("manager").one(
        "insert into contract (client_id, total_amount) values (%(client)s, 500) returning id", world.ids
    )
    assert (
        admin_value(
            world.db, "select count(*) from epic_events.payment where contract_id = %s", (untouched["id"],)
        )
        == 0
    )


def test_a_payment_lowers_the_amount_due_and_names_who_recorded_it(world):
    row = world.as_("sales").one(
        PAY + " returning recorded_by, recorded_at, paid_on", {"c": world.ids["contract"], "amount": 150}
    )
    assert row["recorded_by"] == world.ids["sales"] and row["recorded_at"] is not None
    assert row["paid_on"] == admin_value(world.db, "select current_date")
    assert due(world, "contract") == Decimal("250.00")


def test_a_payment_may_settle_a_contract_but_never_exceed_what_is_due(world):
    sales = world.as_("sales")
    with pytest.raises(errors.CheckViolation, match="more than the 400.00 still due") as info:
        sales.run(PAY, {"c": world.ids["contract"], "amount": Decimal("400.01")})
    assert info.value.diag.constraint_name == "payment_within_amount_due"
    sales.run(PAY, {"c": world.ids["contract"], "amount": 400})
    assert due(world, "contract") == 0
    with pytest.raises(errors.CheckViolation):
        sales.run(PAY, {"c": world.ids["contract"], "amount": Decimal("0.01")})


def test_a_correction_is_a_negative_payment_by_management_within_what_was_paid(world):
    with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
        world.as_("sales").run(PAY, {"c": world.ids["contract"], "amount": -50})
    manager = world.as_("manager")
    manager.run(PAY, {"c": world.ids["contract"], "amount": -50})
    assert due(world, "contract") == Decimal("450.00")
    with pytest.raises(errors.CheckViolation, match="correction of 550.01 is more than the 550.00 paid"):
        manager.run(PAY, {"c": world.ids["contract"], "amount": Decimal("-550.01")})
    # Data-driven: granting payment:correct lets sales correct their own contracts.
    manager.run(
        "insert into department_permission (department, permission_code) values ('sales', 'payment:correct')"
    )
    world.as_("sales").run(PAY, {"c": world.ids["contract"], "amount": -50})
    assert due(world, "contract") == Decimal("500.00")


def test_revoking_payment_create_own_stops_sales_at_once(world):
    sales, manager = world.as_("sales"), world.as_("manager")
    manager.run(
        "delete from department_permission"
        " where department = 'sales' and permission_code = 'payment:create:own'"
    )
    with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
        sales.run(PAY, {"c": world.ids["contract"], "amount": 10})
    assert due(world, "contract") == Decimal("400.00")


def test_no_department_rewrites_the_ledger(world):
    before = snapshot(world.db, "payment")
    for who in ("manager", "sales", "support"):
        for statement in ("update payment set amount = 1", "delete from payment", "truncate payment"):
            with pytest.raises(errors.InsufficientPrivilege):
                world.as_(who).run(statement)
    assert snapshot(world.db, "payment") == before


def test_amount_due_follows_the_total_and_no_total_goes_below_what_was_paid(world):
    sales = world.as_("sales")
    assert sales.one(
        "update contract set total_amount = 1500 where id = %(contract)s returning amount_due", world.ids
    )["amount_due"] == Decimal("900.00")
    with pytest.raises(errors.CheckViolation, match="less than the 600.00 already paid") as info:
        sales.run("update contract set total_amount = 599 where id = %(contract)s", world.ids)
    assert info.value.diag.constraint_name == "contract_total_covers_payments"
    assert (
        sales.one(
            "update contract set total_amount = 600 where id = %(contract)s returning amount_due", world.ids
        )["amount_due"]
        == 0
    )


def test_not_even_an_admin_sets_amount_due_past_the_ledger(world):
    with pytest.raises(errors.CheckViolation, match="follows the payment ledger"):
        admin_exec(
            world.db, "update epic_events.contract set amount_due = 0 where id = %s", (world.ids["contract"],)
        )
    for who in ("manager", "sales"):
        with pytest.raises(errors.InsufficientPrivilege):
            world.as_(who).run("update contract set amount_due = 0 where id = %(contract)s", world.ids)
    assert due(world, "contract") == Decimal("400.00")


def test_payments_are_audited_with_who_recorded_them(world):
    since = admin_value(world.db, "select coalesce(max(id), 0) from epic_events.audit_log")
    world.as_("sales").run(PAY + ", (%(c)s, 5, 'cash')", {"c": world.ids["contract"], "amount": 10})
    rows = admin_all(
        world.db,
        "select table_name, action, employee_id, changes from epic_events.audit_log"
        " where id > %s order by id",
        (since,),
    )
    payments = [r for r in rows if r["table_name"] == "payment"]
    assert [(r["action"], r["employee_id"], r["changes"]["amount"]["new"]) for r in payments] == [
        ("insert", world.ids["sales"], 10),
        ("insert", world.ids["sales"], 5),
    ]
    # Both rows are in when the AFTER triggers run (end of statement): the first
    # recomputes 400 -> 385, the second changes nothing and records nothing.
    dues = [r["changes"]["amount_due"] for r in rows if r["table_name"] == "contract"]
    assert dues == [{"old": 400, "new": 385}]


def test_two_payments_at_once_both_count_and_the_second_sees_the_first(world):
    """The first holds the contract's lock (its trigger took it); the second waits, then
    checks against what the first left: 300 + 150 > 400 is refused, 300 + 100 passes."""
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

    outcome = {}

    def late(amount):
        try:
            pay(second, amount)
            second.conn.commit()
            outcome[amount] = "ok"
        except errors.CheckViolation as exc:
            second.conn.rollback()
            outcome[amount] = str(exc).splitlines()[0]

    pay(first, "300")  # holds the lock, not committed
    waiting = threading.Thread(target=late, args=("150",))
    waiting.start()
    waiting.join(0.5)
    assert waiting.is_alive()  # blocked behind the first payment
    first.conn.commit()
    waiting.join(10)
    assert outcome["150"] == (
        f"amount: a payment of 150.00 is more than the 100.00 still due on contract {world.ids['contract']}"
    )
    late("100")
    assert outcome["100"] == "ok"
    assert due(world, "contract") == 0


def test_the_migration_carries_existing_balances_into_the_ledger(world):
    """Roll the ledger back, make contracts the old way, apply it again: same balances."""
    db = world.db
    rolled = []
    while not rolled or not rolled[-1].startswith("0017"):
        rolled += migrations.rollback(db.admin_dsn, 1)
    admin_exec(db, "delete from epic_events.event; delete from epic_events.contract;")
    admin_exec(
        db,
        """
        insert into epic_events.contract (client_id, total_amount, amount_due)
        select %s, v.total, v.due
          from (values (1000, 1000), (1000, 250), (800, 0), (0, 0)) v(total, due);
    """,
        (world.ids["client"],),
    )
    before = admin_all(db, "select id, total_amount, amount_due from epic_events.contract order by id")
    migrations.apply(db.admin_dsn)
    assert (
        admin_all(db, "select id, total_amount, amount_due from epic_events.contract order by id") == before
    )
    assert admin_all(
        db,
        "select k.total_amount - k.amount_due as paid,"
        " coalesce(sum(p.amount), 0) as in_ledger, count(p.id) as payments"
        " from epic_events.contract k left join epic_events.payment p on p.contract_id = k.id"
        " group by k.id order by k.id",
    ) == [
        {"paid": Decimal("0.00"), "in_ledger": Decimal("0"), "payments": 0},
        {"paid": Decimal("750.00"), "in_ledger": Decimal("750.00"), "payments": 1},
        {"paid": Decimal("800.00"), "in_ledger": Decimal("800.00"), "payments": 1},
        {"paid": Decimal("0.00"), "in_ledger": Decimal("0"), "payments": 0},
    ]
