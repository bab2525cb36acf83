"""Passwords (bcrypt), tokens (HS256 JWTs with a kid) and the session flows.

Access token: 30 minutes; refresh token: 1 day, exchanged (rotated) at each
refresh. Both carry the session id (sid); the database decides whether that
session is still live, so logging out or deactivating an employee takes
effect at once. Only a SHA-256 digest of a refresh token leaves this process.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass

from . import config, errors

# PyJWT (and the cryptography package it loads) is imported by the functions
# that sign or check a token, so `epic-events --help` does not pay for it.

ACCESS_TTL = 30 * 60
REFRESH_TTL = 24 * 60 * 60
ISSUER = "epic-events"
DEPARTMENTS = ("management", "sales", "support")


# -- passwords ----------------------------------------------------------------
def hash_password(password: str) -> str:
    import bcrypt

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(config.bcrypt_rounds())).decode()


def check_password(password: str, password_hash: str | None) -> bool:
    """bcrypt check; an unknown account costs the same time as a wrong password."""
    import bcrypt

    if password_hash is None:
        bcrypt.hashpw(password.encode(), bcrypt.gensalt(config.bcrypt_rounds()))
        return False
    try:
        return bcrypt.checkpw(password.encode(), password_hash.encode())
    except ValueError:
        return False


# -- keys -----------------------------------------------------------------------
@dataclass(frozen=True)
class Keys:
    kid: str
    secret: str
    previous: dict[str, str]

    def secret_for(self, kid) -> str:
        if isinstance(kid, str):
            if kid == self.kid:
                return self.secret
            if kid in self.previous:
                return self.previous[kid]
        raise errors.NotLoggedIn("token signed with an unknown key: run `epic-events login`")


def keys() -> Keys:
    secret = config.get("SECRET_KEY")
    if not secret:
        if not config.get("DATABASE_URL"):
            from . import embedded

            secret = embedded.secret_key()
        else:
            raise errors.Unreachable("SECRET_KEY is not set: the CLI cannot sign or check tokens")
    if len(secret) < 32:
        raise errors.Unreachable("SECRET_KEY is too short: use at least 32 random characters")
    kid = config.get("JWT_KID", "v1")
    previous = {}
    prev_secret = config.get("SECRET_KEY_PREV")
    if prev_secret:
        previous[config.get("JWT_KID_PREV", "v0")] = prev_secret
    return Keys(kid, secret, previous)


# -- tokens ---------------------------------------------------------------------
@dataclass(frozen=True)
class Claims:
    employee_id: int
    department: str
    session_id: str
    expires_at: int


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _sign(k: Keys, typ: str, employee_id: int, department: str, session_id: str, now: int,
          **extra) -> str:
    import jwt

    claims = {"iss": ISSUER, "sub": str(employee_id), "dept": department, "sid": session_id,
              "iat": now, "nbf": now, "typ": typ,
              "exp": now + (ACCESS_TTL if typ == "access" else REFRESH_TTL), **extra}
    return jwt.encode(claims, k.secret, algorithm="HS256", headers={"kid": k.kid})


def access_token(k: Keys, employee_id: int, department: str, session_id: str, now: int) -> str:
    return _sign(k, "access", employee_id, department, session_id, now)


def refresh_token(k: Keys, employee_id: int, department: str, session_id: str, now: int) -> str:
    # jti: two refreshes within one second still get different tokens (and digests).
    return _sign(k, "refresh", employee_id, department, session_id, now,
                 jti=secrets.token_urlsafe(24))


def issue(k: Keys, employee_id: int, department: str, session_id: str,
          now: int | None = None) -> dict:
    now = int(time.time()) if now is None else now
    return {"access": access_token(k, employee_id, department, session_id, now),
            "refresh": refresh_token(k, employee_id, department, session_id, now),
            "refresh_expires_at": now + REFRESH_TTL}


class TokenExpired(errors.NotLoggedIn):
    pass


def verify(k: Keys, token: str, typ: str, verify_exp: bool = True) -> Claims:
    """Check signature, algorithm, key id, issuer, times and claims; or raise NotLoggedIn."""
    import jwt

    if not isinstance(token, str):
        raise errors.NotLoggedIn("stored token is invalid: run `epic-events login`")
    try:
        header = jwt.get_unverified_header(token)
        secret = k.secret_for(header.get("kid"))
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], issuer=ISSUER,
            options={"require": ["exp", "iat", "nbf", "sub", "sid", "typ", "dept"],
                     "verify_exp": verify_exp})
    except jwt.ExpiredSignatureError:
        raise TokenExpired(f"{typ} token expired") from None
    except jwt.ImmatureSignatureError:
        raise errors.NotLoggedIn("token not valid yet: check this machine's clock") from None
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        # Whatever else a forged or damaged token trips over is "invalid", not a bug.
        raise errors.NotLoggedIn("stored token is invalid: run `epic-events login`") from None
    if (claims.get("typ") != typ or claims.get("dept") not in DEPARTMENTS
            or not str(claims.get("sub", "")).isdigit()):
        raise errors.NotLoggedIn("stored token is invalid: run `epic-events login`")
    try:
        session_id = str(uuid.UUID(claims["sid"]))
    except (ValueError, TypeError, AttributeError):
        raise errors.NotLoggedIn("stored token is invalid: run `epic-events login`") from None
    return Claims(int(claims["sub"]), claims["dept"], session_id, int(claims["exp"]))


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
        if isinstance(exc.__cause__, pgerr.InvalidSchemaName | pgerr.UndefinedFunction
                      | pgerr.UndefinedTable | pgerr.UndefinedObject):
            raise errors.Unreachable(NOT_MIGRATED) from None
        raise


def token_store(dsn: str):
    from psycopg.conninfo import conninfo_to_dict

    from .tokens import TokenStore, target_key

    p = conninfo_to_dict(dsn)
    where = f"{p.get('host', '')}|{p.get('port', '')}|{p.get('dbname', '')}"
    return TokenStore(target_key(where))


def login(conn, store, k: Keys, email: str, password: str) -> tuple[Claims, dict]:
    """Check the password, open a session, store its tokens."""
    with transaction(conn) as tx:
        found = tx.run("session.find_employee", {"email": email})
    if not check_password(password, found["password_hash"] if found else None):
        raise errors.NotLoggedIn("login failed: unknown email or wrong password")
    if not found["is_active"]:
        raise errors.NotLoggedIn("login failed: this account is deactivated")
    session_id = str(uuid.uuid4())
    tokens = issue(k, found["employee_id"], found["department"], session_id)
    replaced = _stored_session(store, k)
    with transaction(conn) as tx:
        tx.run("session.open_session", {
            "session_id": session_id, "employee_id": found["employee_id"],
            "token_hash": digest(tokens["refresh"]),
            "expires_at": _timestamp(tokens["refresh_expires_at"])})
        if replaced:
            # The tokens it had here are about to be overwritten: nobody could
            # use that session again, so it is closed rather than left to expire.
            tx.run("session.revoke_session", {"session_id": replaced, "all": False})
    store.save(tokens)
    return verify(k, tokens["access"], "access"), found


REFRESH_REFUSED = {
    "unknown": "your session is unknown to this database: run `epic-events login`",
    "expired": "your session expired: run `epic-events login`",
    "revoked": ("your session was closed (a logout, a deactivation, or a reused refresh "
                "token): run `epic-events login`"),
    "replayed": ("this refresh token was already used, so it may have been copied: every token "
                 "of this login is now revoked. Run `epic-events login`"),
    "inactive": "this account is deactivated",
}


def refresh(conn, store, k: Keys) -> Claims:
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
                return verify(k, tokens["access"], "access")
            except errors.NotLoggedIn:
                pass  # no good either: exchange them in turn
        return _rotate(conn, store, k, tokens)


def _rotate(conn, store, k: Keys, tokens: dict) -> Claims:
    try:
        old = verify(k, tokens["refresh"], "refresh")
    except TokenExpired:
        store.clear()
        raise errors.NotLoggedIn("your session expired: run `epic-events login`") from None
    now = int(time.time())
    # The new refresh token names the same session; the database links the two.
    new_refresh = refresh_token(k, old.employee_id, old.department, old.session_id, now)
    with transaction(conn) as tx:
        result = tx.run("session.rotate_session", {
            "token_hash": digest(tokens["refresh"]),
            "new_token_hash": digest(new_refresh),
            "new_expires_at": _timestamp(now + REFRESH_TTL)})
    if result["status"] != "ok":
        store.clear()
        raise errors.NotLoggedIn(REFRESH_REFUSED.get(result["status"], "session refused"))
    # Who and which department come from the database, not from the old token:
    # an employee moved to another department gets an access token saying so.
    fresh = {"access": access_token(k, result["employee_id"], result["department"],
                                    str(result["session_id"]), now),
             "refresh": new_refresh, "refresh_expires_at": now + REFRESH_TTL}
    store.save(fresh)
    return verify(k, fresh["access"], "access")


def current(conn, store, k: Keys) -> Claims:
    """The verified claims of the stored access token, refreshed if it expired."""
    tokens = store.load()
    if not tokens:
        raise errors.NotLoggedIn("not logged in: run `epic-events login`")
    try:
        return verify(k, tokens["access"], "access")
    except TokenExpired:
        return refresh(conn, store, k)


def _stored_claims(tokens: dict, k: Keys) -> Claims:
    """Who the stored tokens name, if genuine, even expired; else NotLoggedIn."""
    try:
        return verify(k, tokens.get("access"), "access", verify_exp=False)
    except errors.NotLoggedIn:
        return verify(k, tokens.get("refresh"), "refresh", verify_exp=False)


def _stored_session(store, k: Keys) -> str | None:
    """The session the tokens stored here belong to, if they are genuine (even expired)."""
    tokens = store.load(lenient=True)
    if not tokens:
        return None
    try:
        return _stored_claims(tokens, k).session_id
    except errors.NotLoggedIn:
        return None


def logout(conn, store, k: Keys, everywhere: bool) -> int:
    """Revoke this session (or all of the employee's) and forget the tokens."""
    # Leniently read: even tokens refused for use (loose file mode) name a session
    # worth closing, and a forged one fails the signature check below.
    tokens = store.load(lenient=True)
    if not tokens:
        store.clear()
        return 0
    try:
        claims = _stored_claims(tokens, k)
        with transaction(conn) as tx:
            return tx.run("session.revoke_session", {"session_id": claims.session_id,
                                                     "all": everywhere}) or 0
    finally:
        store.clear()


def _timestamp(epoch: int):
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, tz=timezone.utc)
