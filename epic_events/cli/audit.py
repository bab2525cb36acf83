"""audit: who changed what, when (management); logins and logouts too."""

from __future__ import annotations

import click

from .. import errors, validate
from ..render import Column, compact_json, emit
from . import options
from .options import ID, output_option, paging

ACTIONS = (
    "insert",
    "update",
    "delete",
    "login_attempt",
    "login",
    "login_failed",
    "login_locked",
    "logout",
    "refresh_replayed",
    "purge",
)
RULE = "reading the audit trail is management's (audit_log_read)"

TABLE = [
    Column("id", "Id", "id"),
    Column("occurred_at", "When", "datetime"),
    Column("who", "Who"),
    Column("roles", "Login / role"),
    Column("table_name", "Table"),
    Column("row_id", "Row"),
    Column("action", "Action"),
    Column("what", "Changes (old → new)"),
]
RECORD = [
    Column("id", "Id", "id"),
    Column("occurred_at", "When", "datetime"),
    Column("employee_id", "Employee id", "id"),
    Column("employee_name", "Employee"),
    Column("login_role", "Login role"),
    Column("db_role", "Role"),
    Column("table_name", "Table"),
    Column("row_id", "Row"),
    Column("action", "Action"),
    Column("changes", "Changes"),
]


@click.command()
@click.option(
    "--table",
    "table_name",
    metavar="TABLE",
    help="Only this table's rows (client, contract, …; `session` for logins).",
)
@click.option("--record", "row_id", metavar="ID", help="Only this row id (of --table's rows).")
@click.option("--employee", "employee_id", type=ID, metavar="ID", help="Only what this employee did.")
@click.option("--action", type=click.Choice(ACTIONS), help="Only this action.")
@click.option("--from", "since", metavar="DATE", help="On or after DATE.")
@click.option(
    "--to", "until", metavar="DATE", help="On or before DATE (a date alone includes that whole day)."
)
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="Rows per page.")
@click.option("--offset", type=click.IntRange(min=0), default=None, help="Rows to skip.")
@click.option("--page", type=click.IntRange(min=1), default=None, help="Page number (of --limit rows).")
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Every matching row, streamed as it is read (csv/json; a table "
    f"is refused past {options.TABLE_ALL_MAX:,} rows).",
)
@output_option
@click.pass_obj
def audit(app, table_name, row_id, employee_id, action, since, until, limit, offset, page, everything, fmt):
    """The audit trail, newest first: who changed what, when, old → new (management).

    Each row names the employee (id and name), the login that connected and
    the role it used, the table and row, the action and the changed columns.
    Logins, failed logins, lockouts, logouts and refresh-token replays are
    rows of the table `session`; purges of old rows, of `audit_log`.

    \b
    Examples:
      epic-events audit --table contract --record 31
      epic-events audit --employee 4 --from 01/11/2026 --to 30/11/2026
      epic-events audit --table session --action login_failed
      epic-events audit --all --format csv > audit.csv
    """
    filters = {
        "table_name": validate.search("--table", table_name) if table_name is not None else None,
        "row_id": validate.search("--record", row_id) if row_id is not None else None,
        "employee_id": employee_id,
        "action": action,
        "since": validate.moment("--from", since) if since is not None else None,
        "until": _until(until) if until is not None else None,
    }
    if filters["since"] and filters["until"] and filters["until"] < filters["since"]:
        raise errors.InvalidInput("--to: before --from")
    window = paging(limit, offset, page, everything)  # --all: refuses --limit/--offset/--page
    fmt = app.format(fmt)
    parameters = {**filters, "before_id": None, **window}
    if everything:
        app.run(lambda tx: _stream(tx, parameters, fmt), rule=RULE)
        return
    rows = app.run(lambda tx: tx.run("audit.list_entries", parameters), rule=RULE)
    rows, caption = options.page_caption(rows, limit, window["offset"])
    if fmt == "table":
        emit([_for_people(r) for r in rows], fmt, TABLE, title="Audit trail", caption=caption)
    elif fmt == "csv":
        emit([{**r, "changes": compact_json(r["changes"])} for r in rows], fmt, RECORD)
    else:
        emit(rows, fmt, RECORD)


def _stream(tx, parameters: dict, fmt: str) -> None:
    """--all: every matching row, newest first, through one server-side cursor (as the
    other lists' --all, options.stream_all): written batch by batch as they arrive, so
    memory stays flat whatever the size of the trail; one snapshot, so a row written
    meanwhile is neither skipped nor doubled. A table needs every row to lay itself
    out: it is refused past TABLE_ALL_MAX rows (options.rows_for_a_table)."""
    from .. import render

    batches = tx.stream("audit.list_entries", parameters)
    if fmt == "table":
        rows = options.rows_for_a_table(batches)
        caption = f"{len(rows):,} rows" if rows else ""
        emit([_for_people(r) for r in rows], fmt, TABLE, title="Audit trail", caption=caption)
    elif fmt == "csv":
        render.stream(
            ([{**r, "changes": compact_json(r["changes"])} for r in b] for b in batches), fmt, RECORD
        )
    else:
        render.stream(batches, fmt, RECORD)


def _until(value: str):
    """--to: a date alone means up to the end of that day."""
    from datetime import timedelta

    from .event import DATE_ONLY

    moment = validate.moment("--to", value)
    if DATE_ONLY.match(value):
        moment += timedelta(days=1, microseconds=-1)
    return moment


def _for_people(row: dict) -> dict:
    who = (
        f"{row['employee_name'] or '(deleted)'} #{row['employee_id']}"
        if row["employee_id"] is not None
        else "—"
    )
    roles = f"{row['login_role'] or '?'} / {row['db_role']}"
    return {**row, "who": who, "roles": roles, "what": describe_changes(row["action"], row["changes"])}


def describe_changes(action: str, changes: dict | None) -> str:
    """One line per column: `name: old → new` (inserts: `name = new`, deletes: `name was old`);
    authentication events and purges: their details, `key: value`."""
    lines = []
    for key, value in (changes or {}).items():
        if isinstance(value, dict) and action in ("insert", "update", "delete"):
            if action == "insert":
                lines.append(f"{key} = {_shown(value.get('new'))}")
            elif action == "delete":
                lines.append(f"{key} was {_shown(value.get('old'))}")
            else:
                lines.append(f"{key}: {_shown(value.get('old'))} → {_shown(value.get('new'))}")
        else:
            lines.append(f"{key}: {_shown(value)}")
    return "\n".join(lines)


def _shown(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, (dict, list)):
        return compact_json(value)
    return str(value)
