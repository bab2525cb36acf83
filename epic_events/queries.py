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
# Any line that means to be a header: one _HEADER does not accept is an error,
# not SQL silently appended to the query above it.
_ANY_HEADER = re.compile(r"^--\s*name:.*$", re.MULTILINE)
# Literals, quoted identifiers and comments are copied as they are (only their
# `%` doubled, since the driver reads every `%` in the text); `::` is a cast,
# not a parameter.
_TOKEN = re.compile(
    r"""
    (?P<keep>
        (?<![\w$])[eE]'(?:[^'\\]|\\.|'')*'                     # E'…' (backslash escapes)
      | '(?:[^']|'')*'                                        # '…'
      | "(?:[^"]|"")*"                                        # "quoted identifier"
      | (?<![\w$])\$(?P<tag>(?:[A-Za-z_]\w*)?)\$[\s\S]*?\$(?P=tag)\$   # $tag$…$tag$
      | --[^\n]*                                              # -- comment
      | /\*[\s\S]*?\*/                                         # /* comment */
      | ::                                                    # a cast
    )
  | :(?P<param>[A-Za-z_]\w*)
  | %
""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Query:
    name: str
    kind: str  # "" rows, "^" one row, "$" one value, "!" nothing
    sql: str  # with psycopg placeholders
    doc: str
    params: tuple[str, ...] = ()  # the :names it takes, in order of first use


def _convert(sql: str) -> tuple[str, tuple[str, ...]]:
    """`:name` -> `%(name)s`, `%` -> `%%`; returns the SQL and the parameter names."""
    names: dict[str, None] = {}

    def swap(m: re.Match) -> str:
        if m.group("param"):
            names.setdefault(m.group("param"))
            return f"%({m.group('param')})s"
        return m.group(0).replace("%", "%%")

    return _TOKEN.sub(swap, sql), tuple(names)


def parse(text: str) -> dict[str, Query]:
    found: dict[str, Query] = {}
    headers = list(_HEADER.finditer(text))
    if len(headers) != len(_ANY_HEADER.findall(text)):
        good = {h.group(0).strip() for h in headers}
        bad = next(line for line in _ANY_HEADER.findall(text) if line.strip() not in good)
        raise ValueError(
            f"malformed query header {bad!r} (expected `-- name: verb-noun` "
            "with an optional suffix ^, $ or !)"
        )
    for i, header in enumerate(headers):
        end = headers[i + 1].start() if i + 1 < len(headers) else len(text)
        body = text[header.end() : end].strip("\n")
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
        if not sql:
            raise ValueError(f"query {name} has no SQL")
        converted, params = _convert(sql)
        found[name] = Query(name, header.group(2), converted, " ".join(doc_lines), params)
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
