"""Named, parameterized SQL from sql/queries/*.sql (the aiosql format).

Each file holds one resource's queries:

    -- name: list-clients
    -- Clients page by page, newest last.
    select … where sales_contact_id = :employee_id …

A name's suffix says what comes back: none, rows; `^`, one row or none;
`$`, one value; `!`, nothing. Python refers to a query as "file.name"
(dashes become underscores), e.g. "client.list_clients". Files are read once,
when a query of theirs is first used. `:name` placeholders become psycopg's
`%(name)s`, bound by the driver; nothing user-supplied ever becomes SQL text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from .paths import QUERIES_DIR

_HEADER = re.compile(r"^--\s*name:\s*([a-z0-9_-]+)([\^$!]?)\s*$", re.MULTILINE)
# Literals and comments pass through untouched; `::` is a cast, not a parameter.
_TOKEN = re.compile(r"'(?:[^']|'')*'|--[^\n]*|::|:([A-Za-z_]\w*)|%")


@dataclass(frozen=True)
class Query:
    name: str
    kind: str  # "" rows, "^" one row, "$" one value, "!" nothing
    sql: str  # with psycopg placeholders
    doc: str


def _convert(sql: str) -> str:
    def swap(m: re.Match) -> str:
        text = m.group(0)
        if m.group(1):
            return f"%({m.group(1)})s"
        return "%%" if text == "%" else text

    return _TOKEN.sub(swap, sql)


def parse(text: str) -> dict[str, Query]:
    found: dict[str, Query] = {}
    headers = list(_HEADER.finditer(text))
    for i, header in enumerate(headers):
        end = headers[i + 1].start() if i + 1 < len(headers) else len(text)
        body = text[header.end():end].strip("\n")
        doc_lines, sql_lines = [], []
        for line in body.splitlines():
            if not sql_lines and line.startswith("--"):
                doc_lines.append(line[2:].strip())
            else:
                sql_lines.append(line)
        name = header.group(1).replace("-", "_")
        if name in found:
            raise ValueError(f"query {name} is defined twice")
        sql = "\n".join(sql_lines).strip().rstrip(";")
        found[name] = Query(name, header.group(2), _convert(sql), " ".join(doc_lines))
    return found


@cache
def load(resource: str) -> dict[str, Query]:
    return parse((QUERIES_DIR / f"{resource}.sql").read_text(encoding="utf-8"))


def get(dotted: str) -> Query:
    resource, _, name = dotted.partition(".")
    try:
        return load(resource)[name]
    except (KeyError, FileNotFoundError):
        raise KeyError(f"no query named {dotted!r} in sql/queries") from None
