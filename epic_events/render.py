"""Output: JSON and CSV for scripts, Rich tables and cards for people.

JSON and CSV are stable: keys are the data model's column names, amounts are
numbers with two decimals, timestamps ISO 8601 in UTC. Tables show money with
a currency sign and dates in the local time zone. Rich is imported only when
a table or card is drawn.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from uuid import UUID

FORMATS = ("table", "json", "csv")


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = "text"  # text | money | datetime | date | bool | id | number


def default_format() -> str:
    return "table" if sys.stdout.isatty() else "json"


# -- machine formats ------------------------------------------------------------
def _plain(value):
    if isinstance(value, Decimal):
        return float(value)  # numeric(12,2) round-trips exactly through a double
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value


def _record(row: dict, columns: list[Column] | None) -> dict:
    keys = [c.key for c in columns] if columns else list(row)
    return {k: _plain(row.get(k)) for k in keys}


def to_json(data, columns=None) -> str:
    import json

    if isinstance(data, list):
        payload = [_record(r, columns) for r in data]
    else:
        payload = _record(data, columns)
    return json.dumps(payload, ensure_ascii=False, indent=2)


def to_csv(rows: list[dict], columns=None) -> str:
    import csv
    import io

    keys = [c.key for c in columns] if columns else (list(rows[0]) if rows else [])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(keys)
    for row in rows:
        writer.writerow(["" if (v := _plain(row.get(k))) is None else v for k in keys])
    return out.getvalue()


# -- human formats --------------------------------------------------------------
def human(value, kind: str = "text") -> str:
    if value is None:
        return "—"
    if kind == "money" or isinstance(value, Decimal):
        return f"{value:,.2f} €"
    if isinstance(value, datetime):
        return value.astimezone().strftime("%d/%m/%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def table(rows: list[dict], columns: list[Column], title: str | None = None, caption: str | None = None):
    from rich.table import Table

    t = Table(title=title, caption=caption, header_style="bold", expand=False)
    for c in columns:
        right = c.kind in ("money", "id", "number")
        t.add_column(c.label, justify="right" if right else "left",
                     overflow="fold", no_wrap=c.kind in ("money", "datetime", "date", "id"))
    for row in rows:
        t.add_row(*(_escape(human(row.get(c.key), c.kind)) for c in columns))
    return t


def card(row: dict, columns: list[Column], title: str):
    from rich.panel import Panel
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold cyan", justify="right")
    grid.add_column(overflow="fold")
    for c in columns:
        grid.add_row(c.label, _escape(human(row.get(c.key), c.kind)))
    return Panel(grid, title=_escape(title), title_align="left", expand=False)


# Control characters other than newline and tab would drive the reader's terminal
# (ESC sequences clear the screen, retitle the window, ...): a table shows them as
# \xNN instead. JSON and CSV keep every byte.
_VISIBLE_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x09), *range(0x0b, 0x20), *range(0x7f, 0xa0))}


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text.translate(_VISIBLE_CONTROLS))


def emit(data, fmt: str, columns: list[Column], title: str = "", caption: str | None = None,
         extra=None) -> None:
    """Print a list (rows) or one record (dict) in the chosen format."""
    if fmt == "json":
        sys.stdout.write(to_json(data, columns) + "\n")
    elif fmt == "csv":
        sys.stdout.write(to_csv(data if isinstance(data, list) else [data], columns))
    else:
        out = console()
        if isinstance(data, list):
            if not data:
                out.print(f"[dim]No {title.lower() or 'rows'} found.[/dim]")
            else:
                out.print(table(data, columns, title=title, caption=caption))
        else:
            out.print(card(data, columns, title))
        for renderable in extra or ():
            out.print(renderable)
