"""Small helpers for the SQL-level tests: admin reads, snapshots, raw claims.

Everything here talks to the database directly; nothing goes through the CLI.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from tests.world import ROLE

#: The tables of the permission matrix, and every table an RLS policy guards.
BUSINESS_TABLES = ("employee", "company", "client", "contract", "event", "payment", "client_note")
ALL_TABLES = BUSINESS_TABLES + ("department", "permission", "department_permission",
                                "audit_log", "session", "session_token")


def admin_all(db, query: str, params=None) -> list[dict]:
    with psycopg.connect(db.admin_dsn, autocommit=True, row_factory=dict_row) as conn:
        return conn.execute(query, params).fetchall()


def admin_one(db, query: str, params=None) -> dict | None:
    rows = admin_all(db, query, params)
    return rows[0] if rows else None


def admin_value(db, query: str, params=None):
    row = admin_one(db, query, params)
    return None if row is None else next(iter(row.values()))


def admin_exec(db, query: str, params=None) -> None:
    with psycopg.connect(db.admin_dsn, autocommit=True) as conn:
        conn.execute(query, params)


def snapshot(db, *tables: str) -> dict[str, list[str]]:
    """Every row of the tables (as the admin, so past RLS), for before/after comparisons."""
    out = {}
    with psycopg.connect(db.admin_dsn, autocommit=True) as conn:
        for table in tables:
            out[table] = [r[0] for r in conn.execute(
                sql.SQL("select to_jsonb(t)::text from epic_events.{} t order by 1").format(
                    sql.Identifier(table)))]
    return out


def token_hash() -> bytes:
    """A fresh refresh-token digest, as the CLI stores it (SHA-256 of a random token)."""
    return hashlib.sha256(secrets.token_bytes(32)).digest()


def in_(delta: timedelta) -> datetime:
    return datetime.now(timezone.utc) + delta


def authenticator(db) -> psycopg.Connection:
    """A connection as the CLI's login role, epic_authenticator (no department role yet)."""
    return psycopg.connect(db.app_dsn)


def open_session(db, employee_id: int, expires: timedelta = timedelta(days=1)) -> tuple[uuid.UUID, bytes]:
    """Open a session the CLI's way; returns (session id, first refresh-token digest)."""
    session_id, digest = uuid.uuid4(), token_hash()
    with authenticator(db) as conn:
        conn.execute("select epic_events.auth_open_session(%s, %s, %s, %s)",
                     (session_id, employee_id, digest, in_(expires)))
    return session_id, digest


def run_with_claims(conn: psycopg.Connection, query: str, params=None, *, role: str | None,
                    employee_id=None, session_id=None) -> tuple[list[tuple], int]:
    """One transaction: the given (possibly bogus) claims, then one statement.

    Returns (rows, rowcount); rolls back and re-raises on error. `role` is a
    database role name (epic_sales, ...) or None to stay the authenticator.
    """
    try:
        with conn.cursor() as cur:
            if role is not None:
                cur.execute("select set_config('role', %s, true)", (role,))
            if employee_id is not None:
                cur.execute("select set_config('epic.employee_id', %s, true)", (str(employee_id),))
            if session_id is not None:
                cur.execute("select set_config('epic.session_id', %s, true)", (str(session_id),))
            cur.execute(query, params)
            rows = cur.fetchall() if cur.description else []
            rowcount = cur.rowcount
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    return rows, rowcount


def dept_role(department: str) -> str:
    return ROLE[department]
