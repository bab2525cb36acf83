"""House rule: Python never builds SQL from strings; every statement is a named query.

This guard reads every .py file under epic_events/ with `ast` (no import, no run):
  1. no f-string, `%` format, `.format()` call, `+`/`+=` concatenation or
     `" and ".join(...)` builds a string that looks like SQL;
  2. no SQL-looking string literal is handed to `.execute(` outside ALLOWED_RAW_SQL;
  3. every query named in the code ("resource.query_name", e.g. the first
     argument of tx.run) is defined in sql/queries/<resource>.sql, and a
     literal parameter dict passed with it provides every :param the query uses;
and every sql/queries/*.sql file parses (no duplicate or malformed names), and
every query defined there is used somewhere, or listed in UNUSED with a reason.
The detector itself is tested on small fixtures at the end.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from epic_events import queries
from epic_events.paths import QUERIES_DIR

PACKAGE = Path(queries.__file__).resolve().parent

# Queries defined on purpose without a caller yet, with the reason.
UNUSED = {}

# Files allowed to hand literal SQL to a driver, with the reason.
ALLOWED_RAW_SQL = {
    "embedded.py": "creates the embedded server's database before any migration (or query file) "
    "can exist; psycopg.sql composes the identifier",
}

_WORDS = r"[\w.\"*]+"
SQL_SHAPES = re.compile(
    rf"""
    \bselect\s+(distinct\s+)?({_WORDS}|\{{\}}|\(.*?\))(\s*,\s*({_WORDS}|\{{\}}))*\s+from\s+[\w."{{]
  | \bselect\s+[\w.]+\s*\(                               # select f(
  | \binsert\s+into\s+[\w."{{]
  | \bupdate\s+[\w."{{}}]+\s+set\s
  | \bdelete\s+from\s+[\w."{{]
  | \bwith\s+(recursive\s+)?[\w"]+\s+as\s*\(
  | \bset\s+(local\s+|session\s+)?(role\b|search_path\b|[\w.]+\s*(=|\bto\b))
  | \b(create|alter|drop)\s+(or\s+replace\s+|temp(orary)?\s+|unique\s+)*
       (table|view|index|schema|role|user|function|procedure|trigger|policy|database|sequence|
        type|extension|default\s+privileges)\b
  | \b(grant|revoke)\s+(all|select|insert|update|delete|execute|usage|references|truncate|[\w]+\s+to)\b
  | \bwhere\s+[\w."]+\s*(=|<|>|!=|\bin\b|\bis\b|\blike\b|\bilike\b|\{{\}})
  | \border\s+by\s+[\w."{{]
  | \bvalues\s*\(
  | \blimit\s+(\d|\{{\}}|%s|%\(|:\w)
""",
    re.IGNORECASE | re.VERBOSE | re.DOTALL,
)

# "client.list_clients": a query reference (resource = a file in sql/queries).
QUERY_REF = re.compile(r"^([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)$")


def looks_like_sql(text: str) -> bool:
    return bool(SQL_SHAPES.search(text))


# -- 1. and 2.: building SQL ------------------------------------------------------------------
def _template(node: ast.AST) -> str | None:
    """The literal text of an expression, with {} where a value goes; None if no literal."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _template(node.left), _template(node.right)
        if left is None and right is None:
            return None
        return (left if left is not None else "{}") + (right if right is not None else "{}")
    return None


def sql_building_sites(source: str, filename: str = "<fixture>") -> list[str]:
    """Where `source` builds SQL-looking text from pieces, or hands literal SQL to execute()."""
    found = []

    def flag(node, how):
        found.append(f"{filename}:{node.lineno}: {how}")

    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.JoinedStr) and looks_like_sql(_template(node)):
            flag(node, "f-string builds SQL")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            text = _template(node.left)
            if text is not None and looks_like_sql(text):
                flag(node, "% formatting builds SQL")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            text = _template(node)
            if text is not None and looks_like_sql(text):
                flag(node, "+ concatenation builds SQL")
        elif isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add):
            text = _template(node.value)
            if text is not None and looks_like_sql("{} " + text):
                flag(node, "+= concatenation builds SQL")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            receiver = _template(node.func.value)
            if node.func.attr == "format" and receiver is not None and looks_like_sql(receiver):
                flag(node, ".format() builds SQL")
            elif (
                node.func.attr == "join"
                and receiver is not None
                and receiver.strip().lower() in ("and", "or", "where", "union", "union all")
            ):
                flag(node, f"{receiver.strip()!r}.join() builds SQL")
            elif (
                node.func.attr in ("execute", "executemany")
                and node.args
                and (text := _template(node.args[0])) is not None
                and looks_like_sql(text)
                and Path(filename).name not in ALLOWED_RAW_SQL
            ):
                flag(node, "literal SQL passed to execute(): make it a named query")
    return found


def package_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_package_has_files_to_check():
    names = {p.relative_to(PACKAGE).as_posix() for p in package_files()}
    assert {"db.py", "auth.py", "cli/main.py", "cli/client.py"} <= names


@pytest.mark.parametrize("path", package_files(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_python_never_builds_sql_from_strings(path):
    assert sql_building_sites(path.read_text(encoding="utf-8"), str(path)) == []


# -- 3.: named queries ------------------------------------------------------------------------
@cache
def defined_queries() -> dict[str, queries.Query]:
    """Every query of every sql/queries file, parsed strictly."""
    found = {}
    for file in sorted(QUERIES_DIR.glob("*.sql")):
        for name, query in queries.parse(file.read_text(encoding="utf-8")).items():
            found[f"{file.stem}.{name}"] = query
    return found


@dataclass(frozen=True)
class Reference:
    where: str
    dotted: str
    params: frozenset[str] | None  # the keys of a literal dict passed with it; None: unknown


def query_references(source: str, filename: str, resources: set[str]) -> list[Reference]:
    """Query names in the code: first arguments of .run(), and "resource.name" constants."""
    refs, seen = [], set()
    tree = ast.parse(source, filename)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "run"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            params: frozenset[str] | None = frozenset()
            if len(node.args) > 1 or node.keywords:
                arg = node.args[1] if len(node.args) > 1 else None
                if isinstance(arg, ast.Dict) and all(isinstance(k, ast.Constant) for k in arg.keys):
                    params = frozenset(k.value for k in arg.keys)
                else:
                    params = None  # a variable or **spread: not checked here
            refs.append(Reference(f"{filename}:{node.lineno}", node.args[0].value, params))
            seen.add(id(node.args[0]))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in seen
            and (m := QUERY_REF.match(node.value))
            and m.group(1) in resources
            and m.group(2) not in ("sql", "py")
        ):
            refs.append(Reference(f"{filename}:{node.lineno}", node.value, None))
    return refs


@cache
def all_references() -> tuple[Reference, ...]:
    resources = {p.stem for p in QUERIES_DIR.glob("*.sql")}
    refs = []
    for path in package_files():
        refs += query_references(
            path.read_text(encoding="utf-8"), path.relative_to(PACKAGE).as_posix(), resources
        )
    return tuple(refs)


def test_every_query_file_parses_without_duplicate_or_malformed_names():
    assert defined_queries()  # queries.parse raises on duplicates, bad headers, empty SQL
    for file in QUERIES_DIR.glob("*.sql"):
        assert QUERY_REF.match(f"{file.stem}.x"), f"{file.name}: name the file like a resource"


def test_every_query_named_in_the_code_exists():
    missing = [f"{r.where}: {r.dotted}" for r in all_references() if r.dotted not in defined_queries()]
    assert missing == []


def test_every_parameter_a_query_uses_is_given():
    problems = []
    for r in all_references():
        query = defined_queries().get(r.dotted)
        if query is None or r.params is None:
            continue
        if lacking := set(query.params) - r.params:
            problems.append(f"{r.where}: {r.dotted} needs {sorted(lacking)}")
    assert problems == []


def test_every_defined_query_is_used_or_explained():
    used = {r.dotted for r in all_references()}
    unused = sorted(set(defined_queries()) - used - set(UNUSED))
    assert unused == [], "use them, delete them, or list them in UNUSED with a reason"
    stale = sorted(name for name in UNUSED if name in used or name not in defined_queries())
    assert stale == [], "UNUSED lists queries that are used or gone"


# -- the guard itself ---------------------------------------------------------------------
BUILDS_SQL = {
    "f-string": 'q = f"select id, full_name from client where id = {client_id}"',
    "f-string select star": 'q = f"SELECT * FROM {table}"',
    "percent": 'q = "delete from client where id = %s" % client_id',
    "format": 'q = "update {} set full_name = %s".format(table)',
    "concatenation": 'q = "select id from client where full_name = \'" + name + "\'"',
    "augmented": 'q = "select id from client"\nq += " where sales_contact_id = " + str(me)',
    "insert": 'q = "insert into " + table + " (a) values (1)"',
    "join": 'where = " and ".join(conditions)',
    "ddl": 'q = f"drop table {name}"',
    "grant": 'q = f"grant select on {table} to epic_sales"',
    "set role": 'q = f"set role {role}"',
    "limit": 'q = base + f" limit {n}"',
    "execute literal": 'cur.execute("select id from client where id = %s", (1,))',
}
INNOCENT = {
    "message": 'raise InvalidInput(f"{field}: not a valid email address")',
    "confirmation": 'click.confirm(f"Delete {what}? This cannot be undone")',
    "rule": 'msg = f"permission denied: {rule}"',
    "prompt": 'text = f"Select an event from the list ({count} shown)"',
    "percent": 'print("%d rows" % n)',
    "format": 'print("{} updated".format(what))',
    "join": 'text = ", ".join(names)',
    "named query": 'tx.run("client.list_clients", {"limit": 10})',
    "composed identifier": 'conn.execute(sql.SQL("create database {}").format(sql.Identifier(n)))',
}


@pytest.mark.parametrize("snippet", BUILDS_SQL.values(), ids=list(BUILDS_SQL))
def test_the_guard_catches_sql_built_from_strings(snippet):
    assert sql_building_sites(snippet)


@pytest.mark.parametrize("snippet", INNOCENT.values(), ids=list(INNOCENT))
def test_the_guard_leaves_other_strings_alone(snippet):
    assert sql_building_sites(snippet) == []


def test_the_guard_catches_unknown_queries_and_missing_parameters():
    source = (
        'tx.run("client.list_clientz")\n'
        'tx.run("client.get_client", {"ident": 1})\n'
        'QUERY = {"sales": "dashboard.nope"}\n'
    )
    refs = query_references(source, "fixture.py", {"client", "dashboard"})
    assert [(r.dotted, r.params) for r in refs] == [
        ("client.list_clientz", frozenset()),
        ("client.get_client", frozenset({"ident"})),
        ("dashboard.nope", None),
    ]
    assert set(defined_queries()["client.get_client"].params) - refs[1].params == {"id"}
