"""Connections and the per-command transaction: all database I/O goes through here.

Every command that acts as an employee runs in exactly one transaction:

    begin
    select set_config('role', 'epic_<department>', true),
           check_request(<access token>) is not null,
           schema_version()
    <the named queries of the command>
    commit

The database verifies the token and the session in that first statement; the
department role and the caller's identity hold for this transaction only,
and RLS sees them through current_employee_id(). The same statement tells the
schema's version (the newest migration applied): a schema other than the one
this package's migrations end with stops the command (exit 6) before it runs
anything, naming both and what to run.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache

import psycopg
from psycopg.rows import dict_row

from . import config, errors, queries

ROLE_OF = {"management": "epic_management", "sales": "epic_sales", "support": "epic_support"}


class SessionNotLive(errors.NotLoggedIn):
    """The database no longer honours this session (revoked, expired, deactivated, moved)."""


class SchemaMismatch(errors.Unreachable):
    """The database's schema is not the one this CLI was built for (exit 6)."""


@cache
def expected_schema() -> str:
    """The newest migration this package carries: the schema it was built for."""
    from .paths import latest_migration

    return latest_migration()


# The migration that made the schema tell its version: a schema without
# schema_version() is older than it.
VERSIONED_SINCE = "0024_schema_version"


def check_schema(found: str | None) -> None:
    """Raise SchemaMismatch unless the database is at expected_schema()."""
    if found != expected_schema():
        raise schema_mismatch(found)


def schema_mismatch(found: str | None) -> SchemaMismatch:
    """What to say of a database at `found` (None: it predates schema_version())."""
    expected = expected_schema()
    if found is None or found < expected:
        at = found or f"a migration older than {VERSIONED_SINCE}"
        return SchemaMismatch(
            f"the database schema is behind this epic-events: the database is at {at}, "
            f"this epic-events needs {expected}: an admin runs `epic-events db migrate`"
        )
    return SchemaMismatch(
        f"the database schema is ahead of this epic-events: the database is at {found}, "
        f"this epic-events was built for {expected}: upgrade epic-events "
        "(pipx upgrade epic-events, or install the wheel of that release)"
    )


# What an older schema answers when asked for something it does not have yet.
def _missing_object(exc: psycopg.Error) -> bool:
    from psycopg import errors as pgerr

    return isinstance(
        exc,
        pgerr.UndefinedFunction
        | pgerr.UndefinedTable
        | pgerr.UndefinedColumn
        | pgerr.InvalidSchemaName
        | pgerr.UndefinedObject,
    )


@dataclass(frozen=True)
class Identity:
    department: str
    access_token: str


def app_dsn() -> str:
    """The authenticator's DSN: DATABASE_URL, else the embedded local server."""
    dsn = config.get("DATABASE_URL")
    if dsn:
        return dsn
    from . import embedded

    return embedded.app_dsn()


def admin_dsn() -> str:
    dsn = config.get("EPIC_EVENTS_ADMIN_DSN")
    if dsn:
        return dsn
    if config.get("DATABASE_URL"):
        raise errors.Unreachable(
            "EPIC_EVENTS_ADMIN_DSN is not set: migrations and bootstrap need an admin connection"
        )
    from . import embedded

    return embedded.admin_dsn()


def parse_dsn(dsn: str, setting: str = "DATABASE_URL") -> dict:
    """The DSN's parts; one that does not parse is named by its variable, never quoted."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        return conninfo_to_dict(dsn)
    except psycopg.Error:
        raise errors.Unreachable(
            f"{setting} is not a valid PostgreSQL connection string "
            "(postgresql://user@host/dbname, or key=value pairs)"
        ) from None


def connect(dsn: str, setting: str = "DATABASE_URL", **kwargs) -> psycopg.Connection:
    """A connection; `setting` names where the DSN came from, for messages.

    A DSN that does not parse is reported by the name of its variable: the
    driver's own message would quote it, password included.
    """
    password = parse_dsn(dsn, setting).get("password")
    try:
        return psycopg.connect(dsn, connect_timeout=10, application_name="epic-events", **kwargs)
    except psycopg.Error as exc:
        error = errors.from_database(exc)
        if password and password in error.message:
            error.message = error.message.replace(password, "***")
        raise error from None


class Transaction:
    """Runs named queries inside one open transaction."""

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn

    def run(self, dotted: str, params: dict | None = None):
        query = queries.get(dotted)
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query.sql, params or {})
            if query.kind == "!":
                return cur.rowcount
            if query.kind == "^":
                return cur.fetchone()
            if query.kind == "$":
                row = cur.fetchone()
                return None if row is None else next(iter(row.values()))
            return cur.fetchall()

    def stream(self, dotted: str, params: dict | None = None, size: int = 5000):
        """The rows of a named query in batches of `size`, through a server-side
        (named) cursor: memory holds one batch, whatever the number of rows.

        The cursor lives in this transaction (WITHOUT HOLD): it is closed at its end.
        """
        query = queries.get(dotted)
        with self.conn.cursor(name="epic_events_stream", row_factory=dict_row) as cur:
            cur.execute(query.sql, params or {})
            while batch := cur.fetchmany(size):
                yield batch

    def copy_out(self, dotted: str, params: dict | None = None):
        """The bytes of a named `copy (…) to stdout` query, block by block as the
        server sends them. COPY takes no bound parameters: psycopg merges them into
        the statement client-side, each quoted as a literal by its adapter."""
        query = queries.get(dotted)
        with self.conn.cursor() as cur, cur.copy(query.sql, params or {}) as copy:
            yield from copy


@contextmanager
def transaction(conn: psycopg.Connection, identity: Identity | None = None):
    """One transaction, as `identity` when given; database errors become AppErrors."""
    try:
        tx = Transaction(conn)
        if identity is not None:
            try:
                claims = tx.run(
                    "session.begin_request",
                    {
                        "role": ROLE_OF[identity.department],
                        "access_token": identity.access_token,
                    },
                )
            except psycopg.Error as exc:
                if _missing_object(exc):
                    _rollback(conn)
                    raise schema_mismatch(None) from None
                raise
            check_schema(claims["schema"])
            if not claims["live"]:
                raise SessionNotLive(
                    "your session has ended (logged out, expired, or your account changed): "
                    "run `epic-events login`"
                )
        yield tx
        conn.commit()
    except psycopg.Error as exc:
        _rollback(conn)
        raise errors.from_database(exc) from exc
    except BaseException:
        _rollback(conn)
        raise


def _rollback(conn: psycopg.Connection) -> None:
    try:
        conn.rollback()
    except psycopg.Error:
        pass  # the connection is gone; nothing was committed
