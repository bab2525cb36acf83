"""report sales | events: numbers for management (report:read)."""

from __future__ import annotations

from datetime import date, datetime

import click

from .. import errors, validate
from ..render import Column
from .options import output_option

RULE = "reports need report:read (management)"

SALES_FIGURES = [
    Column("created", "Created", "number"),
    Column("signed", "Signed", "number"),
    Column("signed_amount", "Signed amount", "money"),
    Column("collected", "Collected", "money"),
    Column("due", "Still due", "money"),
]
SALES_BY = {
    "month": ("report.sales_by_month", [Column("month", "Month", "date")]),
    "sales-contact": (
        "report.sales_by_sales_contact",
        [Column("sales_contact_id", "Sales contact id", "id"), Column("sales_contact_name", "Sales contact")],
    ),
}
EVENTS = [
    Column("week", "Week of", "date"),
    Column("events", "Events", "number"),
    Column("attendees", "Attendees", "number"),
    Column("without_support", "Without support", "number"),
    Column("without_support_share", "Share without support", "number"),
]


@click.group()
def report():
    """Numbers for management: sales and events over a period (report:read)."""


def period_options(fn):
    fn = click.option(
        "--to", "ends_on", metavar="DATE", help="Last day included (default: 31 December of this year)."
    )(fn)
    fn = click.option(
        "--from", "starts_on", metavar="DATE", help="First day included (default: 1 January of this year)."
    )(fn)
    return fn


@report.command()
@period_options
@click.option(
    "--by",
    type=click.Choice(tuple(SALES_BY)),
    default="month",
    show_default=True,
    help="One row per month, or per sales contact.",
)
@output_option
@click.pass_obj
def sales(app, starts_on, ends_on, by, fmt):
    """Contracts created and signed, amounts signed, collected and still due.

    Created counts contracts by their creation day, signed by their signing
    day; collected is the payment ledger's payments by the day paid (net of
    corrections); still due is what remains today on the contracts signed in
    the period. The last row is the whole period.

    \b
    Examples:
      epic-events report sales
      epic-events report sales --from 01/01/2027 --to 30/06/2027 --by sales-contact
      epic-events report sales --format csv > sales.csv
    """
    params = _period(starts_on, ends_on)
    query, keys = SALES_BY[by]
    rows = _run(app, query, params)
    fmt = app.format(fmt)
    title = f"Sales · {_span(params)}"
    if fmt != "table":
        from ..render import emit

        emit(rows, fmt, keys + SALES_FIGURES, title=title)
        return
    label = (lambda r: f"{r['month']:%m/%Y}") if by == "month" else (lambda r: r["sales_contact_name"] or "—")
    groups, total = rows[:-1], rows[-1]
    _print(
        title,
        [{**r, "label": label(r)} for r in groups],
        {**total, "label": "Total"},
        [Column("label", "Month" if by == "month" else "Sales contact")] + SALES_FIGURES,
        [("Signed amount", "signed_amount", True), ("Collected", "collected", True)],
    )


@report.command()
@period_options
@output_option
@click.pass_obj
def events(app, starts_on, ends_on, fmt):
    """Events per week: how many, their attendees, the share without support.

    An event counts in the week it starts (weeks start on Monday). Without
    support means no support contact, or one who was deactivated (as
    `event list --no-support`). The last row is the whole period.

    \b
    Examples:
      epic-events report events
      epic-events report events --from 01/06/2027 --to 31/08/2027 --format json
    """
    params = _period(starts_on, ends_on)
    rows = _run(app, "report.events_by_week", params)
    fmt = app.format(fmt)
    title = f"Events · {_span(params)}"
    if fmt != "table":
        from ..render import emit

        emit(rows, fmt, EVENTS, title=title)
        return

    def shown(r, label):
        share = r["without_support_share"]
        return {**r, "week": label, "without_support_share": "—" if share is None else f"{share * 100:.1f} %"}

    groups, total = rows[:-1], rows[-1]
    _print(
        title,
        [shown(r, f"{r['week']:%d/%m/%Y}") for r in groups],
        shown(total, "Total"),
        [Column("week", "Week of")] + EVENTS[1:],
        [("Events", "events", False), ("Without support", "without_support", False)],
    )


# -- helpers ----------------------------------------------------------------------
def _run(app, query: str, params: dict) -> list[dict]:
    """The report's rows, after asking the database whether the caller may read it:
    without report:read the query itself returns nothing (see report.sql)."""

    def work(tx):
        if not tx.run("report.may_read_reports"):
            raise errors.PermissionDenied(f"permission denied: {RULE}")
        return tx.run(query, params)

    return app.run(work, rule=RULE)


def _period(starts_on: str | None, ends_on: str | None) -> dict:
    this_year = datetime.now().astimezone().year
    first = _day("--from", starts_on) if starts_on else date(this_year, 1, 1)
    last = _day("--to", ends_on) if ends_on else date(this_year, 12, 31)
    if last < first:
        raise errors.InvalidInput("--to: before --from")
    return {"starts_on": first, "ends_on": last, "utc_offset": datetime.now().astimezone().utcoffset()}


def _day(option: str, value: str) -> date:
    return validate.moment(option, value).astimezone().date()


def _span(params: dict) -> str:
    return f"{params['starts_on']:%d/%m/%Y} to {params['ends_on']:%d/%m/%Y}"


def _print(
    title: str, groups: list[dict], total: dict, columns: list[Column], charts: list[tuple[str, str, bool]]
) -> None:
    """The table (groups, then the total), then a bar chart of each figure named."""
    from ..render import console, table
    from .dashboard import bars

    out = console()
    if not groups:
        out.print(f"[dim]{title}: nothing in this period.[/dim]")
        return
    out.print(table(groups + [total], columns, title=title, width=out.width))
    for label, key, money in charts:
        items = [(g[columns[0].key], g[key]) for g in groups]
        if any(v for _, v in items):
            out.print()
            out.print(bars(label, items, money=money))
