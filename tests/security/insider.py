"""What an insider has: the authenticator's DSN, psql, their own login; and for
the forgeries, what only a key thief would have.

`request(conn, role, token)` is the CLI's first statement, run by hand;
`sign(db, claims)` makes a token with the database's real key (read as the
admin: the HMAC pads hold it), to show that even a valid signature gives
nothing without a live session that matches.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

import psycopg

from epic_events import queries
from tests.db.helpers import admin_one


def request(conn: psycopg.Connection, role: str | None, token: str | None) -> bool:
    """Open a transaction as the CLI does; answers whether the database honours the token."""
    if role is None:  # stay the authenticator: check_request only
        row = conn.execute("select epic_events.check_request(%s) is not null", (token,)).fetchone()
        return row[0]
    row = conn.execute(
        queries.get("session.begin_request").sql, {"role": role, "access_token": token}
    ).fetchone()
    return row[1]


def who(conn: psycopg.Connection):
    return conn.execute("select epic_events.current_employee_id()").fetchone()[0]


def real_key(db) -> tuple[str, bytes]:
    """The current signing key (kid, 32 bytes): ipad = key XOR 0x36, zero-padded to 64."""
    row = admin_one(db, "select kid, ipad from epic_events.signing_key where superseded_at is null")
    return row["kid"], bytes(b ^ 0x36 for b in row["ipad"][:32])


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(
    db, *, key: bytes | None = None, kid: str | None = None, header: dict | None = None, **claims
) -> str:
    """An HS256 JWT over `claims` (defaults: a valid access token's), with the real key."""
    real_kid, real = real_key(db)
    now = int(time.time())
    body = {
        "iss": "epic-events",
        "typ": "access",
        "sub": "1",
        "dept": "management",
        "sid": str(uuid.uuid4()),
        "iat": now,
        "nbf": now,
        "exp": now + 1800,
    }
    body.update(claims)
    head = header or {"alg": "HS256", "typ": "JWT", "kid": kid or real_kid}
    signing_input = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(body).encode())}"
    mac = hmac.new(key or real, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
