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
from dataclasses import dataclass

import jwt

from . import config, errors

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

    def secret_for(self, kid: str | None) -> str:
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


def issue(k: Keys, employee_id: int, department: str, session_id: str,
          now: int | None = None) -> dict:
    now = int(time.time()) if now is None else now
    base = {"iss": ISSUER, "sub": str(employee_id), "dept": department, "sid": session_id,
            "iat": now, "nbf": now}
    headers = {"kid": k.kid}
    access = jwt.encode({**base, "typ": "access", "exp": now + ACCESS_TTL},
                        k.secret, algorithm="HS256", headers=headers)
    refresh = jwt.encode({**base, "typ": "refresh", "exp": now + REFRESH_TTL,
                          "jti": secrets.token_urlsafe(24)},
                         k.secret, algorithm="HS256", headers=headers)
    return {"access": access, "refresh": refresh, "refresh_expires_at": now + REFRESH_TTL}


class TokenExpired(errors.NotLoggedIn):
    pass


def verify(k: Keys, token: str, typ: str, verify_exp: bool = True) -> Claims:
    """Check signature, algorithm, key id, issuer, times and claims; or raise NotLoggedIn."""
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
    except jwt.PyJWTError:
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
def token_store(dsn: str):
    from psycopg.conninfo import conninfo_to_dict

    from .tokens import TokenStore, target_key

    p = conninfo_to_dict(dsn)
    where = f"{p.get('host', '')}|{p.get('port', '')}|{p.get('dbname', '')}"
    return TokenStore(target_key(where))


def login(conn, store, k: Keys, email: str, password: str) -> tuple[Claims, dict]:
    """Check the password, open a session, store its tokens."""
    from . import db

    with db.transaction(conn) as tx:
        found = tx.run("session.find_employee", {"email": email})
    if not check_password(password, found["password_hash"] if found else None):
        raise errors.NotLoggedIn("login failed: unknown email or wrong password")
    if not found["is_active"]:
        raise errors.NotLoggedIn("login failed: this account is deactivated")
    session_id = str(uuid.uuid4())
    tokens = issue(k, found["employee_id"], found["department"], session_id)
    with db.transaction(conn) as tx:
        tx.run("session.open_session", {
            "session_id": session_id, "employee_id": found["employee_id"],
            "token_hash": digest(tokens["refresh"]),
            "expires_at": _timestamp(tokens["refresh_expires_at"])})
    store.save(tokens)
    return verify(k, tokens["access"], "access"), found


REFRESH_REFUSED = {
    "unknown": "your session is unknown to this database: run `epic-events login`",
    "expired": "your session expired: run `epic-events login`",
    "revoked": "your session was closed (logout, or an administrator): run `epic-events login`",
    "replayed": ("this refresh token was already used, so it may have been copied: every token "
                 "of this login is now revoked. Run `epic-events login`"),
    "inactive": "this account is deactivated",
}


def refresh(conn, store, k: Keys) -> Claims:
    """Exchange the stored refresh token for new tokens (rotation)."""
    from . import db

    tokens = store.load()
    if not tokens:
        raise errors.NotLoggedIn("not logged in: run `epic-events login`")
    try:
        verify(k, tokens["refresh"], "refresh")
    except TokenExpired:
        store.clear()
        raise errors.NotLoggedIn("your session expired: run `epic-events login`") from None
    now = int(time.time())
    # The new refresh token names the same session; the database links the two.
    old = jwt.decode(tokens["refresh"], options={"verify_signature": False})
    fresh = issue(k, int(old["sub"]), old["dept"], old["sid"], now)
    with db.transaction(conn) as tx:
        result = tx.run("session.rotate_session", {
            "token_hash": digest(tokens["refresh"]),
            "new_token_hash": digest(fresh["refresh"]),
            "new_expires_at": _timestamp(fresh["refresh_expires_at"])})
    if result["status"] != "ok":
        store.clear()
        raise errors.NotLoggedIn(REFRESH_REFUSED.get(result["status"], "session refused"))
    if result["department"] != old["dept"]:
        # The employee moved department: the access token says so from now on
        # (a refresh token's dept is never trusted: the database answers it).
        fresh["access"] = issue(k, int(old["sub"]), result["department"], old["sid"], now)["access"]
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


def logout(conn, store, k: Keys, everywhere: bool) -> int:
    """Revoke this session (or all of the employee's) and forget the tokens."""
    from . import db

    tokens = store.load()
    if not tokens:
        return 0
    try:
        claims = verify(k, tokens["access"], "access", verify_exp=False)
        with db.transaction(conn) as tx:
            return tx.run("session.revoke_session", {"session_id": claims.session_id,
                                                     "all": everywhere}) or 0
    finally:
        store.clear()


def _timestamp(epoch: int):
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, tz=timezone.utc)
