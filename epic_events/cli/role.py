"""role list | view | grant | revoke: which permission codes each department holds.

The codes are data (table department_permission) that the RLS policies read
on every statement, so a grant or revoke takes effect on the very next
command of every employee of that department, without a new login. It never
lifts a department above the SQL grants of its role (the ceiling, changed only
by migration). Every change is written to audit_log by a trigger.
"""

from __future__ import annotations

import click

from .. import errors
from ..render import Column, emit, to_json
from .options import complete_choices, complete_from, output_option

DEPARTMENTS = ("management", "sales", "support")

LIST = [
    Column("department", "Department"),
    Column("role_name", "Database role"),
    Column("permissions", "Permissions"),
]
CATALOG = [
    Column("department", "Department"),
    Column("code", "Permission"),
    Column("description", "What it allows"),
    Column("held", "Held", "bool"),
    Column("granted_at", "Granted", "datetime"),
    Column("within_ceiling", "Within grants", "bool"),
    Column("needs", "Needs (SQL grant)"),
]
# A table shows the ceiling in one column: "yes", or "no: needs UPDATE (…) on event".
CATALOG_TABLE = CATALOG[1:5] + [Column("ceiling", "Grants allow")]
RULE_CHANGE = (
    "granting or revoking a department permission is management's (deliberately not itself a permission code)"
)


@click.group()
def role():
    """Department permissions: everyone reads them; management grants and revokes."""


@role.command("list")
@output_option
@click.pass_obj
def list_(app, fmt):
    """List each department and the permission codes it holds.

    JSON gives each department's codes as an array; CSV as one cell, the codes
    separated by spaces.

    \b
    Examples:
      epic-events role list
      epic-events role list --format json
    """
    rows = app.run(lambda tx: tx.run("role.list_department_permissions"))
    fmt = app.format(fmt)
    if fmt != "json":
        joiner = "\n" if fmt == "table" else " "
        rows = [{**r, "permissions": joiner.join(r["permissions"]) or None} for r in rows]
    emit(rows, fmt, LIST, title="Department permissions")


@role.command()
@click.argument("department", shell_complete=complete_choices(DEPARTMENTS))
@output_option
@click.pass_obj
def view(app, department, fmt):
    """Show the whole permission catalog: what DEPARTMENT holds and does not.

    JSON gives one object (the department and its catalog); CSV one row per code.

    \b
    Examples:
      epic-events role view sales
      epic-events role view support --format json
    """

    def work(tx):
        name = _known_department(tx, department)
        return name, tx.run("role.department_catalog", {"department": name})

    name, catalog = app.run(work)
    rows = [{"department": name, **r} for r in catalog]
    fmt = app.format(fmt)
    if fmt == "json":
        # One object, as every view: the department and its catalog.
        import json

        permissions = json.loads(to_json(catalog, CATALOG[1:]))
        emit(
            {"department": name, "permissions": permissions},
            fmt,
            [Column("department", ""), Column("permissions", "")],
        )
        return
    held = sum(r["held"] for r in rows)
    if fmt == "table":
        rows = [{**r, "ceiling": "yes" if r["within_ceiling"] else f"no: needs {r['needs']}"} for r in rows]
    emit(
        rows,
        fmt,
        CATALOG_TABLE if fmt == "table" else CATALOG,
        title=f"{name}: {held} of {len(rows)} permissions held",
    )


@role.command()
@click.argument("department", shell_complete=complete_choices(DEPARTMENTS))
@click.argument("permission", shell_complete=complete_from("completion.permission_codes"))
@click.pass_obj
def grant(app, department, permission):
    """Let DEPARTMENT do what PERMISSION allows, from its next command on (management).

    An unknown department or code is refused (exit 1) with the valid ones.
    Granting a code the department already holds changes nothing and exits 5.
    A code beyond the department's SQL grants (which only a migration changes)
    could not take effect: it is refused (exit 1) with the grant it would need,
    as `role view` shows.

    \b
    Examples:
      epic-events role grant sales client:update:own
      epic-events role grant sales event:create
    """

    def work(tx):
        name, code = _known_department(tx, department), _known_code(tx, permission)
        # ON CONFLICT DO NOTHING: no row back means it was already held. Only
        # management may insert (the policy says so, before anything else is checked).
        if tx.run("role.grant_permission", {"department": name, "code": code}) is None:
            raise errors.Conflict(f"{name} already holds {code}: nothing changed")
        entry = next(r for r in tx.run("role.department_catalog", {"department": name}) if r["code"] == code)
        if not entry["within_ceiling"]:  # raising rolls the insert back
            raise errors.InvalidInput(
                f"permission {code}: beyond the SQL grants of department {name} (it needs "
                f"{entry['needs']}, which only a migration grants): nothing changed"
            )
        return name, code

    name, code = app.run(work, rule=RULE_CHANGE)
    click.echo(f"Granted {code} to {name}: effective from their next command.", err=True)


@role.command()
@click.argument("department", shell_complete=complete_choices(DEPARTMENTS))
@click.argument("permission", shell_complete=complete_from("completion.permission_codes"))
@click.pass_obj
def revoke(app, department, permission):
    """Withdraw PERMISSION from DEPARTMENT, from its next command on (management).

    Sessions already open lose the right at once: no new login is needed.
    An unknown department or code is refused (exit 1) with the valid ones.
    Revoking a code the department does not hold changes nothing and exits 5.

    \b
    Examples:
      epic-events role revoke sales client:update:own
      epic-events role revoke support event:update:assigned
    """

    def work(tx):
        name, code = _known_department(tx, department), _known_code(tx, permission)
        if tx.run("role.revoke_permission", {"department": name, "code": code}) is None:
            if not tx.run("role.department_holds", {"department": name, "code": code}):
                raise errors.Conflict(f"{name} does not hold {code}: nothing changed")
            raise errors.PermissionDenied(f"permission denied: {RULE_CHANGE}")
        return name, code

    name, code = app.run(work, rule=RULE_CHANGE)
    click.echo(f"Revoked {code} from {name}: effective from their next command.", err=True)


# -- helpers ----------------------------------------------------------------------
def _known_department(tx, value: str) -> str:
    """The department named (any case), else an error naming the valid ones (table department)."""
    names = [r["name"] for r in tx.run("role.department_names")]
    name = value.strip().lower()
    if name not in names:
        raise errors.InvalidInput(f"department: unknown {value!r}; one of {', '.join(names)}")
    return name


def _known_code(tx, value: str) -> str:
    """The code named, else an error naming the valid ones (the catalog table permission)."""
    import difflib

    codes = [r["code"] for r in tx.run("role.permission_codes")]
    code = value.strip().lower()
    if code not in codes:
        close = difflib.get_close_matches(code, codes, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise errors.InvalidInput(
            f"permission: unknown code {value!r}; {hint}valid codes: {', '.join(codes)}"
        )
    return code
