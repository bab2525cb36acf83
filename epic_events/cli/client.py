"""client list | view | create | update | note | import | reassign | delete."""

from __future__ import annotations

from datetime import UTC

import click

from .. import errors, validate
from ..render import Column, emit
from . import options
from .options import (
    ID,
    ask,
    complete_ids,
    delete_record,
    emit_page,
    expect_option,
    like_pattern,
    no_row_error,
    optional,
    output_option,
    paging,
    paging_options,
    parse_expected,
    require_employee,
    stream_all,
)

LIST = [
    Column("id", "Id", "id"),
    Column("full_name", "Name"),
    Column("email", "Email"),
    Column("phone", "Phone"),
    Column("company_name", "Company"),
    Column("sales_contact_name", "Sales contact"),
    Column("last_contact_at", "Last contact", "datetime"),
]
# JSON/CSV carry the data model's columns (plus the names joined in).
RECORD = [
    Column("id", "Id", "id"),
    Column("full_name", "Name"),
    Column("email", "Email"),
    Column("phone", "Phone"),
    Column("company_id", "Company id", "id"),
    Column("company_name", "Company"),
    Column("sales_contact_id", "Sales contact id", "id"),
    Column("sales_contact_name", "Sales contact"),
    Column("created_at", "Created", "datetime"),
    Column("updated_at", "Updated", "datetime"),
    Column("last_contact_at", "Last contact", "datetime"),
]
RULE_CREATE = (
    "creating a client needs client:create, or client:create:own with yourself as sales contact (sales)"
)
RULE_UPDATE = "updating a client needs client:update, or client:update:own as its sales contact"
RULE_REASSIGN = "reassigning a client needs client:update (management)"
RULE_DELETE = "deleting a client needs client:delete (management)"
# The columns the database names in its refusals, as the options of create and update.
FIELDS = {
    "full_name": "--name",
    "email": "--email",
    "phone": "--phone",
    "company_id": "--company",
    "sales_contact_id": "--sales-contact",
    "last_contact_at": "--last-contact",
}

RULE_NOTE = (
    "writing a contact note needs client_note:create, or client_note:create:own as the client's sales contact"
)
NOTE_KINDS = ("call", "email", "meeting", "other")
NOTE = [
    Column("id", "Id", "id"),
    Column("client_id", "Client", "id"),
    Column("kind", "Kind"),
    Column("body", "Text"),
    Column("noted_at", "When", "datetime"),
    Column("written_by", "Written by id", "id"),
    Column("written_by_name", "Written by"),
    Column("created_at", "Recorded", "datetime"),
    Column("last_contact_at", "Last contact", "datetime"),
]


@click.group()
def client():
    """Clients: everyone reads them; sales follow their own; management all."""


@client.command("list")
@click.option("--mine", is_flag=True, help="Only clients you are the sales contact of.")
@click.option("--search", metavar="TEXT", help="Part of the name, email or company name.")
@click.option("--company", "company_id", type=ID, metavar="ID", help="Only this company's clients.")
@click.option(
    "--stale",
    type=click.IntRange(min=0),
    metavar="DAYS",
    help="Only clients not contacted for DAYS days (or never).",
)
@paging_options(("id", "name", "created_at"))
@output_option
@click.pass_obj
def list_(app, mine, search, company_id, stale, limit, offset, page, sort, desc, all_rows, fmt):
    """List clients, a page at a time.

    \b
    Examples:
      epic-events client list --mine
      epic-events client list --mine --stale 30
      epic-events client list --search acme --sort name
      epic-events client list --page 2 --format csv > clients.csv
      epic-events client list --all --format csv > clients.csv
    """
    from datetime import datetime, timedelta

    if search is not None:
        search = validate.search("--search", search)
    stale_before = datetime.now(UTC) - timedelta(days=stale) if stale is not None else None
    window = paging(limit, offset, page, all_rows)
    params = {
        "mine": mine,
        "company_id": company_id,
        "search": search,
        "pattern": like_pattern(search),
        "stale_before": stale_before,
        "sort": sort,
        "desc": desc,
        **window,
    }
    if all_rows:
        stream_all(
            app,
            "client.list_clients",
            lambda tx: params,
            fmt,
            "Clients",
            LIST,
            RECORD,
            csv_query="client.export_clients_csv",
        )
        return
    rows = app.run(lambda tx: tx.run("client.list_clients", params))
    emit_page(app, rows, limit, window["offset"], fmt, "Clients", LIST, RECORD)


@client.command()
@click.argument("client_id", type=ID, shell_complete=complete_ids("completion.clients"))
@output_option
@click.pass_obj
def view(app, client_id, fmt):
    """Show one client with its contracts, events and last five contact notes.

    \b
    Example:
      epic-events client view 12
    """
    row = app.run(lambda tx: tx.run("client.get_client", {"id": client_id}))
    if row is None:
        raise errors.NotFound(f"client {client_id}: not found")
    fmt = app.format(fmt)
    if fmt == "json":
        emit(row, fmt, RECORD + [Column("contracts", ""), Column("events", ""), Column("notes", "")])
        return
    emit(
        row,
        fmt,
        RECORD,
        title=f"Client {row['id']} · {row['full_name']}",
        extra=_related_tables(row) if fmt == "table" else None,
    )


@client.command()
@click.option("--name", help="Full name.")
@click.option("--email", help="Email address.")
@click.option("--phone", help="Phone, e.g. 06 12 34 56 78 or +44 20 7946 0958.")
@click.option("--company", metavar="NAME", help="Company name (created if new).")
@click.option(
    "--sales-contact",
    "sales_contact",
    type=ID,
    metavar="ID",
    help="Management only: the sales contact (default: you).",
)
@output_option
@click.pass_obj
def create(app, name, email, phone, company, sales_contact, fmt):
    """Create a client; you become its sales contact.

    Missing options are asked on a terminal; in a script they are errors.

    \b
    Example:
      epic-events client create --name "Kevin Casey" --email kevin@startup.io \\
          --phone "06 12 34 56 78" --company "Cool Startup LLC"
    """
    name = ask(name, "full_name", "--name", validate.text, "Full name")
    email = ask(email, "email", "--email", validate.email, "Email")
    phone = ask(phone, "phone", "--phone", optional(validate.phone), "Phone (optional)", required=False)
    company = ask(
        company, "company", "--company", optional(validate.text), "Company (optional)", required=False
    )

    def work(tx):
        company_id = _company_id(tx, company) if company else None
        new_id = tx.run(
            "client.create_client",
            {
                "full_name": name,
                "email": email,
                "phone": phone,
                "company_id": company_id,
                "sales_contact_id": sales_contact,
                "last_contact_at": None,
            },
        )
        return tx.run("client.get_client", {"id": new_id})

    row = app.run(work, rule=RULE_CREATE, fields=FIELDS)
    emit(row, app.format(fmt), RECORD, title=f"Created client {row['id']}")


@client.command()
@click.argument("client_id", type=ID, shell_complete=complete_ids("completion.clients"))
@click.option("--name", help="Full name.")
@click.option("--email", help="Email address.")
@click.option("--phone", help='Phone ("" clears it).')
@click.option("--company", metavar="NAME", help='Company name (created if new; "" clears it).')
@click.option(
    "--last-contact",
    "last_contact",
    metavar="DATE",
    help="When you last spoke (dd/mm/yyyy [HH:MM] or ISO 8601).",
)
@expect_option
@output_option
@click.pass_obj
def update(app, client_id, name, email, phone, company, last_contact, if_updated_at, fmt):
    """Update a client: only the options given change.

    With no option on a terminal, each field is asked with its current value.

    \b
    Examples:
      epic-events client update 12 --phone "+33 6 98 76 54 32"
      epic-events client update 12 --last-contact "24/11/2026 15:30"
    """
    expected = parse_expected(if_updated_at)
    nothing_given = all(v is None for v in (name, email, phone, company, last_contact))
    last = None
    if nothing_given:
        current = app.run(lambda tx: tx.run("client.get_client", {"id": client_id}))
        if current is None:
            raise errors.NotFound(f"client {client_id}: not found")
        if not options.stdin_is_terminal():
            raise errors.InvalidInput("nothing to update: give at least one option")
        expected = current["updated_at"]
        name, email, phone, company, last = _ask_changes(current)
        if all(v is None for v in (name, email, phone, company, last)):
            # Enter on every field: nothing is written, so updated_at (which others'
            # --if-updated-at compare) does not move.
            click.echo(f"Nothing changed: client {client_id} is left as it was.", err=True)
            return
    else:
        name = validate.text("--name", name) if name is not None else None
        email = validate.email("--email", email) if email is not None else None
        phone = optional(validate.phone)("--phone", phone) or "" if phone is not None else None
        company = optional(validate.text)("--company", company) or "" if company is not None else None
        last = validate.moment("--last-contact", last_contact) if last_contact is not None else None

    def work(tx):
        before = tx.run("client.client_state", {"id": client_id})
        if before is None:
            raise errors.NotFound(f"client {client_id}: not found")
        seen = expected if expected is not None else before["updated_at"]
        company_id = _company_id(tx, company) if company else None
        updated = tx.run(
            "client.update_client",
            {
                "id": client_id,
                "expected_updated_at": seen,
                "full_name": name,
                "email": email,
                "set_phone": phone is not None,
                "phone": phone or None,
                "set_company": company is not None,
                "company_id": company_id,
                "set_last_contact": last is not None,
                "last_contact_at": last,
            },
        )
        if updated is None:
            raise no_row_error(
                tx.run("client.client_state", {"id": client_id}), f"client {client_id}", seen, RULE_UPDATE
            )
        return tx.run("client.get_client", {"id": client_id})

    row = app.run(work, rule=RULE_UPDATE, fields=FIELDS)
    emit(row, app.format(fmt), RECORD, title=f"Updated client {row['id']}")


@client.command()
@click.argument("client_id", type=ID, shell_complete=complete_ids("completion.clients"))
@click.option("--kind", type=click.Choice(NOTE_KINDS), help="How you were in touch.")
@click.option("--text", "body", metavar="TEXT", help="What was said (newlines allowed).")
@click.option("--at", "noted_at", metavar="DATE", help="When (default: now).")
@output_option
@click.pass_obj
def note(app, client_id, kind, body, noted_at, fmt):
    """Record a contact with a client: a call, an email, a meeting.

    The client's last contact moves to that time (never backwards). Sales
    write notes on their own clients, management on all; everyone reads them
    in `client view`. Notes are never edited.

    \b
    Examples:
      epic-events client note 12 --kind call --text "Wants a quote for 200 guests"
      epic-events client note 12 --kind meeting --text "Visited the venue" --at "24/11/2026 15:30"
    """
    kind = ask(kind, "kind", "--kind", _kind, f"Kind ({'|'.join(NOTE_KINDS)})")
    body = ask(body, "body", "--text", _body, "Text")
    at = validate.moment("noted_at", noted_at) if noted_at is not None else None

    def work(tx):
        rights = tx.run("client.note_rights", {"id": client_id})
        if rights is None:
            raise errors.NotFound(f"client {client_id}: not found")
        if not rights["may_note"]:
            raise errors.PermissionDenied(f"permission denied: {RULE_NOTE}")
        note_id = tx.run(
            "client.create_note", {"client_id": client_id, "kind": kind, "body": body, "noted_at": at}
        )
        return tx.run("client.get_note", {"id": note_id})

    row = app.run(work, rule=RULE_NOTE)
    emit(row, app.format(fmt), NOTE, title=f"Note {row['id']} · client {client_id}")


@client.command()
@click.argument("client_id", type=ID, shell_complete=complete_ids("completion.clients"))
@click.argument("employee_id", type=ID, shell_complete=complete_ids("completion.employees"))
@output_option
@click.pass_obj
def reassign(app, client_id, employee_id, fmt):
    """Give a client (and its contracts) to another sales employee (management).

    \b
    Example:
      epic-events client reassign 12 7
    """

    def work(tx):
        require_employee(tx, employee_id)
        if tx.run("client.reassign_client", {"id": client_id, "employee_id": employee_id}) is None:
            raise no_row_error(
                tx.run("client.client_state", {"id": client_id}), f"client {client_id}", None, RULE_REASSIGN
            )
        return tx.run("client.get_client", {"id": client_id})

    row = app.run(work, rule=RULE_REASSIGN)
    emit(row, app.format(fmt), RECORD, title=f"Reassigned client {row['id']}")


@client.command()
@click.argument("client_id", type=ID, shell_complete=complete_ids("completion.clients"))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def delete(app, client_id, yes):
    """Delete a client that has no contracts (management).

    \b
    Example:
      epic-events client delete 12 --yes
    """
    delete_record(app, "client", "client.delete_client", "client.client_state", client_id, RULE_DELETE, yes)


# -- helpers ----------------------------------------------------------------------
def _ask_changes(current: dict) -> tuple:
    """Each field asked with its current value; only what differs comes back (else None)."""
    name = ask(None, "full_name", "--name", validate.text, "Full name", default=current["full_name"])
    email = ask(None, "email", "--email", validate.email, "Email", default=current["email"])
    phone = (
        ask(
            None,
            "phone",
            "--phone",
            optional(validate.phone),
            "Phone",
            default=current["phone"] or "",
            required=False,
        )
        or ""
    )
    company = (
        ask(
            None,
            "company",
            "--company",
            optional(validate.text),
            "Company",
            default=current["company_name"] or "",
            required=False,
        )
        or ""
    )
    was = _typed(current["last_contact_at"]) if current["last_contact_at"] else ""
    last = ask(
        None,
        "last_contact_at",
        "--last-contact",
        optional(validate.moment),
        "Last contact (dd/mm/yyyy HH:MM)",
        default=was,
        required=False,
    )
    return (
        name if name != current["full_name"] else None,
        email if email != current["email"] else None,
        phone if phone != (current["phone"] or "") else None,
        company if company != (current["company_name"] or "") else None,
        # Shown to the minute: the same minute typed back is no change.
        last if last is not None and _typed(last) != was else None,
    )


def _typed(moment) -> str:
    """A stored time as a person would type it (local time)."""
    return moment.astimezone().strftime("%d/%m/%Y %H:%M")


def _kind(field: str, value: str) -> str:
    kind = value.strip().lower()
    if kind not in NOTE_KINDS:
        raise errors.InvalidInput(f"{field}: must be one of {', '.join(NOTE_KINDS)}")
    return kind


def _body(field: str, value: str) -> str:
    value = validate.notes(field, value)
    if not value.strip():
        raise errors.InvalidInput(f"{field}: must not be empty")
    return value


def _company_id(tx, name: str) -> int:
    import psycopg

    found = tx.run("company.find_company_by_name", {"name": name})
    if found is not None:
        return found
    try:
        return tx.run("company.create_company", {"name": name})
    except psycopg.errors.CheckViolation as exc:
        # The database's rule on company names (0007), named after this command's option.
        if exc.diag.constraint_name in ("company_name_valid", "company_name_clean"):
            _, message = errors.CONSTRAINTS[exc.diag.constraint_name]  # "name: …" / "--name: …"
            raise errors.InvalidInput("--company:" + message.partition(":")[2]) from None
        raise


def _related_tables(row: dict):
    from datetime import datetime

    from ..render import table

    contracts = [
        Column("id", "Contract", "id"),
        Column("total_amount", "Total", "money"),
        Column("amount_due", "Due", "money"),
        Column("is_signed", "Signed", "bool"),
    ]
    events = [
        Column("id", "Event", "id"),
        Column("name", "Name"),
        Column("starts_at", "Starts", "datetime"),
        Column("support_contact_name", "Support"),
    ]
    out = []
    if row["contracts"]:
        out.append(table([_numbers(r) for r in row["contracts"]], contracts, title="Contracts"))
    if row["events"]:
        out.append(table([_times(r) for r in row["events"]], events, title="Events"))
    if row["notes"]:
        notes = [
            Column("noted_at", "When", "datetime"),
            Column("kind", "Kind"),
            Column("written_by_name", "By"),
            Column("body", "Note"),
        ]
        out.append(
            table(
                [{**r, "noted_at": datetime.fromisoformat(r["noted_at"])} for r in row["notes"]],
                notes,
                title="Last contacts — `client note ID`",
            )
        )
    return out


def _numbers(r: dict) -> dict:
    from decimal import Decimal

    return {**r, "total_amount": Decimal(str(r["total_amount"])), "amount_due": Decimal(str(r["amount_due"]))}


def _times(r: dict) -> dict:
    from datetime import datetime

    return {**r, "starts_at": datetime.fromisoformat(r["starts_at"]) if r["starts_at"] else None}


from .client_import import import_  # noqa: E402 (the command lives in its own module)

client.add_command(import_)
