"""Apply, roll back and report the SQL migrations, through yoyo's Python API.

The same files a DBA applies with `yoyo apply` (see yoyo.ini). yoyo is imported
here only, so no other command pays for it.
"""

from contextlib import contextmanager
from dataclasses import dataclass
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
            return "postgresql+psycopg://" + dsn[len(scheme):]
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
        # Also a migration that refuses the data it finds (0016 lists the rows
        # to fix): one line naming them, not "internal error".
        raise errors.from_database(exc) from exc
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


def rollback(dsn: str, count: int | None = 1) -> list[str]:
    """Roll back the newest `count` applied migrations (None: all of them)."""
    with _backend(dsn) as (backend, migrations), backend.lock():
        applied = backend.to_rollback(migrations)
        chosen = applied if count is None else applied[:count]
        backend.rollback_migrations(chosen)
    return [m.id for m in chosen]


def status(dsn: str) -> list[MigrationState]:
    with _backend(dsn) as (backend, migrations):
        applied = {m.id for m in backend.to_rollback(migrations)}
    return [MigrationState(m.id, m.id in applied) for m in migrations]


def pending(dsn: str) -> list[str]:
    return [s.id for s in status(dsn) if not s.applied]
