"""Apply, roll back and report the SQL migrations, through yoyo's Python API.

The same files a DBA applies with `yoyo apply` (see yoyo.ini). yoyo is imported
here only, so no other command pays for it.
"""

import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

from yoyo import get_backend, read_migrations

from .paths import MIGRATIONS_DIR


@dataclass(frozen=True)
class MigrationState:
    id: str
    applied: bool


def yoyo_uri(dsn: str) -> str:
    """A yoyo URI (postgresql+psycopg://…) for a libpq DSN, URL or key=value."""
    if dsn.startswith("postgresql+psycopg://"):
        return dsn
    for scheme in ("postgresql://", "postgres://"):
        if dsn.startswith(scheme):
            return "postgresql+psycopg://" + dsn[len(scheme) :]
    from psycopg.conninfo import conninfo_to_dict

    params = {k: str(v) for k, v in conninfo_to_dict(dsn).items()}
    user = quote(params.pop("user", ""), safe="")
    password = params.pop("password", None)
    dbname = quote(params.pop("dbname", ""), safe="")
    auth = f"{user}:{quote(password, safe='')}@" if password else (f"{user}@" if user else "")
    query = ("?" + urlencode(params)) if params else ""
    return f"postgresql+psycopg://{auth}/{dbname}{query}"


@contextmanager
def _backend(dsn: str):
    import psycopg

    from . import errors

    # A server that is down (or goes down meanwhile) is "database unreachable"
    # (exit 6), as for every other command, not an internal error.
    try:
        backend = get_backend(yoyo_uri(dsn))
    except psycopg.OperationalError as exc:
        raise errors.from_database(exc) from None
    try:
        yield backend, read_migrations(str(MIGRATIONS_DIR))
    except psycopg.Error as exc:
        # A migration's refusal (0001's "one environment per cluster", 0016's
        # list of rows to fix) says what to do: keep it on the one line.
        error = errors.from_database(exc)
        hint = exc.diag.message_hint if exc.diag else None
        raise (type(error)(f"{error} (hint: {hint})") if hint else error) from exc
    finally:
        try:
            backend.connection.close()
        except psycopg.Error:
            pass  # already gone


def apply(dsn: str) -> list[str]:
    """Apply every pending migration; returns their ids in order."""
    with _backend(dsn) as (backend, migrations), backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    return [m.id for m in pending]


def rollback(dsn: str, count: int | None = 1, ids: list[str] | None = None) -> list[str]:
    """Roll back the newest `count` applied migrations (None: all of them);
    with `ids` (from to_roll_back), only those of them still applied."""
    with _backend(dsn) as (backend, migrations), backend.lock():
        applied = backend.to_rollback(migrations)
        chosen = applied if count is None else applied[:count]
        if ids is not None:
            chosen = chosen.filter(lambda m: m.id in ids)
        backend.rollback_migrations(chosen)
    return [m.id for m in chosen]


def to_roll_back(dsn: str, count: int | None = 1) -> list[str]:
    """The ids rollback(dsn, count) would roll back, newest first."""
    with _backend(dsn) as (backend, migrations):
        applied = backend.to_rollback(migrations)
    return [m.id for m in (applied if count is None else applied[:count])]


# What a rollback file drops: its tables, or (0001) the whole schema.
_DROP_TABLE = re.compile(r"^\s*drop\s+table\s+(?:if\s+exists\s+)?epic_events\.(\w+)", re.I | re.M)
_DROP_SCHEMA = re.compile(r"^\s*drop\s+schema\s+(?:if\s+exists\s+)?epic_events\b", re.I | re.M)


def dropped_tables(ids: list[str], existing: list[str]) -> list[str]:
    """The tables (of `existing`) whose data rolling back `ids`, in that order, drops."""
    dropped: list[str] = []
    for mid in ids:
        text = (Path(MIGRATIONS_DIR) / f"{mid}.rollback.sql").read_text()
        named = existing if _DROP_SCHEMA.search(text) else _DROP_TABLE.findall(text)
        dropped += [t for t in named if t in existing and t not in dropped]
    return dropped


def row_counts(dsn: str, ids: list[str]) -> dict[str, int]:
    """{table: exact row count} for each table rolling back `ids` drops.

    Counted as the owner with forced RLS lifted in a transaction that is then
    rolled back (migration.count_rows), so the admin sees every row."""
    import json

    from . import db

    conn = db.connect(dsn)
    try:
        with db.transaction(conn) as tx:
            existing = [r["name"] for r in tx.run("migration.tables")]
            tables = dropped_tables(ids, existing)
            if not tables:
                return {}
            tx.run("migration.choose_tables_to_count", {"tables": json.dumps(tables)})
            tx.run("migration.count_rows")
            counts = tx.run("migration.row_counts")
            conn.rollback()  # undo the ALTERs: nothing is kept
        return {t: counts[t] for t in tables}
    finally:
        conn.close()


def status(dsn: str) -> list[MigrationState]:
    with _backend(dsn) as (backend, migrations):
        applied = {m.id for m in backend.to_rollback(migrations)}
    return [MigrationState(m.id, m.id in applied) for m in migrations]


def pending(dsn: str) -> list[str]:
    return [s.id for s in status(dsn) if not s.applied]
