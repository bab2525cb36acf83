"""Forged, edited, stale and replayed tokens, now that the database signs and checks them.

The CLI holds no key (migration 0015): it decodes its access token without
one, only to know whom it names and when it expires, and every request's first
statement hands it to check_request(), which verifies the signature (keys in
epic_events.signing_key, owner-only), the kid, the expiry, and that the
session is live, the employee active, and the role their department's.

Every case logs in as Sam (sales), changes what the CLI stored (or what the
database holds, as the admin), and runs one command. A forged access token
goes with a refresh token this database never issued ("dead refresh"), so that
the database's refusal shows: with Sam's own refresh token the CLI would
refresh and carry on as Sam, which test_with_a_live_refresh_token_a_forgery_buys_nothing
checks for every forgery. Each refusal: exit 2, one error line, no traceback.
The matrix (kept in step with CASES by a test below):

| case                          | what is stored / done                                                 | command | result                        |
| ----------------------------- | --------------------------------------------------------------------- | ------- | ----------------------------- |
| edited-department             | payload dept sales -> management, not re-signed; dead refresh         | whoami  | refused (2) session unknown   |
| edited-employee-id            | payload sub -> the manager's id, not re-signed; dead refresh          | whoami  | refused (2) session unknown   |
| alg-none                      | header alg "none", no signature; dead refresh                         | whoami  | refused (2) session unknown   |
| guessed-key                   | signed by PyJWT with a random key, the real kid; dead refresh         | whoami  | refused (2) session unknown   |
| hs256-public-key-as-hmac      | HS256 with an RSA public key PEM as the HMAC secret; dead refresh     | whoami  | refused (2) session unknown   |
| rs256-header                  | a real RS256 token (header alg RS256, the real kid); dead refresh     | whoami  | refused (2) session unknown   |
| unknown-kid                   | signed with the REAL key under kid "v9"; dead refresh                 | whoami  | refused (2) session unknown   |
| not-yet-valid                 | REAL key, iat/nbf/exp one hour ahead; dead refresh                    | whoami  | refused (2) session unknown   |
| resigned-department           | REAL key, dept -> management (Sam's session); dead refresh            | whoami  | refused (2) session unknown   |
| resigned-employee-id          | REAL key, sub -> the manager's id (Sam's session); dead refresh       | whoami  | refused (2) session unknown   |
| resigned-unknown-session      | REAL key, sid -> a session that never existed; dead refresh           | whoami  | refused (2) session unknown   |
| other-database                | Sam's token from another database (its own keys); dead refresh        | whoami  | refused (2) session unknown   |
| other-database-same-keys      | the same, from a clone sharing this database's keys; dead refresh     | whoami  | refused (2) session unknown   |
| retired-key                   | `rotate-key`, the old key superseded 32 min ago; dead refresh         | whoami  | refused (2) session unknown   |
| not-a-jwt                     | access = "garbage"                                                    | whoami  | refused (2) token is invalid  |
| kid-not-a-string              | signed with the REAL key, header kid = [kid]                          | whoami  | refused (2) token is invalid  |
| refresh-as-access             | the (opaque) refresh token stored as the access token                 | whoami  | refused (2) token is invalid  |
| sub-arabic-digit              | REAL key, sub "٣" (a digit to str.isdigit, not to the database)       | whoami  | refused (2) token is invalid  |
| sub-5000-digits               | REAL key, sub of 5,000 digits                                         | whoami  | refused (2) token is invalid  |
| expired-access-and-refresh    | access past exp (REAL key), refresh past its stored expiry            | whoami  | refused (2) session expired   |
| refresh-expired-in-database   | access past exp; the database's refresh token expired                 | whoami  | refused (2) session expired   |
| access-as-refresh             | access past exp; the access token stored as the refresh token         | whoami  | refused (2) session unknown   |
| revoked-session               | logout, then the saved copy of the tokens put back                    | whoami  | refused (2) session was closed|
| replayed-refresh              | refresh; the pre-refresh copy put back; refresh again                 | refresh | refused (2) already used      |
| replay-revokes-family         | after the replay, the newest tokens put back                          | whoami  | refused (2) session was closed|
| expired-access-live-refresh   | access past exp (REAL key), Sam's live refresh token                  | whoami  | accepted (0): refreshed       |
| rotated-key                   | `epic-events db rotate-key`, the tokens kept                          | whoami  | accepted (0): old kid verifies|
| retired-key-live-refresh      | old key superseded 32 min ago, Sam's live refresh token               | whoami  | accepted (0): refreshed, new kid |
| resigned-live-session         | REAL key, sub/dept/sid of the manager's own live session              | whoami  | accepted (0) as the manager: the trust boundary is the key AND a live session |
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import jwt
import psycopg
import pytest

from epic_events import queries
from tests import pg
from tests.cli.conftest import admin_one
from tests.cli.test_tokens_store import (  # noqa: F401  (autouse: no token in any output)
    claims_of,
    kid_of,
    no_token_in_output,
    resign,
    sign,
    signing_key,
    token_store,
)
from tests.world import World
from tests.world import login as world_login

SAM = "sam@epic.test"
INVALID = "error: stored token is invalid: run `epic-events login`"
UNKNOWN = "error: your session is unknown to this database: run `epic-events login`"
EXPIRED = "error: your session expired: run `epic-events login`"
CLOSED = "error: your session was closed"
REPLAYED = "error: this refresh token was already used"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(obj) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def unb64json(part: str):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def hand_signed(header: dict, claims: dict, hmac_key: bytes) -> str:
    """HS256 done by hand: PyJWT refuses a PEM as an HMAC secret, and a kid that is not a string."""
    signing_input = f"{b64json(header)}.{b64json(claims)}"
    mac = hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def edited(token: str, **changes) -> str:
    """The payload changed, the header and signature kept (no re-signing)."""
    header, payload, signature = token.split(".")
    return ".".join([header, b64json({**unb64json(payload), **changes}), signature])


@cache
def rsa_key():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, public_pem


def in_the_past(claims: dict, ttl: int = 1800) -> dict:
    now = int(time.time())
    return {**claims, "iat": now - ttl - 60, "nbf": now - ttl - 60, "exp": now - 60}


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


# -- what a case gets -----------------------------------------------------------------------
@dataclass
class Tamper:
    cli: object
    store: object
    tokens: dict  # what Sam's login stored
    template: tuple[str, str]  # the migrated template (name, authenticator password)

    @property
    def world(self) -> World:
        return self.cli.world

    @property
    def access(self) -> dict:
        return claims_of(self.tokens["access"])

    def run_with(self, tokens: dict, *command: str):
        self.store.save(tokens)
        return self.cli(*command)


def retire_the_current_key(world) -> str:
    """As the admin: a new signing key, the old one superseded 32 minutes ago; the old kid."""
    old = signing_key(world)[0]
    with world.db.admin() as conn:
        conn.execute("select epic_events.rotate_signing_key()")
        conn.execute(
            "update epic_events.signing_key set superseded_at = now() - interval '32 minutes' where kid = %s",
            (old,),
        )
    return old


def token_of_another_database(t: Tamper, own_keys: bool) -> str:
    """Sam's access token from a second database made from the same template.

    A clone starts with the template's signing keys: `own_keys` replaces them
    there, as a database migrated on its own would have.
    """
    server = t.world.db.server
    other = pg.clone(server, *t.template)
    try:
        if own_keys:
            with other.admin() as conn, conn.transaction():
                conn.execute("set local role epic_owner")
                conn.execute("delete from epic_events.signing_key")
                conn.execute("select epic_events.new_signing_key()")
        World.build(other)  # Sam works there too, with the same password
        with psycopg.connect(other.app_dsn) as conn:
            row = world_login(conn, SAM)
        assert row["status"] == "ok"
        shared = kid_of(row["access_token"]) == kid_of(t.tokens["access"])
        assert shared is not own_keys, "the clone's keys are not what the case says"
        return row["access_token"]
    finally:
        pg.drop(server, other.name)


# -- forged access tokens ---------------------------------------------------------------------
@dataclass
class Forgery:
    id: str
    make: Callable[[Tamper], str]  # the forged access token
    local: bool = False  # refused by the CLI's own shape check, before the database


def kid(t: Tamper) -> str:
    return kid_of(t.tokens["access"])


FORGERIES = [
    Forgery("edited-department", lambda t: edited(t.tokens["access"], dept="management")),
    Forgery("edited-employee-id", lambda t: edited(t.tokens["access"], sub=str(t.world.ids["manager"]))),
    Forgery(
        "alg-none", lambda t: f"{b64json({'alg': 'none', 'typ': 'JWT', 'kid': kid(t)})}.{b64json(t.access)}."
    ),
    Forgery("guessed-key", lambda t: sign(t.access, secrets.token_bytes(32), kid(t))),
    Forgery(
        "hs256-public-key-as-hmac",
        lambda t: hand_signed({"alg": "HS256", "typ": "JWT", "kid": kid(t)}, t.access, rsa_key()[1]),
    ),
    Forgery(
        "rs256-header",
        lambda t: jwt.encode(t.access, rsa_key()[0], algorithm="RS256", headers={"kid": kid(t)}),
    ),
    Forgery("unknown-kid", lambda t: sign(t.access, signing_key(t.world)[1], "v9")),
    Forgery(
        "not-yet-valid",
        lambda t: resign(
            t.world,
            {
                **t.access,
                "iat": t.access["iat"] + 3600,
                "nbf": t.access["nbf"] + 3600,
                "exp": t.access["exp"] + 3600,
            },
        ),
    ),
    Forgery("resigned-department", lambda t: resign(t.world, {**t.access, "dept": "management"})),
    Forgery(
        "resigned-employee-id", lambda t: resign(t.world, {**t.access, "sub": str(t.world.ids["manager"])})
    ),
    Forgery("resigned-unknown-session", lambda t: resign(t.world, {**t.access, "sid": str(uuid.uuid4())})),
    Forgery("other-database", lambda t: token_of_another_database(t, own_keys=True)),
    Forgery("other-database-same-keys", lambda t: token_of_another_database(t, own_keys=False)),
    Forgery("retired-key", lambda t: (retire_the_current_key(t.world), t.tokens["access"])[1]),
    Forgery("not-a-jwt", lambda t: "garbage", local=True),
    Forgery(
        "kid-not-a-string",  # PyJWT refuses the header, even unverified
        lambda t: hand_signed(
            {"alg": "HS256", "typ": "JWT", "kid": [kid(t)]}, t.access, signing_key(t.world)[1]
        ),
        local=True,
    ),
    Forgery("refresh-as-access", lambda t: t.tokens["refresh"], local=True),
    Forgery("sub-arabic-digit", lambda t: resign(t.world, {**t.access, "sub": "\u0663"}), local=True),
    Forgery("sub-5000-digits", lambda t: resign(t.world, {**t.access, "sub": "9" * 5000}), local=True),
]


def with_dead_refresh(forgery: Forgery):
    """Store the forgery with a refresh token this database never issued, run whoami."""

    def scenario(t: Tamper):
        return t.run_with(
            {**t.tokens, "access": forgery.make(t), "refresh": secrets.token_urlsafe(32)}, "whoami"
        )

    return scenario


# -- the other cases --------------------------------------------------------------------------
def expired_both(t: Tamper):
    return t.run_with(
        {
            **t.tokens,
            "access": resign(t.world, in_the_past(t.access)),
            "refresh_expires_at": int(time.time()) - 60,
        },
        "whoami",
    )


def refresh_expired_in_database(t: Tamper):
    with t.world.db.admin() as conn:
        conn.execute(
            "update epic_events.session_token set expires_at = now() - interval '1 minute'"
            " where token_hash = %s",
            (digest(t.tokens["refresh"]),),
        )
    return t.run_with({**t.tokens, "access": resign(t.world, in_the_past(t.access))}, "whoami")


def access_as_refresh(t: Tamper):
    return t.run_with(
        {**t.tokens, "access": resign(t.world, in_the_past(t.access)), "refresh": t.tokens["access"]},
        "whoami",
    )


def revoked_session(t: Tamper):
    assert t.cli("logout").exit_code == 0  # "another copy" of the same tokens logs out
    return t.run_with(t.tokens, "whoami")


def replayed_refresh(t: Tamper):
    assert t.cli("refresh").exit_code == 0
    return t.run_with(t.tokens, "refresh")


def replay_revokes_the_family(t: Tamper):
    assert t.cli("refresh").exit_code == 0
    newest = t.store.load()
    assert t.run_with(t.tokens, "refresh").exit_code == 2  # the replay
    return t.run_with(newest, "whoami")


def expired_access_live_refresh(t: Tamper):
    return t.run_with({**t.tokens, "access": resign(t.world, in_the_past(t.access))}, "whoami")


def rotated_key(t: Tamper):
    r = t.cli("db", "rotate-key")
    assert r.exit_code == 0, r.stderr
    return t.cli("whoami")


def retired_key_live_refresh(t: Tamper):
    retire_the_current_key(t.world)
    return t.cli("whoami")


def resigned_live_session(t: Tamper):
    manager = t.world.as_("manager")  # a live session of the manager's, elsewhere
    forged = resign(
        t.world,
        {
            **t.access,
            "sub": str(manager.employee_id),
            "dept": manager.department,
            "sid": str(manager.session_id),
        },
    )
    return t.run_with({**t.tokens, "access": forged}, "whoami")


@dataclass
class Case:
    id: str
    scenario: Callable[[Tamper], object]  # -> the CLI result to judge
    exit_code: int
    message: str = ""  # the error line's start (refusals)
    as_: str = "sales"  # whom the CLI acts as afterwards (accepted cases)


CASES = [
    *[Case(f.id, with_dead_refresh(f), 2, INVALID if f.local else UNKNOWN) for f in FORGERIES],
    Case("expired-access-and-refresh", expired_both, 2, EXPIRED),
    Case("refresh-expired-in-database", refresh_expired_in_database, 2, EXPIRED),
    Case("access-as-refresh", access_as_refresh, 2, UNKNOWN),
    Case("revoked-session", revoked_session, 2, CLOSED),
    Case("replayed-refresh", replayed_refresh, 2, REPLAYED),
    Case("replay-revokes-family", replay_revokes_the_family, 2, CLOSED),
    Case("expired-access-live-refresh", expired_access_live_refresh, 0),
    Case("rotated-key", rotated_key, 0),
    Case("retired-key-live-refresh", retired_key_live_refresh, 0),
    Case("resigned-live-session", resigned_live_session, 0, as_="manager"),
]


@pytest.fixture
def tamper(cli, template) -> Tamper:
    cli.login("sales")
    store = token_store()
    return Tamper(cli, store, store.load(), template)


def assert_refused(r, message: str) -> None:
    assert "Traceback" not in r.stdout + r.stderr
    assert r.exit_code == 2, r.stderr
    assert r.stdout == ""
    assert r.stderr.startswith(message), r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.endswith("\n")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_token_tampering_matrix(tamper, case):
    r = case.scenario(tamper)
    if case.exit_code:
        assert_refused(r, case.message)
        return
    assert "Traceback" not in r.stdout + r.stderr
    assert r.exit_code == 0, r.stderr
    # Accepted, but only ever as the employee and department the database knows.
    me = tamper.cli.json("whoami")
    assert (me["id"], me["department"]) == (
        tamper.world.ids[case.as_],
        "management" if case.as_ == "manager" else "sales",
    )


@pytest.mark.parametrize("forgery", [f for f in FORGERIES if not f.local], ids=lambda f: f.id)
def test_with_a_live_refresh_token_a_forgery_buys_nothing(tamper, forgery):
    """The database refuses the forged access token; the CLI refreshes with Sam's own
    refresh token and carries on as Sam, with a genuine token in place of the forgery."""
    forged = forgery.make(tamper)
    r = tamper.run_with({**tamper.tokens, "access": forged}, "whoami", "--format", "json")
    assert r.exit_code == 0, r.stderr
    me = json.loads(r.stdout)
    assert (me["id"], me["department"]) == (tamper.world.ids["sales"], "sales")
    stored = tamper.store.load()
    assert stored["access"] != forged and stored["refresh"] != tamper.tokens["refresh"]
    assert kid_of(stored["access"]) == signing_key(tamper.world)[0]
    assert admin_one(
        tamper.world, "select epic_events.verify_access_token(%s) ->> 'sub'", (stored["access"],)
    ) == (str(tamper.world.ids["sales"]),)


def test_the_database_itself_refuses_every_forgery(tamper):
    """Not only through the CLI: the first statement of a request, sent by hand as the
    authenticator with each forged token, names nobody (and raises nothing)."""
    # (retired-key is left out: it retires the genuine token's key too; a test below has it.)
    forged = {f.id: f.make(tamper) for f in FORGERIES if f.id != "retired-key"}
    begin = queries.get("session.begin_request").sql
    with psycopg.connect(tamper.world.db.app_dsn) as conn:
        for name, token in {
            **forged,
            "genuine": tamper.tokens["access"],
            "sub-minus-one": resign(tamper.world, {**tamper.access, "sub": "-1"}),
            "sub-19-digits": resign(tamper.world, {**tamper.access, "sub": "1" * 19}),
            "empty": "",
            "none": None,
        }.items():
            for role in ("epic_sales", "epic_management"):
                live = conn.execute(begin, {"role": role, "access_token": token}).fetchone()[1]
                who = conn.execute("select epic_events.current_employee_id()").fetchone()[0]
                conn.rollback()
                expected = name == "genuine" and role == "epic_sales"
                assert (live, who) == (expected, tamper.world.ids["sales"] if expected else None), (
                    name,
                    role,
                )


def test_a_replay_revokes_the_whole_session_in_the_database(tamper):
    replay_revokes_the_family(tamper)
    assert tamper.store.load() is None  # forgotten here
    sid = tamper.access["sid"]
    assert admin_one(
        tamper.world, "select revoked_reason from epic_events.session where id = %s", (sid,)
    ) == ("refresh_token_replayed",)
    assert admin_one(
        tamper.world,
        "select action, employee_id, row_id from epic_events.audit_log where action = 'refresh_replayed'",
    ) == ("refresh_replayed", tamper.world.ids["sales"], sid)


def test_rotate_key_keeps_the_current_login_and_new_tokens_carry_the_new_kid(tamper):
    cli, world = tamper.cli, tamper.world
    old = kid(tamper)
    r = cli("db", "rotate-key")
    assert r.exit_code == 0, r.stderr
    new = signing_key(world)[0]
    assert new != old and new in r.stdout
    # The old key keeps verifying, for 31 minutes: the life of its last token, plus slack.
    assert admin_one(
        world,
        "select superseded_at > now() - interval '1 minute' from epic_events.signing_key where kid = %s",
        (old,),
    ) == (True,)
    assert cli.json("whoami")["id"] == world.ids["sales"]
    assert tamper.store.load() == tamper.tokens  # no refresh was needed
    assert cli("refresh").exit_code == 0
    assert kid_of(tamper.store.load()["access"]) == new
    cli.login("sales2")
    assert kid_of(tamper.store.load()["access"]) == new
    assert cli.json("whoami")["id"] == world.ids["sales2"]
    # Rotating needs the admin: the authenticator cannot.
    with psycopg.connect(world.db.app_dsn) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select epic_events.rotate_signing_key()")


def test_a_key_superseded_more_than_31_minutes_ago_no_longer_verifies(tamper):
    world = tamper.world
    old = retire_the_current_key(world)
    assert admin_one(world, "select epic_events.verify_access_token(%s)", (tamper.tokens["access"],)) == (
        None,
    )
    # Superseded 30 minutes ago, it still would.
    with world.db.admin() as conn:
        conn.execute(
            "update epic_events.signing_key set superseded_at = now() - interval '30 minutes' where kid = %s",
            (old,),
        )
    assert admin_one(
        world, "select epic_events.verify_access_token(%s) ->> 'sid'", (tamper.tokens["access"],)
    ) == (tamper.access["sid"],)


def test_the_authenticator_cannot_read_the_keys(tamper):
    with psycopg.connect(tamper.world.db.app_dsn) as conn:
        for table in ("signing_key", "auth_secret", "login_attempt"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"select * from epic_events.{table}")
            conn.rollback()


def test_the_matrix_in_the_docstring_lists_every_case():
    rows = [
        line.split("|")[1].strip()
        for line in __doc__.splitlines()
        if line.startswith("| ") and not line.startswith("| case") and "---" not in line
    ]
    assert rows == [c.id for c in CASES]
