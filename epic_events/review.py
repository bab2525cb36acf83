"""`epic-events db review`: the effective rights, read from the live catalog.

What a DBA would otherwise piece together from `\\dp`, `pg_policies` and
`department_permission`: for each department, table and operation, whether
the department may (`allowed`), may on the rows that are its own (`own
rows`), or may not (`refused`); the grant and the policies behind each cell
and the permission codes that widen it; the functions each role may execute;
and whatever breaks the house rules (README, "For DBAs").

A cell is worked out the way PostgreSQL decides: without a grant (on the
table or on a column) the operation is refused; else the permissive policies
for that role and command are ORed and the restrictive ones ANDed. Each
policy expression is read as PostgreSQL prints it back, with its
`has_permission('code')` calls answered from the department's codes now,
the caller checks (`current_employee_id() IS NOT NULL`, `caller_department()
= '…'`) answered as they are inside a checked request, and a column compared
with the caller on INSERT counted as true where the department cannot give
that column and its default is the caller. What is left depends on the row:
`own rows`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

OPERATIONS = ("select", "insert", "update", "delete")
DEPARTMENT_ROLES = ("epic_management", "epic_sales", "epic_support")
ROLES = ("epic_authenticator",) + DEPARTMENT_ROLES
ALLOWED, OWN, REFUSED = "allowed", "own rows", "refused"

_PERMISSION = re.compile(r"\(\s*SELECT epic_events\.has_permission\('([^']*)'::text\) AS has_permission\)")
_LOGGED_IN = re.compile(
    r"\(\(\s*SELECT epic_events\.current_employee_id\(\) AS current_employee_id\) IS NOT NULL\)"
)
_DEPARTMENT = re.compile(
    r"\(\(\s*SELECT epic_events\.caller_department\(\) AS caller_department\) = '([^']*)'::text\)"
)
_STAMPED = re.compile(
    r"\((\w+) = \(\s*SELECT epic_events\.current_employee_id\(\) AS current_employee_id\)\)"
)
_CALLER_DEFAULT = "epic_events.current_employee_id()"


@dataclass
class Cell:
    department: str
    table: str
    operation: str
    outcome: str
    grant: str  # "table", "columns: a, b", or "none"
    policies: list[str] = field(default_factory=list)
    widened_by: list[str] = field(default_factory=list)  # codes the policies consult
    held: list[str] = field(default_factory=list)  # those of them the department holds


def build(tx) -> dict:
    """The whole review, as plain data (what `--format json` prints)."""
    departments = tx.run("review.department_permissions")
    privileges = tx.run("review.privileges", {"roles": list(ROLES)})
    policies = tx.run("review.policies")
    defaults = {
        (r["table_name"], r["column_name"]): r["default_value"] for r in tx.run("review.column_defaults")
    }
    tables = tx.run("review.tables")
    grants = {(p["role_name"], p["table_name"], p["operation"]): p for p in privileges}

    matrix = [
        cell.__dict__
        for d in departments
        for t in tables
        for op in OPERATIONS
        for cell in [_cell(d, t["table_name"], op, grants, policies, defaults)]
    ]
    return {
        "matrix": matrix,
        "functions": tx.run("review.functions", {"roles": list(ROLES)}),
        "problems": _problems(tx, tables, departments, privileges, policies),
    }


def _cell(department: dict, table: str, op: str, grants, policies, defaults) -> Cell:
    name, role, codes = department["department"], department["role_name"], set(department["codes"])
    granted = grants.get((role, table, op))
    columns = granted["columns"] if granted else []
    if granted and granted["whole_table"]:
        grant = "table"
    elif columns:
        grant = "columns: " + ", ".join(columns)
    else:
        return Cell(name, table, op, REFUSED, "none")
    mine = [
        p
        for p in policies
        if p["table_name"] == table
        and p["command"] in (op, "all")
        and (role in p["roles"] or "public" in p["roles"])
    ]
    permissive = [p for p in mine if p["permissive"]]
    restrictive = [p for p in mine if not p["permissive"]]
    insertable = set(columns) if op == "insert" and not granted["whole_table"] else None

    def value(p):
        exprs = [
            e
            for e in (
                p["check_expression"] if op == "insert" else p["using_expression"],
                p["check_expression"] if op == "update" else None,
            )
            if e
        ]
        results = [evaluate(e, name, codes, table, insertable, defaults) for e in exprs]
        return _and(results) if results else True

    verdict = _and(
        [_or([value(p) for p in permissive]) if permissive else False] + [value(p) for p in restrictive]
    )
    outcome = {True: ALLOWED, False: REFUSED}.get(verdict, OWN)
    consulted = sorted(
        {
            c
            for p in permissive
            for e in (p["using_expression"], p["check_expression"])
            if e
            for c in _PERMISSION.findall(e)
        }
    )
    return Cell(
        name,
        table,
        op,
        outcome,
        grant,
        [p["policy_name"] for p in permissive] + [p["policy_name"] for p in restrictive],
        consulted,
        [c for c in consulted if c in codes],
    )


ROWS = "rows"  # neither true nor false: depends on the row


def evaluate(
    expression: str,
    department: str,
    codes: set[str],
    table: str = "",
    insertable: set[str] | None = None,
    defaults: dict | None = None,
):
    """True, False or ROWS for one policy expression, in a request checked for
    `department` holding `codes`."""
    text = _PERMISSION.sub(lambda m: " true " if m.group(1) in codes else " false ", expression)
    text = _LOGGED_IN.sub(" true ", text)
    text = _DEPARTMENT.sub(lambda m: " true " if m.group(1) == department else " false ", text)
    if insertable is not None:

        def stamped(m):
            column = m.group(1)
            caller_default = (defaults or {}).get((table, column)) == _CALLER_DEFAULT
            return " true " if column not in insertable and caller_default else m.group(0)

        text = _STAMPED.sub(stamped, text)
    return _value(text)


def _value(text: str):
    text = _unwrap(text.strip())
    if text.lower() == "true":
        return True
    if text.lower() == "false":
        return False
    for word, combine in ((" OR ", _or), (" AND ", _and)):
        parts = _split(text, word)
        if len(parts) > 1:
            return combine([_value(p) for p in parts])
    return ROWS


def _or(values):
    if any(v is True for v in values):
        return True
    return False if all(v is False for v in values) else ROWS


def _and(values):
    if any(v is False for v in values):
        return False
    return True if all(v is True for v in values) else ROWS


def _unwrap(text: str) -> str:
    while text.startswith("(") and _closing(text, 0) == len(text) - 1:
        text = text[1:-1].strip()
    return text


def _closing(text: str, start: int) -> int:
    depth = 0
    quoted = False
    for i in range(start, len(text)):
        ch = text[i]
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _split(text: str, word: str) -> list[str]:
    """`text` cut at `word` where it stands outside parentheses and quotes."""
    parts, depth, quoted, last, i = [], 0, False, 0, 0
    while i < len(text):
        ch = text[i]
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and depth == 0 and text.startswith(word, i):
            parts.append(text[last:i])
            i += len(word)
            last = i
            continue
        i += 1
    parts.append(text[last:])
    return parts


def _problems(tx, tables, departments, privileges, policies) -> list[dict]:
    problems = []
    for t in tables:
        if not (t["rls_enabled"] and t["rls_forced"]):
            problems.append(
                {
                    "rule": "row-level security enabled and forced",
                    "object": t["table_name"],
                    "detail": f"enabled: {t['rls_enabled']}, forced: {t['rls_forced']}",
                }
            )
    for f in tx.run("review.unpinned_functions"):
        problems.append(
            {
                "rule": "search_path pinned, pg_temp last",
                "object": f["function_name"],
                "detail": f"search_path = {f['search_path'] or '(not set)'}",
            }
        )
    for g in tx.run("review.public_grants"):
        rule = "no TEMP for PUBLIC" if g["kind"] == "database" else "nothing granted to PUBLIC"
        problems.append(
            {
                "rule": rule,
                "object": f"{g['kind']} {g['object_name']}",
                "detail": f"{g['privilege_type']} to PUBLIC",
            }
        )
    touched = {
        (p["role_name"], p["table_name"])
        for p in privileges
        if p["role_name"] in DEPARTMENT_ROLES and (p["whole_table"] or p["columns"])
    }
    names = {(p["table_name"], p["policy_name"]) for p in policies if not p["permissive"]}
    for d in departments:
        for t in tables:
            table = t["table_name"]
            wanted = f"{table}_checked_for_{d['department']}"
            if (d["role_name"], table) in touched and (table, wanted) not in names:
                problems.append(
                    {
                        "rule": "bound to the checked department",
                        "object": table,
                        "detail": f"{d['role_name']} has grants but no restrictive policy {wanted}",
                    }
                )
    return problems


def markdown_matrix(report: dict) -> str:
    """The matrix as the README shows it: one row per table and operation, each
    cell with the codes the department holds that open it, then every code the
    policies consult (granting one widens the cell)."""
    departments = sorted({c["department"] for c in report["matrix"]})
    lines = [
        "| table | operation | " + " | ".join(departments) + " | codes consulted |",
        "| --- | --- | " + " | ".join("---" for _ in departments) + " | --- |",
    ]
    cells = {(c["table"], c["operation"], c["department"]): c for c in report["matrix"]}
    for table in sorted({c["table"] for c in report["matrix"]}):
        for op in OPERATIONS:
            row = [cells[(table, op, d)] for d in departments]
            if all(c["outcome"] == REFUSED for c in row):
                continue
            shown = [
                c["outcome"] + (f" ({', '.join(c['held'])})" if c["held"] and c["outcome"] != REFUSED else "")
                for c in row
            ]
            consulted = sorted({code for c in row for code in c["widened_by"]})
            lines.append(f"| {table} | {op} | " + " | ".join(shown) + f" | {', '.join(consulted) or '—'} |")
    return "\n".join(lines) + "\n"
