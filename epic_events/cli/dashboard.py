"""`epic-events` with no command: a one-screen summary for your department."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from ..render import Column, console, human, table

BAR = "█"
QUERY = {"management": "dashboard.management", "sales": "dashboard.sales", "support": "dashboard.support"}


def show(app) -> None:
    data = app.run(lambda tx: tx.run(QUERY[app.claims.department]))
    fmt = app.format(None)
    if fmt != "table":
        # Scripts (--format json, or any pipe) get the same numbers as one JSON object.
        from .. import errors
        from ..render import emit

        if fmt == "csv":
            raise errors.InvalidInput("--format csv: the dashboard is not a table; use json")
        emit({"department": app.claims.department, **data}, "json", None)
        return
    out = console()
    out.rule(f"[bold]Epic Events[/bold] · {app.claims.department}")
    render = {"management": _management, "sales": _sales, "support": _support}[app.claims.department]
    for part in render(data):
        out.print(part)
        out.print()
    out.print("[dim]Commands: epic-events --help · lists: client list, contract list, event list[/dim]")


def _management(d):
    from rich.columns import Columns
    from rich.panel import Panel

    yield Columns(
        [
            Panel(
                f"[bold]{d['unsigned_count']}[/bold]\n{human(d['unsigned_total'], 'money')}",
                title="Unsigned contracts",
            ),
            Panel(f"[bold]{human(d['due_total'], 'money')}[/bold]", title="Amounts due"),
            Panel(
                f"[bold]{len(d['unstaffed_soon'])}[/bold] in the next 30 days", title="Events without support"
            ),
        ]
    )
    if d["due_by_sales"]:
        yield bars(
            "Amounts due per sales contact",
            [(r["name"], Decimal(str(r["due"]))) for r in d["due_by_sales"]],
            money=True,
        )
    if d["events_per_week"]:
        yield bars(
            "Events per week",
            [(f"week of {_date(r['week']):%d/%m}", r["events"]) for r in d["events_per_week"]],
        )
    if d["unstaffed_soon"]:
        yield table(
            [_dated(r) for r in d["unstaffed_soon"]],
            [
                Column("id", "Event", "id"),
                Column("name", "Name"),
                Column("starts_at", "Starts", "datetime"),
                Column("location", "Location"),
            ],
            title="Need a support contact (next 30 days) — `event assign-support`",
        )


def _sales(d):
    from rich.panel import Panel

    yield Panel(
        f"[bold]{d['my_clients']}[/bold] clients ([bold]{d['my_stale_clients']}[/bold] not "
        f"contacted in 30 days: `client list --mine --stale 30`) · "
        f"[bold]{len(d['my_unsigned'])}[/bold] unsigned "
        f"contracts · [bold]{human(d['my_due_total'], 'money')}[/bold] still due",
        title="Your portfolio",
        expand=False,
    )
    if d["my_unsigned"]:
        yield table(
            [{**r, "total_amount": Decimal(str(r["total_amount"]))} for r in d["my_unsigned"]],
            [
                Column("id", "Contract", "id"),
                Column("client_name", "Client"),
                Column("total_amount", "Total", "money"),
            ],
            title="To sign — `contract sign ID`",
        )
    if d["my_next_events"]:
        yield table(
            [_dated(r) for r in d["my_next_events"]],
            [
                Column("id", "Event", "id"),
                Column("name", "Name"),
                Column("starts_at", "Starts", "datetime"),
                Column("support_contact_name", "Support"),
            ],
            title="Your clients' next events",
        )


def _support(d):
    from rich.panel import Panel

    yield Panel(
        f"[bold]{d['my_upcoming']}[/bold] upcoming events assigned to you", title="Your events", expand=False
    )
    if d["my_next_events"]:
        yield table(
            [_dated(r) for r in d["my_next_events"]],
            [
                Column("id", "Event", "id"),
                Column("name", "Name"),
                Column("starts_at", "Starts", "datetime"),
                Column("location", "Location"),
                Column("attendees", "Guests", "number"),
                Column("client_name", "Client"),
                Column("client_phone", "Client phone"),
            ],
            title="Next events — `event update ID`",
        )


def bars(title: str, items: list[tuple[str, object]], money: bool = False, width: int = 40):
    """A horizontal bar chart drawn with block characters."""
    from rich.table import Table

    t = Table.grid(padding=(0, 1))
    t.title = title
    t.add_column(justify="right", style="bold")
    t.add_column()
    t.add_column(justify="right")
    peak = max((float(v) for _, v in items), default=0) or 1
    for label, value in items:
        n = max(1, round(float(value) / peak * width)) if float(value) > 0 else 0
        t.add_row(label, f"[cyan]{BAR * n}[/cyan]", human(value, "money") if money else str(value))
    return t


def _date(value) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _dated(row: dict) -> dict:
    return {k: (_date(v) if k in ("starts_at", "ends_at") and v else v) for k, v in row.items()}
