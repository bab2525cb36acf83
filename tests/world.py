"""A small agency to test against, built as the admin, and people to act in it.

`World.build(db)` inserts two employees per department, companies, clients,
contracts and events straight through the admin connection (triggers and
constraints apply; RLS does not bind a superuser). `world.as_(name)` then acts
as one employee exactly as the CLI does: connect as epic_authenticator, log in
with the password (auth_login_salt, then auth_login with the bcrypt proof), and
run each statement in its own transaction after the CLI's first statement
(session.begin_request: the department role, then check_request(token)).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import bcrypt
import jwt
import psycopg
from psycopg.rows import dict_row

from epic_events import queries

PASSWORD = "correct horse battery staple"
_HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
#: What the database keeps of PASSWORD: bcrypt's salt and sha256(bcrypt output).
SALT, VERIFIER = _HASH[:29], hashlib.sha256(_HASH.encode()).digest()

ROLE = {"management": "epic_management", "sales": "epic_sales", "support": "epic_support"}

STAFF = [
    ("manager", "Mona Manager", "mona@epic.test", "management"),
    ("manager2", "Max Manager", "max@epic.test", "management"),
    ("sales", "Sam Sales", "sam@epic.test", "sales"),
    ("sales2", "Sara Sales", "sara@epic.test", "sales"),
    ("support", "Suzy Support", "suzy@epic.test", "support"),
    ("support2", "Stan Support", "stan@epic.test", "support"),
]


@dataclass
class Actor:
    db: object
    employee_id: int
    department: str
    session_id: uuid.UUID
    conn: psycopg.Connection
    access_token: str = ""
    refresh_token: str = ""

    def _begin(self, cur):
        # The CLI's own first statement: the role, then check_request(token).
        cur.execute(
            queries.get("session.begin_request").sql,
            {"role": ROLE[self.department], "access_token": self.access_token},
        )

    def run(self, sql: str, params=None) -> list[dict]:
        """Run one statement in its own transaction; raise on any database error."""
        try:
            with self.conn.cursor(row_factory=dict_row) as cur:
                self._begin(cur)
                cur.execute(sql, params)
                rows = cur.fetchall() if cur.description else []
                rowcount = cur.rowcount
            self.conn.commit()
        except Exception:
            self.conn.rollback()
            raise
        self.last_rowcount = rowcount
        return rows

    def one(self, sql: str, params=None) -> dict | None:
        rows = self.run(sql, params)
        return rows[0] if rows else None

    def count(self, sql: str, params=None) -> int:
        """Rows affected (UPDATE/DELETE) or returned (SELECT)."""
        rows = self.run(sql, params)
        return len(rows) if rows else self.last_rowcount


@dataclass
class World:
    db: object
    ids: dict[str, int] = field(default_factory=dict)
    _actors: dict[str, Actor] = field(default_factory=dict)

    @classmethod
    def build(cls, db) -> World:
        w = cls(db)
        with db.admin() as c:
            for key, name, email, dept in STAFF:
                w.ids[key] = c.execute(
                    "insert into epic_events.employee (full_name, email, department, password_salt,"
                    " password_verifier) values (%s, %s, %s, %s, %s) returning id",
                    (name, email, dept, SALT, VERIFIER),
                ).fetchone()[0]
            w.ids["company"] = c.execute(
                "insert into epic_events.company (name) values ('Acme Events') returning id"
            ).fetchone()[0]
            for key, owner in (("client", "sales"), ("client2", "sales2")):
                w.ids[key] = c.execute(
                    "insert into epic_events.client (full_name, email, phone, company_id, sales_contact_id)"
                    " values (%s, %s, '+33612345678', %s, %s) returning id",
                    (f"Client of {owner}", f"{key}@client.test", w.ids["company"], w.ids[owner]),
                ).fetchone()[0]
            # contract: sales's, unsigned; signed: sales's, signed; contract2: sales2's, signed.
            for key, client, signed in (
                ("contract", "client", False),
                ("signed", "client", True),
                ("contract2", "client2", True),
            ):
                w.ids[key] = c.execute(
                    "insert into epic_events.contract (client_id, total_amount, amount_due, is_signed)"
                    " values (%s, 1000, 400, %s) returning id",
                    (w.ids[client], signed),
                ).fetchone()[0]
            start = datetime(2027, 6, 1, 18, 0, tzinfo=UTC)
            for key, contract, support in (
                ("event", "signed", "support"),
                ("event2", "contract2", "support2"),
                ("event_unassigned", "signed", None),
            ):
                w.ids[key] = c.execute(
                    "insert into epic_events.event (contract_id, name, support_contact_id, starts_at, ends_at,"
                    " location, attendees) values (%s, %s, %s, %s, %s, 'Lyon', 50) returning id",
                    (
                        w.ids[contract],
                        f"Event {key}",
                        w.ids[support] if support else None,
                        start,
                        start + timedelta(hours=5),
                    ),
                ).fetchone()[0]
        return w

    def as_(self, key: str) -> Actor:
        """Act as the named employee, with a live session opened the CLI's way."""
        if key not in self._actors:
            email = next(e for k, _, e, _ in STAFF if k == key)
            self._actors[key] = open_actor(self.db, email)
        return self._actors[key]

    def close(self):
        for actor in self._actors.values():
            actor.conn.close()


def login(conn: psycopg.Connection, email: str, password: str = PASSWORD) -> dict:
    """The CLI's login, in SQL: the salt, the bcrypt proof (committed), then the
    verdict in a later transaction; returns auth_login_result's row."""
    salt = conn.execute(queries.get("session.login_salt").sql, {"email": email}).fetchone()[0]
    proof = bcrypt.hashpw(password.encode(), salt.encode()).decode()
    attempt = conn.execute(queries.get("session.login").sql, {"email": email, "proof": proof}).fetchone()[0]
    conn.commit()
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(queries.get("session.login_result").sql, {"attempt": attempt}).fetchone()
    conn.commit()
    return row


def open_actor(db, email: str) -> Actor:
    conn = psycopg.connect(db.app_dsn)
    row = login(conn, email)
    assert row["status"] == "ok", row["status"]
    claims = jwt.decode(row["access_token"], options={"verify_signature": False})
    return Actor(
        db,
        row["employee_id"],
        row["department"],
        uuid.UUID(claims["sid"]),
        conn,
        row["access_token"],
        row["refresh_token"],
    )
