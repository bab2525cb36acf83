"""Small helpers for the SQL-level tests: admin reads, snapshots, real logins.

Everything here talks to the database directly; nothing goes through the CLI.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from epic_events import queries
from tests.world import ROLE, login

#: The tables of the permission matrix, and every table the departments' policies guard.
BUSINESS_TABLES = ("employee", "company", "client", "contract", "event", "payment", "client_note")
ALL_TABLES = BUSINESS_TABLES + (
    "department",
    "permission",
    "department_permission",
    "audit_log",
    "session",
    "session_token",
)
#: The server's secrets (0015): read and written by the owner's functions only.
SECRET_TABLES = ("signing_key", "auth_secret", "login_attempt")


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
            out[table] = [
                r[0]
                for r in conn.execute(
                    sql.SQL("select to_jsonb(t)::text from epic_events.{} t order by 1").format(
                        sql.Identifier(table)
                    )
                )
            ]
    return out


def token_hash() -> bytes:
    """A random SHA-256 digest: the shape of a stored refresh-token digest, matching none."""
    return hashlib.sha256(secrets.token_bytes(32)).digest()


def digest(token: str) -> bytes:
    """What the database keeps of a refresh token: its SHA-256."""
    return hashlib.sha256(token.encode()).digest()


def in_(delta: timedelta) -> datetime:
    return datetime.now(UTC) + delta


def authenticator(db) -> psycopg.Connection:
    """A connection as the CLI's login role, epic_authenticator (no department role yet)."""
    return psycopg.connect(db.app_dsn)


@dataclass(frozen=True)
class Session:
    """A session opened by a real login: what the CLI keeps, and the session's id."""

    id: uuid.UUID
    employee_id: int
    department: str
    access_token: str
    refresh_token: str

    @property
    def role(self) -> str:
        return ROLE[self.department]


def email_of(db, employee_id: int) -> str:
    return admin_value(db, "select email from epic_events.employee where id = %s", (employee_id,))


def open_session(db, employee_id: int) -> Session:
    """Log the employee in the CLI's way (auth_login_salt, auth_login with the
    bcrypt proof of world.PASSWORD); their email is looked up as the admin."""
    with authenticator(db) as conn:
        row = login(conn, email_of(db, employee_id))
    assert row["status"] == "ok", row
    claims = jwt.decode(row["access_token"], options={"verify_signature": False})
    return Session(
        uuid.UUID(claims["sid"]),
        row["employee_id"],
        row["department"],
        row["access_token"],
        row["refresh_token"],
    )


def begin_request(conn: psycopg.Connection, role: str | None, token: str | None) -> bool:
    """The CLI's first statement (session.begin_request), in the current transaction;
    answers whether the database honoured the token. `role` None: stay the authenticator."""
    if role is None:
        return conn.execute("select epic_events.check_request(%s) is not null", (token,)).fetchone()[0]
    return conn.execute(
        queries.get("session.begin_request").sql, {"role": role, "access_token": token}
    ).fetchone()[1]


def run_as(
    conn: psycopg.Connection, query: str, params=None, *, role: str | None, token: str | None = None
) -> tuple[list[tuple], int]:
    """One transaction: `role` (a department role, or None to stay the authenticator)
    and, when given, check_request(token) as the CLI does; then one statement.

    Returns (rows, rowcount); rolls back and re-raises on error.
    """
    try:
        with conn.cursor() as cur:
            if token is not None:
                begin_request(conn, role, token)
            elif role is not None:
                cur.execute("select set_config('role', %s, true)", (role,))
            cur.execute(query, params)
            rows = cur.fetchall() if cur.description else []
            rowcount = cur.rowcount
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    return rows, rowcount
