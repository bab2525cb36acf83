"""employee list | view | create | update | deactivate | reactivate | delete."""

from __future__ import annotations

import click

from .. import errors, observability, validate
from ..db import ROLE_OF
from ..render import Column, emit
from . import options  # options.stdin_is_terminal: tests play a terminal through it
from .options import (
    ID,
    ask,
    complete_choices,
    complete_ids,
    delete_record,
    emit_list,
    expect_option,
    no_row_error,
    optional,
    output_option,
    paging,
    paging_options,
    parse_expected,
    password_stdin_option,
    read_password,
)

DEPARTMENTS = tuple(ROLE_OF)
LIST = [
    Column("id", "Id", "id"),
    Column("employee_number", "Number"),
    Column("full_name", "Name"),
    Column("email", "Email"),
    Column("phone", "Phone"),
    Column("department", "Department"),
    Column("is_active", "Active", "bool"),
]
# JSON/CSV carry the data model's columns; the password salt and verifier are never read.
RECORD = [
    Column("id", "Id", "id"),
    Column("employee_number", "Number"),
    Column("full_name", "Name"),
    Column("email", "Email"),
    Column("phone", "Phone"),
    Column("department", "Department"),
    Column("is_active", "Active", "bool"),
    Column("created_at", "Created", "datetime"),
    Column("updated_at", "Updated", "datetime"),
]
# What someone still holds (employee view; deactivate asks about it).
HOLDINGS = [
    Column("holds_clients", "Clients held", "number"),
    Column("holds_contracts", "Contracts held", "number"),
    Column("holds_future_events", "Future events held", "number"),
]
HANDED_OVER = [
    Column("clients_reassigned", "Clients handed over", "number"),
    Column("contracts_reassigned", "Contracts handed over", "number"),
    Column("events_reassigned", "Events handed over", "number"),
]
FIELDS = ("full_name", "email", "phone", "department")
RULE_CREATE = "creating an employee needs employee:create (management)"
RULE_UPDATE = "updating, deactivating or reactivating an employee needs employee:update (management)"
RULE_DELETE = "deleting an employee needs employee:delete (management)"
RULE_OFFBOARD = (
    "handing over and deactivating needs employee:update, and client:update, "
    "contract:update or event:update for what moves (management)"
)

# The columns the database names in its refusals, as the options of create and update.
OPTIONS = {"full_name": "--name", "email": "--email", "phone": "--phone", "department": "--department"}


@click.group()
def employee():
    """Staff: everyone reads the directory; management manages it."""


@employee.command("list")
@click.option("--department", type=click.Choice(DEPARTMENTS), help="Only this department.")
@click.option(
    "--active/--inactive",
    "active",
    default=None,
    help="Only active (or only deactivated) employees; default: both.",
)
@paging_options(("id", "name", "department", "created_at"))
@output_option
@click.pass_obj
def list_(app, department, active, limit, offset, page, sort, desc, all_rows, fmt):
    """List the staff directory, a page at a time.

    \b
    Examples:
      epic-events employee list --department sales --active
      epic-events employee list --inactive --sort name
      epic-events employee list --page 2 --format csv > staff.csv
    """
    window = paging(limit, offset, page, all_rows)
    emit_list(
        app,
        "employee.list_employees",
        {"department": department, "active": active, "sort": sort, "desc": desc, **window},
        window,
        limit,
        fmt,
        "Employees",
        LIST,
        RECORD,
    )


@employee.command()
@click.argument("employee_id", type=ID, shell_complete=complete_ids("completion.employees"))
@output_option
@click.pass_obj
def view(app, employee_id, fmt):
    """Show one employee, and what they still hold (clients, contracts, future events).

    \b
    Example:
      epic-events employee view 7 --format json
    """

    def work(tx):
        return (
            tx.run("employee.get_employee", {"id": employee_id}),
            tx.run("employee.employee_holdings", {"id": employee_id}),
        )

    row, holdings = app.run(work)
    if row is None:
        raise errors.NotFound(f"employee {employee_id}: not found")
    emit({**row, **holdings}, app.format(fmt), RECORD + HOLDINGS, title=_title("Employee", row))


@employee.command()
@click.option("--name", help="Full name.")
@click.option("--email", help="Work email (unique, whatever its case).")
@click.option(
    "--department",
    metavar="management|sales|support",
    shell_complete=complete_choices(DEPARTMENTS),
    help="Department.",
)
@click.option("--phone", help="Phone, e.g. 06 12 34 56 78 or +44 20 7946 0958.")
@password_stdin_option
@output_option
@click.pass_obj
def create(app, name, email, department, phone, password_stdin, fmt):
    """Create an employee (management); the database gives their number.

    The password is asked twice with a hidden prompt, or read from standard
    input with --password-stdin; it is never an argument. Missing options are
    asked on a terminal; in a script they are errors.

    \b
    Examples:
      epic-events employee create --name "Sam Sales" --email sam@epic-events.fr \\
          --department sales --phone "06 12 34 56 78"
      pass show new-hire | epic-events employee create --name "Sam Sales" \\
          --email sam@epic-events.fr --department sales --password-stdin
    """
    # Before asking anything: a friendlier refusal (the policy decides anyway).
    _require(app, "employee:create", RULE_CREATE)
    name = ask(name, "full_name", "--name", validate.text, "Full name")
    email = ask(email, "email", "--email", validate.email, "Email")
    department = ask(
        department, "department", "--department", parse_department, f"Department ({', '.join(DEPARTMENTS)})"
    )
    phone = ask(phone, "phone", "--phone", optional(validate.phone), "Phone (optional)", required=False)
    salt, verifier = _record(new_password(password_stdin))

    def work(tx):
        new_id = tx.run(
            "employee.create_employee",
            {
                "full_name": name,
                "email": email,
                "phone": phone,
                "department": department,
                "password_salt": salt,
                "password_verifier": verifier,
            },
        )
        return tx.run("employee.get_employee", {"id": new_id})

    row = app.run(work, rule=RULE_CREATE, fields=OPTIONS)
    observability.event("employee created", employee_id=row["id"], department=row["department"])
    emit(row, app.format(fmt), RECORD, title=_title("Created employee", row))


@employee.command()
@click.argument("employee_id", type=ID, shell_complete=complete_ids("completion.employees"))
@click.option("--name", help="Full name.")
@click.option("--email", help="Work email.")
@click.option("--phone", help='Phone ("" clears it).')
@click.option(
    "--department",
    metavar="management|sales|support",
    shell_complete=complete_choices(DEPARTMENTS),
    help="Move to this department (their rights follow at their next command).",
)
@click.option(
    "--reset-password",
    "reset_password",
    is_flag=True,
    help="Set a new password (asked twice, or read with --password-stdin).",
)
@password_stdin_option
@expect_option
@output_option
@click.pass_obj
def update(
    app, employee_id, name, email, phone, department, reset_password, password_stdin, if_updated_at, fmt
):
    """Update an employee (management): only the options given change.

    With no option on a terminal, each field is asked with its current value.
    A password reset reads the new password as `employee create` does.

    \b
    Examples:
      epic-events employee update 7 --department support
      epic-events employee update 7 --phone "+33 6 98 76 54 32"
      epic-events employee update 7 --reset-password
      pass show sam | epic-events employee update 7 --reset-password --password-stdin
    """
    if password_stdin and not reset_password:
        raise errors.InvalidInput("--password-stdin: only with --reset-password")
    expected = parse_expected(if_updated_at)
    if all(v is None for v in (name, email, phone, department)) and not reset_password:
        current = app.run(lambda tx: tx.run("employee.get_employee", {"id": employee_id}))
        if current is None:
            raise errors.NotFound(f"employee {employee_id}: not found")
        if not options.stdin_is_terminal():
            raise errors.InvalidInput("nothing to update: give at least one option")
        expected = current["updated_at"]
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
        department = ask(
            None,
            "department",
            "--department",
            parse_department,
            f"Department ({', '.join(DEPARTMENTS)})",
            default=current["department"],
        )
    else:
        name = validate.text("--name", name) if name is not None else None
        email = validate.email("--email", email) if email is not None else None
        phone = optional(validate.phone)("--phone", phone) or "" if phone is not None else None
        department = parse_department("--department", department) if department is not None else None
    password = None
    if reset_password:
        _require(app, "employee:update", RULE_UPDATE)
        password = _record(new_password(password_stdin))
    fields_given = any(v is not None for v in (name, email, phone, department))

    def work(tx):
        before = tx.run("employee.get_employee", {"id": employee_id})
        if before is None:
            raise errors.NotFound(f"employee {employee_id}: not found")
        seen = expected if expected is not None else before["updated_at"]
        if fields_given:
            updated = tx.run(
                "employee.update_employee",
                {
                    "id": employee_id,
                    "expected_updated_at": seen,
                    "full_name": name,
                    "email": email,
                    "department": department,
                    "set_phone": phone is not None,
                    "phone": phone or None,
                },
            )
            if updated is None:
                raise no_row_error(
                    tx.run("employee.employee_state", {"id": employee_id}),
                    f"employee {employee_id}",
                    seen,
                    RULE_UPDATE,
                )
            seen = None  # checked by the statement above, which moved updated_at on
        if password is not None:
            reset = tx.run(
                "employee.reset_employee_password",
                {
                    "id": employee_id,
                    "password_salt": password[0],
                    "password_verifier": password[1],
                    "expected_updated_at": seen,
                },
            )
            if reset is None:
                raise no_row_error(
                    tx.run("employee.employee_state", {"id": employee_id}),
                    f"employee {employee_id}",
                    seen,
                    RULE_UPDATE,
                )
        return before, tx.run("employee.get_employee", {"id": employee_id})

    before, row = app.run(work, rule=RULE_UPDATE, fields=OPTIONS)
    changed = [f for f in FIELDS if row is not None and row[f] != before[f]]
    if password is not None:
        changed.append("password")  # the name only: never a value
    observability.event("employee updated", employee_id=employee_id, fields=changed)
    _show(app, fmt, row, f"Updated employee {employee_id}")


@employee.command()
@click.argument("employee_id", type=ID, shell_complete=complete_ids("completion.employees"))
@click.option(
    "--reassign-to",
    "reassign_to",
    type=ID,
    metavar="ID",
    shell_complete=complete_ids("completion.employees"),
    help="Hand their clients and contracts (sales) or future events (support) to this "
    "active colleague of the same department, in the same transaction.",
)
@click.option(
    "--yes", is_flag=True, help="Deactivate without asking, even if they still hold clients or events."
)
@output_option
@click.pass_obj
def deactivate(app, employee_id, reassign_to, yes, fmt):
    """Deactivate an employee (management): they are locked out at once.

    Their sessions are revoked by the database, so even an unexpired login
    stops working on their next command. With --reassign-to, their clients
    and contracts (sales) or their events not yet started (support) go to
    that colleague first, in one transaction; the database refuses anyone
    but an active employee of the same department. Without it, someone who
    still holds clients or future events keeps them: you are asked first (or
    pass --yes). The last active manager cannot be deactivated.

    \b
    Examples:
      epic-events employee deactivate 7 --reassign-to 3
      epic-events employee deactivate 7 --yes
    """
    if reassign_to is None:
        holdings = app.run(lambda tx: tx.run("employee.employee_holdings", {"id": employee_id}))
        if holdings is None:
            raise errors.NotFound(f"employee {employee_id}: not found")
        held = _describe_holdings(holdings)
        if held and holdings["is_active"] and not yes:
            if not options.stdin_is_terminal():
                raise errors.InvalidInput(
                    f"employee {employee_id} still holds {held}: pass --reassign-to ID to hand them "
                    "over, or --yes to deactivate anyway"
                )
            # "No" is exit 1 (nothing was done), as for every confirmation.
            options.confirm(
                f"Employee {employee_id} still holds {held}, who would stay their contact. "
                "Deactivate anyway?",
                False,
                "deactivate",
                f"employee {employee_id} was not deactivated",
            )
        _set_active(app, employee_id, False, fmt)
        return
    _offboard(app, employee_id, reassign_to, fmt)


@employee.command()
@click.argument("employee_id", type=ID, shell_complete=complete_ids("completion.employees"))
@output_option
@click.pass_obj
def reactivate(app, employee_id, fmt):
    """Reactivate a deactivated employee (management); they log in again.

    \b
    Example:
      epic-events employee reactivate 7
    """
    _set_active(app, employee_id, True, fmt)


@employee.command()
@click.argument("employee_id", type=ID, shell_complete=complete_ids("completion.employees"))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def delete(app, employee_id, yes):
    """Delete an employee nothing refers to (management); else deactivate them.

    \b
    Example:
      epic-events employee delete 7 --yes
    """
    delete_record(
        app, "employee", "employee.delete_employee", "employee.employee_state", employee_id, RULE_DELETE, yes
    )
    observability.event("employee deleted", employee_id=employee_id)


# -- helpers ----------------------------------------------------------------------
def parse_department(field: str, value: str) -> str:
    name = value.strip().lower()
    if name not in DEPARTMENTS:
        raise errors.InvalidInput(f"{field}: must be one of {', '.join(DEPARTMENTS)}")
    return name


def _require(app, code: str, rule: str) -> None:
    """Refuse early when the caller's department lacks `code` (e.g. before a password prompt)."""
    if not app.run(lambda tx: tx.run("role.caller_holds_permission", {"code": code})):
        raise errors.PermissionDenied(f"permission denied: {rule}")


def new_password(from_stdin: bool, label: str = "Password") -> str:
    """From stdin, or a hidden prompt with confirmation, asked again until valid."""
    while True:
        value = read_password(from_stdin, confirm=True, label=label)
        try:
            return validate.password(value)
        except errors.InvalidInput as exc:
            if from_stdin:
                raise
            click.echo(f"  {exc.message}", err=True)


def _record(password: str) -> tuple[str, bytes]:
    from ..auth import password_record

    return password_record(password)


def _set_active(app, employee_id: int, active: bool, fmt) -> None:
    what = "reactivated" if active else "deactivated"

    def work(tx):
        if tx.run("employee.set_employee_active", {"id": employee_id, "is_active": active}) is None:
            state = tx.run("employee.employee_state", {"id": employee_id})
            if state is not None and state["is_active"] == active:
                return False, state
            raise no_row_error(state, f"employee {employee_id}", None, RULE_UPDATE)
        # None when you deactivated yourself: from now on you see nothing.
        return True, tx.run("employee.get_employee", {"id": employee_id})

    changed, row = app.run(work, rule=RULE_UPDATE)
    if not changed:
        click.echo(
            f"Employee {employee_id} is already {'active' if active else 'deactivated'}; nothing changed.",
            err=True,
        )
        return
    observability.event(f"employee {what}", employee_id=employee_id)
    _show(app, fmt, row, f"{what.capitalize()} employee {employee_id}")


def _describe_holdings(holdings: dict) -> str:
    """'12 clients, 14 contracts and 2 future events' (what is non-zero), or ''."""
    parts = [
        f"{holdings[key]} {label}"
        for key, label in (
            ("holds_clients", "clients"),
            ("holds_contracts", "contracts"),
            ("holds_future_events", "future events"),
        )
        if holdings[key]
    ]
    if len(parts) < 2:
        return "".join(parts)
    return f"{', '.join(parts[:-1])} and {parts[-1]}"


def _offboard(app, employee_id: int, reassign_to: int, fmt) -> None:
    def work(tx):
        moved = tx.run("employee.offboard_employee", {"id": employee_id, "reassign_to": reassign_to})
        state = tx.run("employee.employee_state", {"id": employee_id})
        if state is None:
            raise errors.NotFound(f"employee {employee_id}: not found")
        if state["is_active"]:  # the policy hid the row: not the caller's to change
            raise errors.PermissionDenied(f"permission denied: {RULE_UPDATE}")
        return moved, tx.run("employee.get_employee", {"id": employee_id})

    moved, row = app.run(work, rule=RULE_OFFBOARD)
    observability.event("employee deactivated", employee_id=employee_id, reassigned_to=reassign_to)
    handed = {
        "clients_reassigned": moved["clients"],
        "contracts_reassigned": moved["contracts"],
        "events_reassigned": moved["events"],
    }
    click.echo(
        f"Handed over to employee {reassign_to}: {moved['clients']} clients, "
        f"{moved['contracts']} contracts, {moved['events']} future events.",
        err=True,
    )
    if row is None:
        _show(app, fmt, row, f"Deactivated employee {employee_id}")
        return
    emit({**row, **handed}, app.format(fmt), RECORD + HANDED_OVER, title=_title("Deactivated employee", row))


def _show(app, fmt, row: dict | None, title: str) -> None:
    if row is None:
        # The change removed your own access (you moved or deactivated yourself).
        click.echo(f"{title}; log in again to see it.", err=True)
        return
    emit(row, app.format(fmt), RECORD, title=title)


def _title(prefix: str, row: dict) -> str:
    return f"{prefix} {row['id']} · {row['full_name']} ({row['employee_number']})"
