"""Forged, edited, stale and replayed tokens: each refused with exit 2, one line, no traceback.

Every case logs in as Sam (sales), changes what the CLI stored, and runs one
command. The matrix (kept in step with CASES by a test below):

| case                      | what is stored / done                                            | command | result                          |
| ------------------------- | ---------------------------------------------------------------- | ------- | ------------------------------- |
| wrong-key                 | access re-signed with another secret, same kid                   | whoami  | refused (2) token is invalid    |
| alg-none                  | access with header alg "none" and no signature                   | whoami  | refused (2) token is invalid    |
| hs256-public-key-as-hmac  | HS256 signed with an RSA public key PEM as the HMAC secret       | whoami  | refused (2) token is invalid    |
| rs256-header              | a real RS256 token (header alg RS256, kid v1)                    | whoami  | refused (2) token is invalid    |
| expired-access-and-refresh| both tokens correctly signed, both past exp                      | whoami  | refused (2) session expired     |
| not-yet-valid             | access with nbf and iat one hour ahead                           | whoami  | refused (2) not valid yet       |
| unknown-kid               | access signed with the right secret under kid "v9"               | whoami  | refused (2) unknown key         |
| edited-department         | payload dept sales -> management, signature kept                 | whoami  | refused (2) token is invalid    |
| edited-employee-id        | payload sub -> a manager's id, signature kept                    | whoami  | refused (2) token is invalid    |
| refresh-as-access         | the refresh token stored as the access token                     | whoami  | refused (2) token is invalid    |
| access-as-refresh         | expired access; the access token stored as the refresh token     | whoami  | refused (2) token is invalid    |
| not-a-jwt                 | access = "garbage"                                               | whoami  | refused (2) token is invalid    |
| kid-not-a-string          | header kid = ["v1"], signed with the right secret                | whoami  | refused (2) token is invalid    |
| revoked-session           | logout, then the saved copy of the tokens put back               | whoami  | refused (2) session was closed  |
| replayed-refresh          | refresh; the pre-refresh copy put back; refresh again            | refresh | refused (2) already used        |
| replay-revokes-family     | after the replay, the newest tokens put back                     | whoami  | refused (2) session was closed  |
| rollover-without-prev     | SECRET_KEY/JWT_KID changed, old key not kept                     | whoami  | refused (2) unknown key         |
| rollover-with-prev        | SECRET_KEY/JWT_KID changed, old ones in SECRET_KEY_PREV/_KID_PREV | whoami  | accepted (0), refresh -> new kid|
| resigned-department       | dept -> management re-signed WITH the key (trust boundary)       | whoami  | accepted (0) as sales: the database refuses the role, a refresh restores the truth |
| resigned-employee-id      | sub -> a manager's id re-signed WITH the key (trust boundary)    | whoami  | accepted (0) as Sam, likewise  |

Results (pytest tests/cli/test_tamper.py): all 20 cases pass as above.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from functools import cache
from typing import Callable

import jwt
import pytest

from tests.cli.conftest import SECRET, admin_one
from tests.cli.test_tokens_store import (  # noqa: F401  (autouse: no token in any output)
    claims_of, no_token_in_output, sign, token_store)

NEW_SECRET = "the-next-secret-key-abcdefghijklmnop-0123456789"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(obj) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def unb64json(part: str):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def hand_signed(header: dict, claims: dict, hmac_key: bytes) -> str:
    """HS256 done by hand: PyJWT itself refuses a PEM as an HMAC secret."""
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
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, public_pem


def in_the_past(claims: dict, ttl: int) -> dict:
    now = int(time.time())
    return {**claims, "iat": now - ttl - 60, "nbf": now - ttl - 60, "exp": now - 60}


# -- the cases ----------------------------------------------------------------------------
@dataclass
class Case:
    id: str
    scenario: Callable  # (cli, store, tokens) -> the CLI result to judge
    exit_code: int
    message: str


def run_with(cli, store, tokens, *command):
    store.save(tokens)
    return cli(*command)


def replace_access(make):
    """A scenario that stores make(tokens, access claims) as the access token, runs whoami."""
    def scenario(cli, store, tokens):
        return run_with(cli, store, {**tokens, "access": make(tokens, claims_of(tokens["access"]))},
                        "whoami")
    return scenario


def expired_both(cli, store, tokens):
    return run_with(cli, store, {
        **tokens,
        "access": sign(in_the_past(claims_of(tokens["access"]), 1800)),
        "refresh": sign(in_the_past(claims_of(tokens["refresh"]), 86400)),
    }, "whoami")


def access_as_refresh(cli, store, tokens):
    return run_with(cli, store, {
        **tokens,
        "access": sign(in_the_past(claims_of(tokens["access"]), 1800)),
        "refresh": tokens["access"],
    }, "whoami")


def revoked_session(cli, store, tokens):
    assert cli("logout").exit_code == 0  # "another copy" of the same tokens logs out
    return run_with(cli, store, tokens, "whoami")


def replayed_refresh(cli, store, tokens):
    assert cli("refresh").exit_code == 0
    return run_with(cli, store, tokens, "refresh")


def replay_revokes_the_family(cli, store, tokens):
    assert cli("refresh").exit_code == 0
    newest = store.load()
    assert run_with(cli, store, tokens, "refresh").exit_code == 2  # the replay
    return run_with(cli, store, newest, "whoami")


def rollover(keep_previous: bool):
    def scenario(cli, store, tokens):
        mp = cli.monkeypatch
        mp.setenv("SECRET_KEY", NEW_SECRET)
        mp.setenv("JWT_KID", "v2")
        if keep_previous:
            mp.setenv("SECRET_KEY_PREV", SECRET)
            mp.setenv("JWT_KID_PREV", "v1")
        return cli("whoami", "--format", "json")
    return scenario


def resigned_employee_id(cli, store, tokens):
    forged = sign({**claims_of(tokens["access"]), "sub": str(cli.world.ids["manager"])})
    return run_with(cli, store, {**tokens, "access": forged}, "whoami")


CASES = [
    Case("wrong-key", replace_access(lambda t, c: sign(c, key="another-secret-key-of-42-characters-xx")),
         2, "stored token is invalid"),
    Case("alg-none", replace_access(lambda t, c: f"{b64json({'alg': 'none', 'typ': 'JWT', 'kid': 'v1'})}"
                                                 f".{b64json(c)}."),
         2, "stored token is invalid"),
    Case("hs256-public-key-as-hmac",
         replace_access(lambda t, c: hand_signed({"alg": "HS256", "typ": "JWT", "kid": "v1"}, c,
                                                 rsa_key()[1])),
         2, "stored token is invalid"),
    Case("rs256-header",
         replace_access(lambda t, c: jwt.encode(c, rsa_key()[0], algorithm="RS256",
                                                headers={"kid": "v1"})),
         2, "stored token is invalid"),
    Case("expired-access-and-refresh", expired_both, 2, "your session expired"),
    Case("not-yet-valid", replace_access(lambda t, c: sign({**c, "iat": c["iat"] + 3600,
                                                            "nbf": c["nbf"] + 3600,
                                                            "exp": c["exp"] + 3600})),
         2, "token not valid yet"),
    Case("unknown-kid", replace_access(lambda t, c: sign(c, kid="v9")), 2, "unknown key"),
    Case("edited-department", replace_access(lambda t, c: edited(t["access"], dept="management")),
         2, "stored token is invalid"),
    Case("edited-employee-id", replace_access(lambda t, c: edited(t["access"], sub="1")),
         2, "stored token is invalid"),
    Case("refresh-as-access", replace_access(lambda t, c: t["refresh"]), 2, "stored token is invalid"),
    Case("access-as-refresh", access_as_refresh, 2, "stored token is invalid"),
    Case("not-a-jwt", replace_access(lambda t, c: "garbage"), 2, "stored token is invalid"),
    Case("kid-not-a-string",
         replace_access(lambda t, c: hand_signed({"alg": "HS256", "typ": "JWT", "kid": ["v1"]}, c,
                                                 SECRET.encode())),
         2, "stored token is invalid"),
    Case("revoked-session", revoked_session, 2, "your session was closed"),
    Case("replayed-refresh", replayed_refresh, 2, "this refresh token was already used"),
    Case("replay-revokes-family", replay_revokes_the_family, 2, "your session was closed"),
    Case("rollover-without-prev", rollover(keep_previous=False), 2, "unknown key"),
    Case("rollover-with-prev", rollover(keep_previous=True), 0, ""),
    Case("resigned-department", replace_access(lambda t, c: sign({**c, "dept": "management"})), 0, ""),
    Case("resigned-employee-id", resigned_employee_id, 0, ""),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_token_tampering_matrix(cli, case):
    cli.login("sales")
    store = token_store()
    r = case.scenario(cli, store, store.load())
    assert "Traceback" not in r.stdout + r.stderr
    assert r.exit_code == case.exit_code, r.stderr
    if case.exit_code:
        assert r.stdout == ""
        assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1
        assert case.message in r.stderr
    else:
        # Accepted, but only ever as the employee and department the database knows.
        assert cli.json("whoami")["department"] == "sales"
        assert cli.json("whoami")["id"] == cli.world.ids["sales"]


def test_a_replay_revokes_the_whole_session_in_the_database(cli):
    cli.login("sales")
    store = token_store()
    replay_revokes_the_family(cli, store, store.load())
    assert store.load() is None  # forgotten here
    assert admin_one(cli.world, "select count(*) from epic_events.session where employee_id = %s"
                     " and revoked_reason = 'refresh_token_replayed'",
                     (cli.world.ids["sales"],)) == (1,)


def test_after_a_key_rollover_new_tokens_use_the_new_key(cli):
    cli.login("sales")
    store = token_store()
    assert rollover(keep_previous=True)(cli, store, store.load()).exit_code == 0
    assert cli("refresh").exit_code == 0
    tokens = store.load()
    assert jwt.get_unverified_header(tokens["access"])["kid"] == "v2"
    assert jwt.get_unverified_header(tokens["refresh"])["kid"] == "v2"
    jwt.decode(tokens["access"], NEW_SECRET, algorithms=["HS256"], issuer="epic-events")
    # Once the old key is retired, the new tokens still work.
    cli.monkeypatch.delenv("SECRET_KEY_PREV")
    cli.monkeypatch.delenv("JWT_KID_PREV")
    assert cli.json("whoami")["id"] == cli.world.ids["sales"]


def test_the_matrix_in_the_docstring_lists_every_case():
    rows = [line.split("|")[1].strip() for line in __doc__.splitlines()
            if line.startswith("| ") and not line.startswith("| case") and "---" not in line]
    assert rows == [c.id for c in CASES]
