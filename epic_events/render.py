"""Output: JSON and CSV for scripts, Rich tables and cards for people.

JSON and CSV are stable: keys are the data model's column names, amounts are
exact numbers with two decimals (JSON 18500.00, never 18500.0; CSV 18500.00),
booleans true/false, timestamps ISO 8601 in UTC. CSV text cells that a
spreadsheet would run as a formula are neutralised. Tables show money with a
currency sign and dates in the local time zone. Rich is imported only when a
table or card is drawn.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

FORMATS = ("table", "json", "csv")
#: iCalendar: only `event list` and `event agenda` write it (epic_events/ics.py).
ICS = "ics"
ICS_ONLY = "ics is only for `event list` and `event agenda` (an iCalendar file); use table, json or csv"


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = "text"  # text | money | datetime | date | bool | id | number


def default_format() -> str:
    return "table" if sys.stdout.isatty() else "json"


# -- machine formats ------------------------------------------------------------
def _plain(value, money):
    """A value as JSON/CSV carry it; `money` writes a Decimal (numeric(12,2), the
    only numeric type in the schema: amounts) with exactly two decimals."""
    if isinstance(value, Decimal):
        return money(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, list):  # rows the database nested as JSON (a client's contracts)
        return [_plain(v, money) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v, money) for k, v in value.items()}
    return value


def _record(row: dict, columns: list[Column] | None, money) -> dict:
    keys = [c.key for c in columns] if columns else list(row)
    return {k: _plain(row.get(k), money) for k in keys}


# The json module writes a number only from int or float (18500.0): an amount
# goes in as a marker string, which no text can be (a database text never holds
# NUL), and comes out as the bare number 18500.00.
_MONEY_MARK = "\x00money\x00"
_MONEY_MARKED = re.compile(r'"\\u0000money\\u0000(-?[0-9]+\.[0-9]{2})"')
_ANY_NUMBER_MARKED = re.compile(r'"\\u0000money\\u0000(-?[0-9]+(?:\.[0-9]+)?)"')


def _json_money(value: Decimal) -> str:
    return f"{_MONEY_MARK}{value:.2f}"


def to_json(data, columns=None) -> str:
    import json

    if isinstance(data, list):
        payload = [_record(r, columns, _json_money) for r in data]
    else:
        payload = _record(data, columns, _json_money)
    return _MONEY_MARKED.sub(r"\1", json.dumps(payload, ensure_ascii=False, indent=2))


def compact_json(value) -> str:
    """A value (a row's changes, nested JSON) as one line of JSON, amounts exact."""
    import json

    def number(exact: Decimal) -> str:  # as the database wrote it: 18500.00, 0.5
        return f"{_MONEY_MARK}{exact:f}"

    return _ANY_NUMBER_MARKED.sub(
        r"\1", json.dumps(_plain(value, number), ensure_ascii=False, separators=(", ", ": "))
    )


# OWASP's rule against CSV injection: a cell starting with one of these is run
# as a formula by spreadsheets (=HYPERLINK(...), +cmd|...); a single quote in
# front makes it text. Only text cells: numbers, negative amounts included,
# stay numbers.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _csv_money(value: Decimal) -> _Number:
    return _Number(f"{value:.2f}")


def to_csv(rows: list[dict], columns=None) -> str:
    import csv
    import io

    keys = [c.key for c in columns] if columns else (list(rows[0]) if rows else [])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(keys)
    for row in rows:
        writer.writerow([_csv_cell(_plain(row.get(k), _csv_money)) for k in keys])
    return out.getvalue()


def stream(batches, fmt: str, columns: list[Column]) -> None:
    """--all: rows written batch by batch as they arrive, never all in memory. The
    output is exactly what to_csv / to_json would write for the same rows at once."""
    import csv
    import itertools
    import json

    out = sys.stdout
    keys = [c.key for c in columns]
    # The first batch before the first byte: a server-side cursor opens at its first
    # fetch, so a refusal (no right to read) must come before a header is written.
    batches = iter(batches)
    first = next(batches, None)
    batches = itertools.chain([first], batches) if first is not None else iter(())
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(keys)
        for batch in batches:
            writer.writerows([[_csv_cell(_plain(row.get(k), _csv_money)) for k in keys] for row in batch])
        return
    first = True
    for batch in batches:
        # Each record as json.dumps(indent=2) writes it inside a list: two more spaces.
        text = ",\n".join(
            "  "
            + json.dumps(_record(row, columns, _json_money), ensure_ascii=False, indent=2).replace(
                "\n", "\n  "
            )
            for row in batch
        )
        out.write(("[\n" if first else ",\n") + _MONEY_MARKED.sub(r"\1", text))
        first = False
    out.write("[]\n" if first else "\n]\n")


class _Number:
    """An amount in CSV: written as is (18500.00, -250.00), never neutralised."""

    def __init__(self, text: str):
        self.text = text

    def __str__(self) -> str:
        return self.text


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

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # Rich would exit 1; the reader going away (`| head`) is not an error:
            # the CLI's root handles it (exit 0, quietly).
            self.quiet = True
            raise BrokenPipeError

    return _Console(highlight=False, soft_wrap=False)


# Values that are one word however long (an email, a phone number) never wrap:
# split, they cannot be read or copied back.
_ONE_WORD = ("email", "client_email", "phone", "client_phone")
# When a list is wider than the terminal, these columns give way first, in this
# order (the table says which; --format json has them all), so that the others
# keep whole words: no email or place cut mid-word on an 80-column terminal.
NARROW_DROPS = (
    "updated_at",
    "created_at",
    "ends_at",
    "last_contact_at",
    "employee_number",
    "phone",
    "attendees",
    "client_count",
    "sales_contact_name",
    "client_name",
    "company_name",
)


def table(
    rows: list[dict],
    columns: list[Column],
    title: str | None = None,
    caption: str | None = None,
    width: int | None = None,
):
    """A Rich table. With `width` (the terminal's), every column gets at least its
    longest word, and columns of NARROW_DROPS are left out, in that order, until
    that fits: words wrap between them, never inside (Rich alone would cut them)."""
    shown = list(columns)
    hidden: list[str] = []
    widths = None
    while width is not None:
        widths = _widths(rows, shown, width)
        droppable = [k for k in NARROW_DROPS if any(c.key == k for c in shown)]
        if widths is not None or not droppable:
            break
        gone = next(c for c in shown if c.key == droppable[0])
        shown.remove(gone)
        hidden.append(gone.label)
    if hidden:
        note = f"narrow terminal: {', '.join(hidden)} not shown"
        caption = f"{caption} · {note}" if caption else note
    return _table(rows, shown, title, caption, widths)


def _table(rows, columns, title, caption, widths=None):
    from rich.table import Table

    t = Table(title=title, caption=caption, header_style="bold", expand=False)
    for i, c in enumerate(columns):
        right = c.kind in ("money", "id", "number")
        t.add_column(
            c.label,
            justify="right" if right else "left",
            overflow="fold",
            no_wrap=_one_word(c),
            width=widths[i] if widths else None,
        )
    for row in rows:
        t.add_row(*(_escape(human(row.get(c.key), c.kind)) for c in columns))
    return t


def _one_word(c: Column) -> bool:
    return c.kind in ("money", "datetime", "id") or c.key in _ONE_WORD


def _widths(rows, columns, width: int) -> list[int] | None:
    """Each column's width on a terminal of `width` cells: at least its longest word
    (its whole value, for one-word columns), the rest shared out by need; None if
    even the longest words do not fit."""
    from rich.cells import cell_len

    lows, highs = [], []
    for c in columns:
        texts = [c.label] + [_escape(human(r.get(c.key), c.kind)) for r in rows]
        lines = [line for t in texts for line in t.splitlines() or [""]]
        high = max(cell_len(line) for line in lines)
        words = [w for line in lines for w in line.split()] or [""]
        low = (
            high
            if _one_word(c)
            else max(max(cell_len(w) for w in words), max(cell_len(w) for w in c.label.split()))
        )
        lows.append(low)
        highs.append(high)
    room = width - (len(columns) + 1) - 2 * len(columns)  # borders, one space each side
    if sum(lows) > room:
        return None
    if sum(highs) <= room:
        return highs
    spare, need = room - sum(lows), [h - lo for h, lo in zip(highs, lows, strict=True)]
    total = sum(need)
    return [lo + (spare * n) // total for lo, n in zip(lows, need, strict=True)]


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
_VISIBLE_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0))}


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text.translate(_VISIBLE_CONTROLS))


def emit(
    data, fmt: str, columns: list[Column], title: str = "", caption: str | None = None, extra=None
) -> None:
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
                out.print(table(data, columns, title=title, caption=caption, width=out.width))
        else:
            out.print(card(data, columns, title))
        for renderable in extra or ():
            out.print(renderable)
