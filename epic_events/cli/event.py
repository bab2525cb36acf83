"""event list | agenda | view | create | update | assign-support | delete."""

from __future__ import annotations

import re

import click

from .. import errors, validate
from ..render import ICS, Column, emit
from . import options  # stdin_is_terminal looked up when called: tests play a terminal
from .options import (
    ID,
    ask,
    calendar_output_option,
    complete_ids,
    delete_record,
    emit_list,
    existing,
    expect_option,
    no_row_error,
    optional,
    output_option,
    page_caption,
    paging,
    paging_options,
    parse_expected,
    require_employee,
)

LIST = [
    Column("id", "Id", "id"),
    Column("client_name", "Client"),
    Column("name", "Event"),
    Column("starts_at", "Starts", "datetime"),
    Column("ends_at", "Ends", "datetime"),
    Column("location", "Location"),
    Column("attendees", "Attendees", "number"),
    Column("support_contact_name", "Support"),
]
# JSON/CSV carry the data model's columns (plus the client and names joined in).
RECORD = [
    Column("id", "Id", "id"),
    Column("contract_id", "Contract id", "id"),
    Column("client_id", "Client id", "id"),
    Column("client_name", "Client"),
    Column("name", "Event"),
    Column("support_contact_id", "Support id", "id"),
    Column("support_contact_name", "Support"),
    Column("starts_at", "Starts", "datetime"),
    Column("ends_at", "Ends", "datetime"),
    Column("location", "Location"),
    Column("attendees", "Attendees", "number"),
    Column("notes", "Notes"),
    Column("created_at", "Created", "datetime"),
    Column("updated_at", "Updated", "datetime"),
]
# One event also shows how to reach its client, read through the contract.
DETAIL = (
    RECORD[:4]
    + [
        Column("client_email", "Client email"),
        Column("client_phone", "Client phone"),
        Column("sales_contact_id", "Sales contact id", "id"),
        Column("sales_contact_name", "Sales contact"),
    ]
    + RECORD[4:]
)
RULE_CREATE = (
    "creating an event needs event:create, or event:create:own_client on a signed "
    "contract you are the sales contact of (sales)"
)
RULE_UPDATE = "updating an event needs event:update, or event:update:assigned as its support contact"
RULE_ASSIGN = "assigning an event's support contact needs event:update (management)"
RULE_DELETE = "deleting an event needs event:delete (management)"
# The columns the database names in its refusals, as the options of create and update.
FIELDS = {
    "contract_id": "--contract",
    "name": "--name",
    "starts_at": "--start",
    "ends_at": "--end",
    "location": "--location",
    "attendees": "--attendees",
    "notes": "--notes",
}
DATE_ONLY = re.compile(r"^\s*(\d{1,2}/\d{1,2}/\d{4}|\d{4}-\d{2}-\d{2})\s*$")


@click.group()
def event():
    """Events: everyone reads them; sales create them, support run them, management staffs them."""


@event.command("list")
@click.option("--no-support", "no_support", is_flag=True, help="Only events without a support contact.")
@click.option(
    "--mine", is_flag=True, help="Support: the events assigned to you; sales: the events of your contracts."
)
@click.option("--from", "starts_from", metavar="DATE", help="Starting on or after DATE.")
@click.option(
    "--to",
    "starts_to",
    metavar="DATE",
    help="Starting on or before DATE (a date alone includes that whole day).",
)
@click.option("--contract", "contract_id", type=ID, metavar="ID", help="Only this contract's events.")
@paging_options(("starts_at", "id", "name"))
@calendar_output_option
@click.pass_obj
def list_(
    app, no_support, mine, starts_from, starts_to, contract_id, limit, offset, page, sort, desc, all_rows, fmt
):
    """List events, soonest first, a page at a time.

    Dates are dd/mm/yyyy, dd/mm/yyyy HH:MM or ISO 8601. --mine depends on your
    department: for support, the events you are assigned to; for sales, the
    events of the contracts you are the sales contact of. Management has no
    events of its own: --mine is refused (use --no-support or --contract).

    \b
    Examples:
      epic-events event list --mine
      epic-events event list --no-support --from 01/06/2027 --to 30/06/2027
      epic-events event list --contract 7 --sort name --format csv > events.csv
      epic-events event list --mine --limit 500 --format ics > my-events.ics
    """
    since = validate.moment("--from", starts_from) if starts_from is not None else None
    until = _until(starts_to) if starts_to is not None else None
    if since is not None and until is not None and until < since:
        raise errors.InvalidInput("--to: before --from")
    window = paging(limit, offset, page, all_rows)
    fmt = app.format(fmt, ics=True)
    if fmt == ICS and window["limit"] is None:
        raise errors.InvalidInput(
            "--all: not with --format ics (a calendar file holds one page: --limit, up to 1000)"
        )

    def parameters(tx):
        department = app.claims.department
        if mine:
            _mine_allowed(department, "--no-support or --contract")
        return list_parameters(
            no_support=no_support,
            assigned_to_me=mine and department == "support",
            sold_by_me=mine and department == "sales",
            me=app.claims.employee_id,
            contract_id=contract_id,
            starts_from=since,
            starts_until=until,
            sort=sort,
            desc=desc,
            **window,
        )

    if fmt == ICS:
        rows, domain = app.run(
            lambda tx: (tx.run("event.list_events", parameters(tx)), tx.run("event.calendar_domain"))
        )
        more = len(rows) > limit
        rows, caption = page_caption(rows, limit, window["offset"])
        _write_ics(rows, domain, f"the file holds {caption}" if more else "")
        return
    emit_list(app, "event.list_events", parameters, window, limit, fmt, "Events", LIST, RECORD)


def _mine_allowed(department: str, instead: str) -> None:
    if department not in ("sales", "support"):
        raise errors.InvalidInput(
            "--mine: management has no events of its own (for sales it means the events "
            f"of their contracts, for support the events assigned to them); use {instead}"
        )


AGENDA_LIMIT = 1000


@event.command()
@click.option(
    "--week",
    "week",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[DATE]",
    help="The week (Monday to Sunday) of DATE, or of today: the default.",
)
@click.option("--day", "day", metavar="DATE", help="That one day.")
@click.option(
    "--mine", is_flag=True, help="Support: the events assigned to you; sales: the events of your contracts."
)
@calendar_output_option
@click.pass_obj
def agenda(app, week, day, mine, fmt):
    """The events of a week or a day, day by day, in local time.

    Each event shows its times, client (with phone and email), place,
    attendees and support contact. Events are listed on the day they start.
    `--format ics` writes the same events as an iCalendar file (times in UTC,
    one stable UID per event: importing a newer file updates, not duplicates).

    \b
    Examples:
      epic-events event agenda --mine
      epic-events event agenda --week 07/06/2027
      epic-events event agenda --day 04/06/2027
      epic-events event agenda --mine --format ics > agenda.ics
    """
    from datetime import datetime, timedelta

    if week is not None and day is not None:
        raise errors.InvalidInput("--week and --day: give one or the other")
    if day is not None:
        first = validate.moment("--day", day).astimezone().date()
        days = 1
    else:
        today = (
            validate.moment("--week", week).astimezone().date()
            if week
            else datetime.now().astimezone().date()
        )
        first, days = today - timedelta(days=today.weekday()), 7
    starts_from = _local_midnight(first)
    starts_before = _local_midnight(first + timedelta(days=days))
    fmt = app.format(fmt, ics=True)

    def work(tx):
        department = app.claims.department
        if mine:
            _mine_allowed(department, "event agenda without --mine, or event list --no-support")
        rows = tx.run(
            "event.agenda",
            {
                "starts_from": starts_from,
                "starts_before": starts_before,
                "assigned_to_me": mine and department == "support",
                "sold_by_me": mine and department == "sales",
                "limit": AGENDA_LIMIT + 1,
            },
        )
        return rows, (tx.run("event.calendar_domain") if fmt == ICS else None)

    rows, domain = app.run(work)
    more = ""
    if len(rows) > AGENDA_LIMIT:
        rows = rows[:AGENDA_LIMIT]
        more = f"only the first {AGENDA_LIMIT} events: narrow with --day or --mine"
    last = first + timedelta(days=days - 1)
    title = (
        f"Agenda · {first:%A %d/%m/%Y}"
        if days == 1
        else f"Agenda · week of {first:%d/%m/%Y} to {last:%d/%m/%Y}"
    )
    if fmt == ICS:
        _write_ics(rows, domain, more, name=title)
    elif fmt == "table":
        _print_agenda(rows, first, days, title, more)
    else:
        emit(rows, fmt, AGENDA_RECORD, title=title)
        if more:
            click.echo(more, err=True)


AGENDA_RECORD = (
    RECORD[:4] + [Column("client_email", "Client email"), Column("client_phone", "Client phone")] + RECORD[4:]
)


def _local_midnight(day):
    from datetime import datetime

    return datetime(day.year, day.month, day.day).astimezone()


def _write_ics(rows: list, domain: str, note: str, name: str = "Epic Events") -> None:
    """The iCalendar file on standard output (bytes: CRLF line ends, as RFC 5545 has them)."""
    import sys

    from .. import ics

    data = ics.calendar(rows, domain, name=name)
    out = getattr(sys.stdout, "buffer", None)
    if out is not None:
        sys.stdout.flush()
        out.write(data)
        out.flush()
    else:
        sys.stdout.write(data.decode("utf-8"))
    if note:
        click.echo(f"note: {note}", err=True)


def _print_agenda(rows: list, first, days: int, title: str, more: str) -> None:
    """Day by day: a heading per day, then its events (times in local time)."""
    from datetime import timedelta

    from rich.table import Table

    from ..render import _escape, console

    out = console()
    out.rule(f"[bold]{_escape(title)}[/bold]")
    by_day: dict = {}
    for row in rows:
        by_day.setdefault(row["starts_at"].astimezone().date(), []).append(row)
    for n in range(days):
        day = first + timedelta(days=n)
        events = by_day.get(day, [])
        out.print(f"\n[bold]{day:%A %d/%m/%Y}[/bold]" + ("" if events else "  [dim]nothing[/dim]"))
        if not events:
            continue
        # Two columns: the times, then the event in three short lines that wrap
        # between words, so that an email or a phone number is never cut.
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True)
        grid.add_column()
        for r in events:
            start, end = r["starts_at"].astimezone(), r["ends_at"].astimezone()
            until = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%d/%m %H:%M}"
            support = (
                _escape(r["support_contact_name"])
                if r["support_contact_name"]
                else "[yellow]none yet[/yellow]"
            )
            client = " · ".join(
                _escape(v) for v in (r["client_name"], r["client_phone"], r["client_email"]) if v
            )
            grid.add_row(
                f"[bold]{start:%H:%M}–{until}[/bold]",
                f"[bold]#{r['id']} {_escape(r['name'])}[/bold] · {_escape(r['location'])}"
                f" · {r['attendees']} attendees\nClient: {client}\nSupport: {support}",
            )
        out.print(grid)
    out.print(
        f"\n[dim]{len(rows)} event{'s' if len(rows) != 1 else ''}"
        + (f" · {more}" if more else "")
        + " · times in local time[/dim]"
    )


def list_parameters(
    no_support=False,
    assigned_to_me=False,
    sold_by_me=False,
    me=None,
    contract_id=None,
    starts_from=None,
    starts_until=None,
    sort="starts_at",
    desc=False,
    limit=51,
    offset=0,
) -> dict:
    """The parameters of event.list_events, exactly as `event list` sends them.

    `me` is the caller's id from the verified token: a planning hint only (see the query).
    """
    return {
        "no_support": no_support,
        "assigned_to_me": assigned_to_me,
        "sold_by_me": sold_by_me,
        "me": me,
        "contract_id": contract_id,
        "starts_from": starts_from,
        "starts_until": starts_until,
        "sort": sort,
        "desc": desc,
        "limit": limit,
        "offset": offset,
    }


@event.command()
@click.argument("event_id", type=ID, shell_complete=complete_ids("completion.events"))
@output_option
@click.pass_obj
def view(app, event_id, fmt):
    """Show one event with its client's contact details and its support contact.

    \b
    Example:
      epic-events event view 42
    """
    row = app.run(lambda tx: tx.run("event.get_event", {"id": event_id}))
    if row is None:
        raise errors.NotFound(f"event {event_id}: not found")
    emit(row, app.format(fmt), DETAIL, title=f"Event {row['id']} · {row['name']}")


@event.command()
@click.option("--contract", "contract_id", metavar="ID", help="The signed contract's id.")
@click.option("--name", help="Event name.")
@click.option("--start", metavar="DATE", help="Start: dd/mm/yyyy HH:MM or ISO 8601.")
@click.option("--end", metavar="DATE", help="End, after the start.")
@click.option("--location", help="Where it takes place.")
@click.option("--attendees", metavar="N", help="Expected number of attendees.")
@click.option("--notes", help="Free notes.")
@output_option
@click.pass_obj
def create(app, contract_id, name, start, end, location, attendees, notes, fmt):
    """Create an event on a signed contract of one of your clients (sales).

    Missing options are asked on a terminal; in a script they are errors.

    \b
    Example:
      epic-events event create --contract 7 --name "John Quick Wedding" \\
          --start "04/06/2027 13:00" --end "05/06/2027 02:00" \\
          --location "53 Rue du Château, 41120 Candé-sur-Beuvron" --attendees 75 \\
          --notes "Wedding starts at 3PM, by the river."
    """
    contract_id = ask(
        contract_id,
        "contract_id",
        "--contract",
        existing(app, "contract.contract_state", "contract", _signed),
        "Contract id",
    )
    name = ask(name, "name", "--name", validate.text, "Event name")
    starts_at = ask(start, "starts_at", "--start", validate.moment, "Start (dd/mm/yyyy HH:MM)")
    ends_at = ask(end, "ends_at", "--end", _ends_after(starts_at), "End (dd/mm/yyyy HH:MM)")
    location = ask(location, "location", "--location", _location, "Location")
    attendees = ask(attendees, "attendees", "--attendees", validate.count, "Attendees")
    notes = ask(notes, "notes", "--notes", optional(validate.notes), "Notes (optional)", required=False)

    def work(tx):
        # The database refuses a missing contract (not found), an unsigned one
        # (event_needs_signed_contract) and another's (policy event_create).
        new_id = tx.run(
            "event.create_event",
            {
                "contract_id": contract_id,
                "name": name,
                "starts_at": starts_at,
                "ends_at": ends_at,
                "location": location,
                "attendees": attendees,
                "notes": notes,
            },
        )
        return tx.run("event.get_event", {"id": new_id})

    row = app.run(work, rule=RULE_CREATE, fields=FIELDS)
    emit(row, app.format(fmt), DETAIL, title=f"Created event {row['id']}")


@event.command()
@click.argument("event_id", type=ID, shell_complete=complete_ids("completion.events"))
@click.option("--name", help="Event name.")
@click.option("--start", metavar="DATE", help="Start: dd/mm/yyyy HH:MM or ISO 8601.")
@click.option("--end", metavar="DATE", help="End, after the start.")
@click.option("--location", help="Where it takes place.")
@click.option("--attendees", metavar="N", help="Expected number of attendees.")
@click.option("--notes", help='Free notes ("" clears them).')
@expect_option
@output_option
@click.pass_obj
def update(app, event_id, name, start, end, location, attendees, notes, if_updated_at, fmt):
    """Update an event: only the options given change.

    Support update the events they are assigned to; management any. With no
    option on a terminal, each field is asked with its current value.

    \b
    Examples:
      epic-events event update 42 --attendees 80 --notes "Band confirmed."
      epic-events event update 42 --start "04/06/2027 14:00" --end "05/06/2027 03:00"
    """
    expected = parse_expected(if_updated_at)
    if all(v is None for v in (name, start, end, location, attendees, notes)):
        current = app.run(lambda tx: tx.run("event.get_event", {"id": event_id}))
        if current is None:
            raise errors.NotFound(f"event {event_id}: not found")
        if not options.stdin_is_terminal():
            raise errors.InvalidInput("nothing to update: give at least one option")
        expected = current["updated_at"] if expected is None else expected
        name = ask(None, "name", "--name", validate.text, "Event name", default=current["name"])
        starts_at = ask(
            None, "starts_at", "--start", validate.moment, "Start", default=_typed(current["starts_at"])
        )
        ends_at = ask(
            None, "ends_at", "--end", _ends_after(starts_at), "End", default=_typed(current["ends_at"])
        )
        location = ask(None, "location", "--location", _location, "Location", default=current["location"])
        attendees = ask(
            None, "attendees", "--attendees", validate.count, "Attendees", default=str(current["attendees"])
        )
        notes = (
            ask(
                None,
                "notes",
                "--notes",
                optional(validate.notes),
                "Notes",
                default=current["notes"] or "",
                required=False,
            )
            or ""
        )
    else:
        name = validate.text("--name", name) if name is not None else None
        starts_at = validate.moment("--start", start) if start is not None else None
        ends_at = validate.moment("--end", end) if end is not None else None
        if starts_at is not None and ends_at is not None:
            _ends_after(starts_at)("--end", end)
        location = _location("--location", location) if location is not None else None
        attendees = validate.count("--attendees", attendees) if attendees is not None else None
        # Blank clears, as "" does (and as on create).
        notes = (optional(validate.notes)("--notes", notes) or "") if notes is not None else None

    def work(tx):
        before = tx.run("event.event_state", {"id": event_id})
        if before is None:
            raise errors.NotFound(f"event {event_id}: not found")
        seen = expected if expected is not None else before["updated_at"]
        updated = tx.run(
            "event.update_event",
            {
                "id": event_id,
                "expected_updated_at": seen,
                "name": name,
                "starts_at": starts_at,
                "ends_at": ends_at,
                "location": location,
                "attendees": attendees,
                "set_notes": notes is not None,
                "notes": notes or None,
            },
        )
        if updated is None:
            raise no_row_error(
                tx.run("event.event_state", {"id": event_id}), f"event {event_id}", seen, RULE_UPDATE
            )
        return tx.run("event.get_event", {"id": event_id})

    row = app.run(work, rule=RULE_UPDATE, fields=FIELDS)
    emit(row, app.format(fmt), DETAIL, title=f"Updated event {row['id']}")


@event.command("assign-support")
@click.argument("event_id", type=ID, shell_complete=complete_ids("completion.events"))
@click.argument(
    "employee_id", type=ID, required=False, shell_complete=complete_ids("completion.support_employees")
)
@click.option("--none", "unassign", is_flag=True, help="Remove the support contact instead.")
@output_option
@click.pass_obj
def assign_support(app, event_id, employee_id, unassign, fmt):
    """Name the support employee who runs an event, or remove them (management).

    The employee must be an active member of support (the database checks).

    \b
    Examples:
      epic-events event assign-support 42 9
      epic-events event assign-support 42 --none
    """
    if (employee_id is None) == (not unassign):
        raise errors.InvalidInput("assign-support: give EMPLOYEE_ID or --none (one of them)")

    def work(tx):
        if employee_id is not None:
            require_employee(tx, employee_id)
        if tx.run("event.assign_support", {"id": event_id, "employee_id": employee_id}) is None:
            raise no_row_error(
                tx.run("event.event_state", {"id": event_id}), f"event {event_id}", None, RULE_ASSIGN
            )
        return tx.run("event.get_event", {"id": event_id})

    row = app.run(work, rule=RULE_ASSIGN)
    emit(row, app.format(fmt), DETAIL, title=f"Support of event {row['id']}")


@event.command()
@click.argument("event_id", type=ID, shell_complete=complete_ids("completion.events"))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def delete(app, event_id, yes):
    """Delete an event (management).

    \b
    Example:
      epic-events event delete 42 --yes
    """
    delete_record(app, "event", "event.delete_event", "event.event_state", event_id, RULE_DELETE, yes)


# -- helpers ----------------------------------------------------------------------
def _signed(field: str, state: dict) -> None:
    """An event needs a signed contract (the trigger event_needs_signed_contract says so too)."""
    if not state["is_signed"]:
        raise errors.InvalidInput(
            f"{field}: contract {state['id']} is not signed yet; events are created on signed contracts"
        )


def _location(field: str, value: str) -> str:
    return validate.text(field, value, max_length=500)


def _ends_after(starts_at):
    """A parser for the end that refuses one not after the start (the database does too)."""

    def parse(field, value):
        ends_at = validate.moment(field, value)
        if ends_at <= starts_at:
            raise errors.InvalidInput(f"{field}: must be after the start")
        return ends_at

    return parse


def _until(value: str):
    """--to: a date alone means up to the end of that day."""
    from datetime import timedelta

    until = validate.moment("--to", value)
    if DATE_ONLY.match(value):
        until += timedelta(days=1, microseconds=-1)
    return until


def _typed(moment) -> str:
    """A stored time as a person would type it (local time)."""
    return moment.astimezone().strftime("%d/%m/%Y %H:%M")
