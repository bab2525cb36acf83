"""Options and helpers shared by many commands (one decorator, one behaviour)."""

from __future__ import annotations

import sys

import click

from .. import errors, observability, validate
from ..render import FORMATS, ICS, ICS_ONLY


class FormatChoice(click.Choice):
    """table, json or csv; with `ics`, also iCalendar. Elsewhere `--format ics` is
    refused with a sentence saying where it works, not Click's bare list."""

    def __init__(self, ics: bool = False):
        super().__init__(FORMATS + ((ICS,) if ics else ()))
        self.ics = ics

    def convert(self, value, param, ctx):
        if not self.ics and isinstance(value, str) and value.strip().lower() == ICS:
            self.fail(ICS_ONLY, param, ctx)
        return super().convert(value, param, ctx)


def output_option(fn):
    """--format on every command that prints records."""
    return click.option(
        "--format",
        "fmt",
        type=FormatChoice(),
        default=None,
        help="table (default on a terminal), json or csv.",
    )(fn)


def calendar_output_option(fn):
    """--format of the commands that can also write an iCalendar file."""
    return click.option(
        "--format",
        "fmt",
        type=FormatChoice(ics=True),
        default=None,
        help="table (default on a terminal), json, csv, or ics (an "
        "iCalendar file for any calendar application).",
    )(fn)


def paging_options(sorts: tuple[str, ...]):
    """--limit/--offset/--page/--all and --sort/--desc on every list."""

    def decorate(fn):
        fn = click.option(
            "--all",
            "all_rows",
            is_flag=True,
            help="Every matching row, streamed as it is read (csv/json; a table "
            f"is refused past {TABLE_ALL_MAX:,} rows).",
        )(fn)
        fn = click.option("--desc", is_flag=True, help="Sort in descending order.")(fn)
        fn = click.option(
            "--sort", type=click.Choice(sorts), default=sorts[0], show_default=True, help="Sort key."
        )(fn)
        fn = click.option(
            "--page", type=click.IntRange(min=1), default=None, help="Page number (of --limit rows)."
        )(fn)
        fn = click.option("--offset", type=click.IntRange(min=0), default=None, help="Rows to skip.")(fn)
        fn = click.option(
            "--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="Rows per page."
        )(fn)
        return fn

    return decorate


#: --all in a table: Rich lays a table out from all its rows, in memory, so a
#: table of --all stops here (csv and json stream any number of rows).
TABLE_ALL_MAX = 10_000


def paging(limit: int, offset: int | None, page: int | None, all_rows: bool = False) -> dict:
    if offset is not None and page is not None:
        raise errors.InvalidInput("--offset and --page: give one or the other")
    if all_rows:
        ctx = click.get_current_context(silent=True)
        given = ctx is not None and ctx.get_parameter_source("limit") not in (
            None,
            click.core.ParameterSource.DEFAULT,
        )
        if offset is not None or page is not None or given:
            raise errors.InvalidInput("--all: streams every row; leave out --limit, --offset and --page")
        # LIMIT NULL is no limit: the same named query, read through a cursor (stream_all).
        return {"limit": None, "offset": 0}
    start = offset if offset is not None else ((page or 1) - 1) * limit
    # One row more than shown tells whether there is a next page, without count(*).
    return {"limit": limit + 1, "offset": start}


def page_caption(rows: list, limit: int, offset: int) -> tuple[list, str]:
    more = len(rows) > limit
    rows = rows[:limit]
    if not rows:
        return rows, ""
    caption = f"rows {offset + 1}–{offset + len(rows)}"
    if more:
        caption += f"; more with --offset {offset + limit}"
    return rows, caption


def emit_page(
    app, rows: list, limit: int, offset: int, fmt: str | None, title: str, table_columns, record_columns
) -> None:
    """A page of a list: the table's columns for people, the record's for scripts."""
    from ..render import emit

    rows, caption = page_caption(rows, limit, offset)
    fmt = app.format(fmt)
    emit(rows, fmt, table_columns if fmt == "table" else record_columns, title=title, caption=caption)


def emit_list(
    app,
    query: str,
    params,
    window: dict,
    limit: int,
    fmt: str | None,
    title: str,
    table_columns,
    record_columns,
    csv_query: str | None = None,
) -> None:
    """A list command's output: a page, or with --all (window["limit"] is None) every row.

    `params(tx)` (or a dict) gives the named query's parameters, window included.
    `csv_query`, a `copy (…) to stdout` of the same rows formatted by the server,
    writes --all --format csv at the speed of psql's \\copy.
    """

    def parameters(tx):
        return params(tx) if callable(params) else params

    if window["limit"] is not None:
        rows = app.run(lambda tx: tx.run(query, parameters(tx)))
        emit_page(app, rows, limit, window["offset"], fmt, title, table_columns, record_columns)
        return
    stream_all(app, query, parameters, fmt, title, table_columns, record_columns, csv_query)


def stream_all(
    app,
    query: str,
    parameters,
    fmt: str | None,
    title: str,
    table_columns,
    record_columns,
    csv_query: str | None = None,
) -> None:
    """--all: every row through a server-side cursor in the request's own transaction,
    written as each batch arrives (csv, json), so memory stays flat whatever the size.

    One query, one snapshot: the policies' InitPlans (current_employee_id(),
    has_permission()) are evaluated once, when the cursor's query starts, and hold
    for every FETCH of it, even past the 5 minutes a request's identity lasts for
    statements started later (0015). A table needs every row to lay itself out:
    it stops at TABLE_ALL_MAX rows and asks for csv or json.
    """
    from .. import render

    fmt = app.format(fmt)

    def work(tx):
        if fmt == "csv" and csv_query is not None:
            sys.stdout.flush()
            out = sys.stdout.buffer
            for block in tx.copy_out(csv_query, parameters(tx)):
                out.write(block)
            out.flush()
            return
        batches = tx.stream(query, parameters(tx))
        if fmt == "table":
            rows = rows_for_a_table(batches)
            render.emit(
                rows, fmt, table_columns, title=title, caption=f"{len(rows):,} rows" if rows else None
            )
            return
        render.stream(batches, fmt, record_columns)

    app.run(work)


def rows_for_a_table(batches) -> list[dict]:
    """--all in a table: every row (Rich lays a table out from all of them), refused
    past TABLE_ALL_MAX rows."""
    rows: list[dict] = []
    for batch in batches:
        rows.extend(batch)
        if len(rows) > TABLE_ALL_MAX:
            raise errors.InvalidInput(
                f"--all: more than {TABLE_ALL_MAX:,} rows do not make a table; "
                "use --format csv or --format json, which stream every row"
            )
    return rows


def password_stdin_option(fn):
    return click.option(
        "--password-stdin", is_flag=True, help="Read the password from standard input (for scripts)."
    )(fn)


def read_password(from_stdin: bool, confirm: bool, label: str = "Password") -> str:
    """From stdin (first line), or a hidden prompt on a terminal; never an argument."""
    if from_stdin:
        try:
            line = sys.stdin.readline()
        except UnicodeDecodeError:  # a strict (non-C) locale and bytes that are not UTF-8
            raise errors.InvalidInput("password: not valid text (bytes that are not UTF-8)") from None
        value = line[:-1] if line.endswith("\n") else line
        if value.endswith("\r"):
            value = value[:-1]
        if not value:
            raise errors.InvalidInput("password: nothing was read from standard input")
        observability.forget(value)
        return validate.utf8("password", value)
    if not stdin_is_terminal():
        raise errors.InvalidInput("password: no terminal to ask on; pass --password-stdin and pipe it in")
    value = click.prompt(label, hide_input=True, confirmation_prompt=confirm, err=True)
    observability.forget(value)
    return validate.utf8("password", value)


def ask(value, field: str, option: str, parse, prompt: str, default=None, required: bool = True):
    """The option's value parsed, else a validated prompt on a terminal, else an error.

    `parse(name, text)` raises InvalidInput naming what the user typed (the
    option, e.g. --total, not the column total_amount); on a terminal the
    question is asked again until the answer is valid. `field` is the column.
    """
    if value is not None:
        return parse(option, value)
    if not stdin_is_terminal():
        if not required:
            return None
        raise errors.InvalidInput(f"missing option {option} (no terminal to ask on)")
    while True:
        # Prompts go to stderr: `… --format json > file` keeps the file clean.
        answer = click.prompt(
            prompt,
            default=default if default is not None else (None if required else ""),
            show_default=default is not None,
            type=str,
            err=True,
        )
        if not required and answer.strip() == "":
            return None
        try:
            return parse(option, answer)
        except (errors.InvalidInput, errors.NotFound) as exc:  # e.g. an unknown id: ask again
            click.echo(f"  {exc.message}", err=True)


def optional(parse):
    """A parser that treats an empty string as 'clear this field' (None)."""

    def wrapped(field, value):
        return None if value.strip() == "" else parse(field, value)

    return wrapped


#: The type of every id argument and option: a whole number that fits PostgreSQL's
#: bigint. A larger one is refused here, naming the argument, instead of failing in
#: the database as "bigint out of range", which names nothing.
ID = click.IntRange(-(2**63), 2**63 - 1)


def parse_id(field, value):
    return validate.record_id(field, value)


def existing(app, state_query: str, what: str, check=None):
    """A parser of an id that, on a terminal, also looks the record up at once, so a
    wrong reference fails at its prompt instead of after every other question.

    It reads through the command's own named query (`state_query`); `check(state)`
    may refuse more (e.g. an unsigned contract). Scripts skip the look-up: the
    database refuses the same things when the command writes.
    """

    def parse(field, value):
        record_id = validate.record_id(field, value)
        if stdin_is_terminal():
            state = app.run(lambda tx: tx.run(state_query, {"id": record_id}))
            if state is None:
                raise errors.NotFound(f"{field}: {what} {record_id} not found")
            if check is not None:
                check(field, state)
        return record_id

    return parse


def expect_option(fn):
    """--if-updated-at: refuse the write if the record changed since it was read."""
    return click.option(
        "--if-updated-at",
        "if_updated_at",
        default=None,
        metavar="TIMESTAMP",
        help="Only write if the record's updated_at is still this (as printed by view "
        "--format json); else exit 5.",
    )(fn)


def no_row_error(state: dict | None, what: str, expected, rule: str) -> errors.AppError:
    """Why an UPDATE/DELETE touched nothing: gone, changed meanwhile, or not allowed (RLS)."""
    if state is None:
        return errors.NotFound(f"{what}: not found")
    if expected is not None and state["updated_at"] != expected:
        return errors.Conflict(f"{what} was changed by someone else meanwhile; view it again and retry")
    return errors.PermissionDenied(f"permission denied: {rule}")


def require_employee(tx, employee_id: int) -> None:
    """A target employee who does not exist is "not found" (exit 4); one who exists in
    the wrong department, or inactive, is left to the database's own refusal (exit 1).
    Everyone reads the staff directory, so this is the same answer for every caller."""
    if tx.run("employee.employee_state", {"id": employee_id}) is None:
        raise errors.NotFound(f"employee {employee_id}: not found")


def parse_expected(value: str | None):
    if value is None:
        return None
    return validate.moment("--if-updated-at", value)


def stdin_is_terminal() -> bool:
    """Whether missing input may be asked for (tests replace this to play a person)."""
    return sys.stdin.isatty()


def delete_record(
    app, what: str, delete_query: str, state_query: str, record_id: int, rule: str, yes: bool
) -> None:
    """Confirm, then delete in one transaction; a refusal says why (gone, or the rule).

    The database refuses what RLS or a foreign key forbids; this only explains it.
    """
    confirm_delete(f"{what} {record_id}", yes)

    def work(tx):
        if tx.run(delete_query, {"id": record_id}) is None:
            raise no_row_error(tx.run(state_query, {"id": record_id}), f"{what} {record_id}", None, rule)

    app.run(work, rule=rule)
    click.echo(f"Deleted {what} {record_id}.", err=True)


def confirm_delete(what: str, yes: bool) -> None:
    """Deleting asks first on a terminal; a script must say --yes."""
    confirm(f"Delete {what}? This cannot be undone", yes, "delete", f"{what} was not deleted")


def confirm(question: str, yes: bool, action: str, declined: str) -> None:
    """What cannot be undone asks first on a terminal; without one, --yes is required.

    "No" is exit 1 (errors.Declined: nothing was done); Ctrl-C at the question is
    130 (interrupted), as anywhere.
    """
    if yes:
        return
    if not stdin_is_terminal():
        raise errors.InvalidInput(f"{action}: pass --yes to confirm without a terminal")
    if not click.confirm(question, default=False, err=True):
        raise errors.Declined(declined)


def like_pattern(search: str | None) -> str | None:
    """`--search` text as an ILIKE pattern matching it anywhere, wildcards escaped."""
    if search is None:
        return None
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def complete_choices(choices: tuple[str, ...]):
    """Shell completion from a fixed list (e.g. the three departments), no database."""

    def complete(ctx, param, incomplete: str):
        return [c for c in choices if c.startswith(incomplete.lower())]

    return complete


def complete_ids(query: str):
    """Shell completion of an id argument, from a named query in completion.sql.

    Runs as the logged-in employee; when anything is missing (not logged in,
    database down) it completes nothing rather than failing the shell.
    """
    return complete_from(query, digits=True)


def complete_from(query: str, digits: bool = False):
    """Shell completion from a named query of completion.sql (value, help) rows."""

    def complete(ctx, param, incomplete: str):
        if digits and incomplete and not incomplete.isdigit():
            return []
        try:
            from click.shell_completion import CompletionItem

            from .app import App

            app = App()
            try:
                rows = app.run(lambda tx: tx.run(query, {"prefix": incomplete + "%"}))
            finally:
                app.close()
            return [CompletionItem(r["value"], help=r["help"]) for r in rows]
        except Exception:
            return []

    return complete
