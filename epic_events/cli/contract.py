"""contract list | view | create | update | pay | payments | sign | reassign | delete."""

from __future__ import annotations

import click

from .. import errors, observability, validate
from ..render import Column, emit, human
from . import options  # stdin_is_terminal looked up when called: tests play a terminal
from .options import (
    ID,
    ask,
    complete_ids,
    delete_record,
    emit_list,
    existing,
    expect_option,
    no_row_error,
    optional,
    output_option,
    paging,
    paging_options,
    parse_expected,
    require_employee,
)

LIST = [
    Column("id", "Id", "id"),
    Column("client_name", "Client"),
    Column("sales_contact_name", "Sales contact"),
    Column("total_amount", "Total", "money"),
    Column("amount_due", "Due", "money"),
    Column("is_signed", "Signed", "bool"),
    Column("created_at", "Created", "datetime"),
]
# JSON/CSV carry the data model's columns (plus the names joined in).
RECORD = [
    Column("id", "Id", "id"),
    Column("client_id", "Client id", "id"),
    Column("client_name", "Client"),
    Column("sales_contact_id", "Sales contact id", "id"),
    Column("sales_contact_name", "Sales contact"),
    Column("total_amount", "Total", "money"),
    Column("amount_due", "Due", "money"),
    Column("is_signed", "Signed", "bool"),
    Column("signed_at", "Signed at", "datetime"),
    Column("created_at", "Created", "datetime"),
    Column("updated_at", "Updated", "datetime"),
]
# One contract also shows how to reach its client (read through the client, never copied).
DETAIL = (
    RECORD[:3] + [Column("client_email", "Client email"), Column("client_phone", "Client phone")] + RECORD[3:]
)
RULE_CREATE = "creating a contract needs contract:create (management)"
RULE_UPDATE = "updating a contract needs contract:update, or contract:update:own as its sales contact"
RULE_SIGN = "signing a contract needs contract:sign, or contract:sign:own as its sales contact"
RULE_REASSIGN = "reassigning a contract needs contract:update (management)"
RULE_DELETE = "deleting a contract needs contract:delete (management)"
# The columns the database names in its refusals, as the options of create and update.
FIELDS = {
    "client_id": "--client",
    "total_amount": "--total",
    "amount_due": "--due",
    "sales_contact_id": "--sales-contact",
}

RULE_PAY = "recording a payment needs payment:create, or payment:create:own as the contract's sales contact"
RULE_CORRECT = "a negative payment (a correction) needs payment:correct (management)"
METHODS = ("transfer", "card", "cheque", "cash", "other")
# A payment, as `contract pay` prints it: the ledger row and what the contract still owes.
PAYMENT_RECORD = [
    Column("id", "Id", "id"),
    Column("contract_id", "Contract", "id"),
    Column("amount", "Amount", "money"),
    Column("paid_on", "Paid on", "date"),
    Column("method", "Method"),
    Column("reference", "Reference"),
    Column("recorded_by", "Recorded by id", "id"),
    Column("recorded_by_name", "Recorded by"),
    Column("recorded_at", "Recorded at", "datetime"),
]
PAYMENT = PAYMENT_RECORD + [
    Column("total_amount", "Contract total", "money"),
    Column("amount_due", "Still due", "money"),
]
PAYMENT_LIST = [
    Column("id", "Id", "id"),
    Column("paid_on", "Paid on", "date"),
    Column("amount", "Amount", "money"),
    Column("method", "Method"),
    Column("reference", "Reference"),
    Column("recorded_by_name", "Recorded by"),
    Column("paid_to_date", "Paid to date", "money"),
]


@click.group()
def contract():
    """Contracts: everyone reads them; sales update and sign their own; management all."""


@contract.command("list")
@click.option("--unsigned", is_flag=True, help="Only contracts not signed yet.")
@click.option("--unpaid", is_flag=True, help="Only contracts with an amount still due.")
@click.option("--mine", is_flag=True, help="Only contracts you are the sales contact of.")
@click.option("--client", "client_id", type=ID, metavar="ID", help="Only this client's contracts.")
@paging_options(("id", "created_at", "amount_due"))
@output_option
@click.pass_obj
def list_(app, unsigned, unpaid, mine, client_id, limit, offset, page, sort, desc, all_rows, fmt):
    """List contracts, a page at a time.

    \b
    Examples:
      epic-events contract list --unsigned --mine
      epic-events contract list --unpaid --sort amount_due --desc
      epic-events contract list --client 12 --format csv > contracts.csv
    """
    window = paging(limit, offset, page, all_rows)
    emit_list(
        app,
        "contract.list_contracts",
        list_parameters(
            unsigned=unsigned, unpaid=unpaid, mine=mine, client_id=client_id, sort=sort, desc=desc, **window
        ),
        window,
        limit,
        fmt,
        "Contracts",
        LIST,
        RECORD,
    )


def list_parameters(
    unsigned=False, unpaid=False, mine=False, client_id=None, sort="id", desc=False, limit=51, offset=0
) -> dict:
    """The parameters of contract.list_contracts, exactly as `contract list` sends them."""
    return {
        "unsigned": unsigned,
        "unpaid": unpaid,
        "mine": mine,
        "client_id": client_id,
        "sort": sort,
        "desc": desc,
        "limit": limit,
        "offset": offset,
    }


@contract.command()
@click.argument("contract_id", type=ID, shell_complete=complete_ids("completion.contracts"))
@output_option
@click.pass_obj
def view(app, contract_id, fmt):
    """Show one contract, how to reach its client, and its events.

    \b
    Example:
      epic-events contract view 7
    """
    row = app.run(lambda tx: tx.run("contract.get_contract", {"id": contract_id}))
    if row is None:
        raise errors.NotFound(f"contract {contract_id}: not found")
    fmt = app.format(fmt)
    if fmt == "json":
        emit(row, fmt, DETAIL + [Column("events", "")])
        return
    emit(
        row,
        fmt,
        DETAIL,
        title=f"Contract {row['id']} · {row['client_name']}",
        extra=_events_table(row["events"]) if fmt == "table" else None,
    )


@contract.command()
@click.option("--client", "client_id", metavar="ID", help="The client's id.")
@click.option("--total", metavar="AMOUNT", help=f"Total amount: {validate.AMOUNT_HELP}.")
@click.option(
    "--due", metavar="AMOUNT", help=f"Amount still due (default: the total): {validate.AMOUNT_HELP}."
)
@click.option(
    "--sales-contact",
    "sales_contact",
    type=ID,
    metavar="ID",
    help="The sales contact (default: the client's).",
)
@output_option
@click.pass_obj
def create(app, client_id, total, due, sales_contact, fmt):
    """Create an unsigned contract for a client (management).

    The amount due defaults to the total and the sales contact to the client's:
    the database fills both in. Missing options are asked on a terminal; in a
    script they are errors.

    \b
    Examples:
      epic-events contract create --client 12 --total 15000
      epic-events contract create --client 12 --total 15000 --due 5000 --sales-contact 7
    """
    client_id = ask(
        client_id, "client_id", "--client", existing(app, "client.client_state", "client"), "Client id"
    )
    total = ask(total, "total_amount", "--total", validate.amount, "Total amount")
    due = ask(
        due, "amount_due", "--due", optional(_at_most(total)), "Amount due (empty: the total)", required=False
    )

    def work(tx):
        # A missing client is refused by the database as client_id (not found).
        new_id = tx.run(
            "contract.create_contract",
            {
                "client_id": client_id,
                "sales_contact_id": sales_contact,
                "total_amount": total,
                "amount_due": due,
            },
        )
        return tx.run("contract.get_contract", {"id": new_id})

    row = app.run(work, rule=RULE_CREATE, fields=FIELDS)
    emit(row, app.format(fmt), DETAIL, title=f"Created contract {row['id']}")


@contract.command()
@click.argument("contract_id", type=ID, shell_complete=complete_ids("completion.contracts"))
@click.option(
    "--total", metavar="AMOUNT", help=f"New total amount (the amount due follows): {validate.AMOUNT_HELP}."
)
@click.option("--due", metavar="AMOUNT", hidden=True)
@click.option(
    "--pay",
    metavar="AMOUNT",
    help=f"Record a payment of AMOUNT (method 'other'; `contract pay` says more): {validate.AMOUNT_HELP}.",
)
@expect_option
@output_option
@click.pass_obj
def update(app, contract_id, total, due, pay, if_updated_at, fmt):
    """Change a contract's total, or record a payment.

    Sales update the contracts they are the sales contact of; management any.
    The amount due is kept by the database from the payment ledger: a new
    total moves it by as much, and --pay records a payment as `contract pay`
    does (two at the same time both count; one above the amount due is
    refused). With no option on a terminal, the total is asked.

    \b
    Examples:
      epic-events contract update 7 --total 18000
      epic-events contract update 7 --pay 2500
    """
    expected = parse_expected(if_updated_at)
    if due is not None:
        raise errors.InvalidInput(
            "--due: the amount due follows the payment ledger; record a payment with "
            "`contract pay ID --amount AMOUNT --method METHOD`"
        )
    if total is None and pay is None:
        current = app.run(lambda tx: tx.run("contract.get_contract", {"id": contract_id}))
        if current is None:
            raise errors.NotFound(f"contract {contract_id}: not found")
        if not options.stdin_is_terminal():
            raise errors.InvalidInput("nothing to update: give --total or --pay")
        expected = current["updated_at"] if expected is None else expected
        total = ask(
            None,
            "total_amount",
            "--total",
            validate.amount,
            "Total amount",
            default=f"{current['total_amount']:.2f}",
        )
    else:
        total = validate.amount("--total", total) if total is not None else None
        pay = _payment(pay) if pay is not None else None

    def work(tx):
        before = tx.run("contract.contract_state", {"id": contract_id})
        if before is None:
            raise errors.NotFound(f"contract {contract_id}: not found")
        seen = expected if expected is not None else before["updated_at"]
        if total is not None:
            updated = tx.run(
                "contract.update_contract",
                {"id": contract_id, "expected_updated_at": seen, "total_amount": total},
            )
            if updated is None:
                raise no_row_error(
                    tx.run("contract.contract_state", {"id": contract_id}),
                    f"contract {contract_id}",
                    seen,
                    RULE_UPDATE,
                )
        elif expected is not None and before["updated_at"] != expected:
            raise errors.Conflict(
                f"contract {contract_id} was changed by someone else meanwhile; view it again and retry"
            )
        if pay is not None:
            # Without --if-updated-at a payment is applied to whatever is due when
            # the ledger locks the contract: never lost, never a conflict.
            _record_payment(tx, before, contract_id, pay, "other", None, None)
        return tx.run("contract.get_contract", {"id": contract_id})

    row = app.run(
        work,
        rule=RULE_UPDATE if pay is None else RULE_PAY,
        fields={**FIELDS, "amount_due": "--pay" if pay is not None else "--total", "amount": "--pay"},
    )
    emit(row, app.format(fmt), DETAIL, title=f"Updated contract {row['id']}")


@contract.command()
@click.argument("contract_id", type=ID, shell_complete=complete_ids("completion.contracts"))
@click.option(
    "--amount",
    metavar="AMOUNT",
    help=f"Amount received, negative for a correction (management): {validate.AMOUNT_HELP}.",
)
@click.option("--method", type=click.Choice(METHODS), help="How it was paid.")
@click.option("--on", "paid_on", metavar="DATE", help="When it was paid (default: today).")
@click.option("--reference", metavar="TEXT", help="Cheque number, transfer reference, ...")
@output_option
@click.pass_obj
def pay(app, contract_id, amount, method, paid_on, reference, fmt):
    """Record a payment in the contract's ledger; the amount due goes down.

    The contract's sales contact and management record payments. A payment is
    never edited: a mistake is corrected by a negative payment, which only
    management records. The database refuses a payment above the amount due,
    and counts both of two payments made at the same time.

    \b
    Examples:
      epic-events contract pay 7 --amount 2500 --method transfer --reference VIR-2026-118
      epic-events contract pay 7 --amount 300 --method cheque --on 28/11/2026
      epic-events contract pay 7 --amount -300 --method other --reference "cheque 118 bounced"
    """
    amount = ask(amount, "amount", "--amount", _ledger_amount, "Amount")
    method = ask(method, "method", "--method", _method, f"Method ({'|'.join(METHODS)})")
    on = validate.moment("--on", paid_on).date() if paid_on is not None else None
    reference = validate.text("--reference", reference) if reference is not None else None

    def work(tx):
        state = tx.run("contract.contract_state", {"id": contract_id})
        if state is None:
            raise errors.NotFound(f"contract {contract_id}: not found")
        payment_id = _record_payment(tx, state, contract_id, amount, method, on, reference)
        return tx.run("contract.get_payment", {"id": payment_id})

    row = app.run(
        work,
        rule=RULE_PAY,
        fields={"amount": "--amount", "method": "--method", "paid_on": "--on", "reference": "--reference"},
    )
    observability.event("payment recorded", contract_id=contract_id, payment_id=row["id"])
    emit(row, app.format(fmt), PAYMENT, title=f"Payment {row['id']} · contract {contract_id}")


@contract.command()
@click.argument("contract_id", type=ID, shell_complete=complete_ids("completion.contracts"))
@output_option
@click.pass_obj
def payments(app, contract_id, fmt):
    """List a contract's payments, oldest first, with what was paid to date.

    Everyone reads the ledger.

    \b
    Examples:
      epic-events contract payments 7
      epic-events contract payments 7 --format csv > contract-7-payments.csv
    """

    def work(tx):
        found = tx.run("contract.contract_state", {"id": contract_id})
        if found is None:
            raise errors.NotFound(f"contract {contract_id}: not found")
        return found, tx.run("contract.list_payments", {"contract_id": contract_id})

    state, rows = app.run(work)
    fmt = app.format(fmt)
    paid = state["total_amount"] - state["amount_due"]
    caption = f"paid {paid:,.2f} € of {state['total_amount']:,.2f} €; {state['amount_due']:,.2f} € due"
    emit(
        rows,
        fmt,
        PAYMENT_LIST if fmt == "table" else PAYMENT_RECORD,
        title=f"Payments · contract {contract_id}",
        caption=caption,
    )
    if fmt == "table" and not rows:
        click.echo(caption, err=True)


@contract.command()
@click.argument("contract_id", type=ID, shell_complete=complete_ids("completion.contracts"))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@output_option
@click.pass_obj
def sign(app, contract_id, yes, fmt):
    """Sign a contract: the database stamps signed_at; a signature is final.

    Sales sign the contracts they are the sales contact of; management any.
    On a terminal it asks first; a script passes --yes (as for delete).

    \b
    Examples:
      epic-events contract sign 7
      epic-events contract sign 7 --yes --format json
    """
    question = f"Sign contract {contract_id}? A signature is final"
    if not yes and options.stdin_is_terminal():
        current = app.run(lambda tx: tx.run("contract.get_contract", {"id": contract_id}))
        if current is None:
            raise errors.NotFound(f"contract {contract_id}: not found")
        if current["is_signed"]:
            raise errors.Conflict(
                f"contract {contract_id} is already signed (on {human(current['signed_at'])})"
            )
        question = (
            f"Sign contract {contract_id} ({current['client_name']}, "
            f"{human(current['total_amount'], 'money')})? A signature is final"
        )
    options.confirm(question, yes, "sign", f"contract {contract_id} was not signed")

    def work(tx):
        signed = tx.run("contract.sign_contract", {"id": contract_id})
        if signed is None:
            state = tx.run("contract.contract_state", {"id": contract_id})
            if state is None:
                raise errors.NotFound(f"contract {contract_id}: not found")
            if not (state["may_update"] and state["may_sign"]):
                raise errors.PermissionDenied(f"permission denied: {RULE_SIGN}")
            if state["is_signed"]:
                when = state["signed_at"].astimezone().strftime("%d/%m/%Y %H:%M")
                raise errors.Conflict(f"contract {contract_id} is already signed (on {when})")
            raise errors.PermissionDenied(f"permission denied: {RULE_SIGN}")
        return signed, tx.run("contract.get_contract", {"id": contract_id})

    signed, row = app.run(work, rule=RULE_SIGN)
    observability.event(
        "contract signed",
        contract_id=signed["id"],
        client_id=signed["client_id"],
        total_amount=str(signed["total_amount"]),
    )
    emit(row, app.format(fmt), DETAIL, title=f"Signed contract {row['id']}")


@contract.command()
@click.argument("contract_id", type=ID, shell_complete=complete_ids("completion.contracts"))
@click.argument("employee_id", type=ID, shell_complete=complete_ids("completion.employees"))
@output_option
@click.pass_obj
def reassign(app, contract_id, employee_id, fmt):
    """Give one contract to another sales employee (management).

    The employee must be an active member of sales (the database checks).

    \b
    Example:
      epic-events contract reassign 7 3
    """

    def work(tx):
        require_employee(tx, employee_id)
        if tx.run("contract.reassign_contract", {"id": contract_id, "employee_id": employee_id}) is None:
            raise no_row_error(
                tx.run("contract.contract_state", {"id": contract_id}),
                f"contract {contract_id}",
                None,
                RULE_REASSIGN,
            )
        return tx.run("contract.get_contract", {"id": contract_id})

    row = app.run(work, rule=RULE_REASSIGN)
    emit(row, app.format(fmt), DETAIL, title=f"Reassigned contract {row['id']}")


@contract.command()
@click.argument("contract_id", type=ID, shell_complete=complete_ids("completion.contracts"))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def delete(app, contract_id, yes):
    """Delete a contract that has no events (management).

    \b
    Example:
      epic-events contract delete 7 --yes
    """
    delete_record(
        app, "contract", "contract.delete_contract", "contract.contract_state", contract_id, RULE_DELETE, yes
    )


# -- helpers ----------------------------------------------------------------------
def _at_most(total):
    """A parser of the amount due that refuses more than the total (as the check
    contract_amount_due_range does), at its prompt."""

    def parse(field, value):
        due = validate.amount(field, value)
        if due > total:
            raise errors.InvalidInput(f"{field}: {due:.2f} is more than the total ({total:.2f})")
        return due

    return parse


def _payment(value: str):
    paid = validate.amount("--pay", value)
    if paid == 0:
        raise errors.InvalidInput("--pay: must be more than 0")
    return paid


def _ledger_amount(field: str, value: str):
    """An amount that may be negative (a correction), never zero."""
    raw = str(value).strip()
    negative = raw.startswith("-")
    amount = validate.amount(field, raw[1:] if negative else raw)
    if amount == 0:
        raise errors.InvalidInput(f"{field}: must not be 0")
    return -amount if negative else amount


def _method(field: str, value: str) -> str:
    method = value.strip().lower()
    if method not in METHODS:
        raise errors.InvalidInput(f"{field}: must be one of {', '.join(METHODS)}")
    return method


def _record_payment(tx, state: dict, contract_id: int, amount, method: str, paid_on, reference):
    """Insert one payment; the refusals worded from what the database will decide."""
    if not state["may_pay"]:
        raise errors.PermissionDenied(f"permission denied: {RULE_PAY}")
    if amount < 0 and not state["may_correct"]:
        raise errors.PermissionDenied(f"permission denied: {RULE_CORRECT}")
    return tx.run(
        "contract.record_payment",
        {
            "contract_id": contract_id,
            "amount": amount,
            "paid_on": paid_on,
            "method": method,
            "reference": reference,
        },
    )


def _events_table(events: list[dict]):
    from datetime import datetime

    from ..render import table

    if not events:
        return []
    columns = [
        Column("id", "Event", "id"),
        Column("name", "Name"),
        Column("starts_at", "Starts", "datetime"),
        Column("location", "Location"),
        Column("attendees", "Attendees", "number"),
        Column("support_contact_name", "Support"),
    ]
    rows = [{**e, "starts_at": datetime.fromisoformat(e["starts_at"])} for e in events]
    return [table(rows, columns, title="Events")]
