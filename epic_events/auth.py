"""Passwords (bcrypt), tokens, and the session flows. The database decides.

The CLI never checks a password nor signs a token (migration 0015):
- login: the database hands out the bcrypt salt for the email; the CLI sends
  bcrypt(password, salt) as a proof; the database compares its digest with
  the stored verifier, throttles failures, and returns the tokens.
- the access token is a JWT the database signed (30 minutes); it is decoded
  here, without a key, only to know when it expires and whom it names. Every
  request hands it to check_request(), which verifies it.
- the refresh token (1 day) is opaque; each refresh exchanges it for the next.
No password, hash or token is ever printed or logged.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass

from . import config, errors

# bcrypt and PyJWT are imported by the functions that use them, so that
# `epic-events --help` does not pay for them.

DEPARTMENTS = ("management", "sales", "support")
#: Refresh a little before the database would refuse the token.
EXPIRY_MARGIN = 15
_EMPLOYEE_ID = re.compile(r"[0-9]{1,18}")  # ASCII digits: str.isdigit() accepts "٣"


# -- passwords ----------------------------------------------------------------
def password_record(password: str) -> tuple[str, bytes]:
    """What the database keeps of a new password: bcrypt's salt and sha256(bcrypt output).

    The bcrypt output itself (the proof a login sends) never leaves this process.
    """
    import bcrypt

    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(config.bcrypt_rounds()))
    return hashed[:29].decode(), hashlib.sha256(hashed).digest()


def proof(password: str, salt: str | None) -> str:
    """bcrypt(password, salt): what a login or a password change sends."""
    import bcrypt

    try:
        return bcrypt.hashpw(password.encode(), (salt or "").encode()).decode()
    except ValueError:
        return ""  # an unusable salt: the database refuses an empty proof


# -- tokens ---------------------------------------------------------------------
@dataclass(frozen=True)
class Claims:
    employee_id: int
    department: str
    session_id: str
    expires_at: int
    token: str

    @property
    def expired(self) -> bool:
        return self.expires_at <= time.time() + EXPIRY_MARGIN


class TokenExpired(errors.NotLoggedIn):
    pass


INVALID = "stored token is invalid: run `epic-events login`"


def claims_of(token) -> Claims:
    """What an access token says (unverified: the database verifies it at each request)."""
    import jwt

    if not isinstance(token, str):
        raise errors.NotLoggedIn(INVALID)
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except (jwt.PyJWTError, ValueError, TypeError):
        raise errors.NotLoggedIn(INVALID) from None
    sub, exp = claims.get("sub"), claims.get("exp")
    if (
        claims.get("typ") != "access"
        or claims.get("dept") not in DEPARTMENTS
        or not isinstance(sub, str)
        or not _EMPLOYEE_ID.fullmatch(sub)
        or not isinstance(exp, int)
        or isinstance(exp, bool)
    ):
        raise errors.NotLoggedIn(INVALID)
    try:
        session_id = str(uuid.UUID(claims.get("sid")))
    except (ValueError, TypeError, AttributeError):
        raise errors.NotLoggedIn(INVALID) from None
    return Claims(int(sub), claims["dept"], session_id, exp, token)


def valid_claims(token) -> Claims:
    """claims_of, refusing an expired token (TokenExpired: refresh it)."""
    claims = claims_of(token)
    if claims.expired:
        raise TokenExpired("access token expired")
    return claims


# -- session flows ----------------------------------------------------------------
NOT_MIGRATED = "the database is not migrated: run `epic-events db migrate`"


@contextmanager
def transaction(conn):
    """db.transaction, for the commands that come first on a new database (login,
    bootstrap): a missing schema is explained, not an internal error."""
    from psycopg import errors as pgerr

    from . import db

    try:
        with db.transaction(conn) as tx:
            yield tx
    except errors.AppError as exc:
        if isinstance(exc.__cause__, pgerr.InvalidSchemaName):
            raise errors.Unreachable(NOT_MIGRATED) from None
        if isinstance(exc.__cause__, pgerr.UndefinedFunction | pgerr.UndefinedTable | pgerr.UndefinedObject):
            # A schema there, but older than this CLI (or without schema_version()).
            raise db.schema_mismatch(None) from None
        raise


def token_store(dsn: str):
    from . import db
    from .tokens import TokenStore, target_key

    # Before any connection (whoami, logout): a DSN that does not parse is reported, not a crash.
    p = db.parse_dsn(dsn)
    where = f"{p.get('host', '')}|{p.get('port', '')}|{p.get('dbname', '')}"
    return TokenStore(target_key(where))


LOGIN_REFUSED = {
    "failed": "login failed: unknown email or wrong password",
    "locked": ("login refused: too many failed attempts for this email; try again in 15 minutes"),
    "inactive": "login failed: this account is deactivated",
    "unknown": "login failed: the database lost track of this attempt; try again",
}
NO_ACCOUNT_YET = (
    "no account exists yet on this machine's database: run `make demo` or `epic-events db bootstrap`"
)


def login(conn, store, email: str, password: str, hint_if_empty: bool = False) -> tuple[Claims, dict]:
    """Prove the password to the database, and keep the tokens it issues.

    Three short transactions: the salt (and the schema's version); the proof
    (the database records its verdict, committed before it is told); the
    verdict and the tokens. With hint_if_empty (the embedded default), a
    failure on a database that holds no employee at all says how to create one.
    """
    from . import db

    with transaction(conn) as tx:
        first = tx.run("session.login_salt", {"email": email})
    db.check_schema(first["schema"])
    salt = first["salt"]
    bcrypt_proof = proof(password, salt)
    with transaction(conn) as tx:
        attempt = tx.run("session.login", {"email": email, "proof": bcrypt_proof})
    replaced = store.load(lenient=True)
    with transaction(conn) as tx:
        found = tx.run("session.login_result", {"attempt": attempt})
        if found["status"] == "ok" and replaced:
            # The tokens kept here are about to be overwritten: nobody could
            # use that session again, so it is closed rather than left to expire.
            tx.run("session.logout", {"refresh_token": replaced["refresh"], "all": False})
    if found["status"] != "ok":
        message = LOGIN_REFUSED.get(found["status"], "login failed")
        if found["status"] == "failed" and hint_if_empty:
            with transaction(conn) as tx:
                if not tx.run("session.has_accounts"):
                    message = f"{message}\n{NO_ACCOUNT_YET}"
        raise errors.NotLoggedIn(message)
    tokens = _tokens(found)
    claims = claims_of(tokens["access"])
    store.save(tokens)
    return claims, found


def _tokens(row: dict) -> dict:
    return {
        "access": row["access_token"],
        "refresh": row["refresh_token"],
        "refresh_expires_at": int(row["refresh_expires_at"].timestamp()),
    }


REFRESH_REFUSED = {
    "unknown": "your session is unknown to this database: run `epic-events login`",
    "expired": "your session expired: run `epic-events login`",
    "revoked": (
        "your session was closed (a logout, a deactivation, a password change, or a "
        "reused refresh token): run `epic-events login`"
    ),
    "replayed": (
        "this refresh token was already used, so it may have been copied: every token "
        "of this login is now revoked. Run `epic-events login`"
    ),
    "inactive": "this account is deactivated",
}


def refresh(conn, store) -> Claims:
    """Exchange the stored refresh token for new tokens (rotation)."""
    seen = store.last_seen  # what this command read before it decided to refresh, if anything
    with store.lock():
        tokens = store.load()
        if not tokens:
            raise errors.NotLoggedIn("not logged in: run `epic-events login`")
        if seen and tokens["refresh"] != seen["refresh"]:
            # Another command on this machine refreshed meanwhile: use its tokens
            # (handing in the one it exchanged would be refused as a replay).
            try:
                return valid_claims(tokens["access"])
            except errors.NotLoggedIn:
                pass  # no good either: exchange them in turn
        return _rotate(conn, store, tokens)


def _rotate(conn, store, tokens: dict) -> Claims:
    expires = tokens.get("refresh_expires_at")
    if isinstance(expires, int) and expires <= time.time():
        store.clear()
        raise errors.NotLoggedIn(REFRESH_REFUSED["expired"])
    with transaction(conn) as tx:
        result = tx.run("session.refresh", {"refresh_token": tokens["refresh"]})
    if result["status"] != "ok":
        store.clear()
        raise errors.NotLoggedIn(REFRESH_REFUSED.get(result["status"], "session refused"))
    fresh = _tokens(result)
    store.save(fresh)
    return claims_of(fresh["access"])


def logout(conn, store, everywhere: bool) -> int:
    """Revoke this session (or all of the employee's) and forget the tokens."""
    # Leniently read: even tokens refused for use (loose file mode) name a
    # session worth closing; the database only honours a genuine refresh token.
    tokens = store.load(lenient=True)
    if not tokens:
        store.clear()
        return 0
    try:
        with transaction(conn) as tx:
            return tx.run("session.logout", {"refresh_token": tokens["refresh"], "all": everywhere}) or 0
    finally:
        store.clear()


def change_password(tx, new_password: str) -> None:
    """In a request of a session opened just now (the caller logged in again
    with the current password): set the new one; the other sessions end."""
    new_salt, new_verifier = password_record(new_password)
    tx.run("session.change_own_password", {"new_salt": new_salt, "new_verifier": new_verifier})
