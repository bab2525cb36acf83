"""SPEC "Authentication": tokens live in the OS keyring, else in a 0600 file in
the user's state directory (never /tmp), and are never printed.

Also the helpers the other authentication tests share: the CLI's own token
store, the database's signing key (read as the admin) to forge or re-sign
access tokens with, and the autouse check that no token reaches any output.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from pathlib import Path

import jwt
import pytest

from epic_events import auth
from epic_events.tokens import TokenStore
from tests import keyring_backend
from tests.cli.conftest import admin_one

# A JWT's header and payload are base64url JSON: they start with "eyJ" ('{"').
JWT_SHAPE = re.compile(r"eyJ[\w-]{6,}\.[\w-]{6,}")
# A refresh token: 32 random bytes from the database, base64url (no JWT shape).
REFRESH_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


@pytest.fixture(autouse=True)
def no_token_in_output(cli, monkeypatch):
    """Every stdout and stderr of the test is checked: no token, ever. The refresh
    tokens are opaque, so every token the CLI stored is looked for by value too."""
    outputs: list[str] = []
    stored: set[str] = set()
    invoke, save = cli.runner.invoke, TokenStore.save

    def recording(*args, **kwargs):
        result = invoke(*args, **kwargs)
        outputs.append(result.stdout + result.stderr)
        return result

    def saving(self, tokens):
        stored.update(t for t in (tokens.get("access"), tokens.get("refresh")) if isinstance(t, str))
        return save(self, tokens)

    monkeypatch.setattr(cli.runner, "invoke", recording)
    monkeypatch.setattr(TokenStore, "save", saving)
    yield
    leaked = [
        out
        for out in outputs
        if JWT_SHAPE.search(out) or any(token in out for token in stored if len(token) >= 20)
    ]
    assert not leaked, "a token was printed"


def token_store():
    """The store the CLI uses for the current DATABASE_URL (file or keyring)."""
    return auth.token_store(os.environ["DATABASE_URL"])


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def signing_key(world, kid: str | None = None) -> tuple[str, bytes]:
    """A signing key of the database (the current one unless `kid`), read as the admin.

    Only the HMAC pads are stored; the key is the first 32 bytes of ipad XOR 0x36
    (the rest of the 64-byte block is the key's zero padding).
    """
    row = admin_one(
        world,
        "select kid, ipad from epic_events.signing_key"
        " where kid = %s or (%s::text is null and superseded_at is null)",
        (kid, kid),
    )
    assert row is not None, f"no signing key {kid or '(current)'}"
    return row[0], bytes(b ^ 0x36 for b in row[1][:32])


def sign(claims: dict, key: bytes, kid: str, **header) -> str:
    return jwt.encode(claims, key, algorithm="HS256", headers={"kid": kid, **header})


def resign(world, claims: dict) -> str:
    """Claims signed with the database's REAL current key, as only its owner could."""
    kid, key = signing_key(world)
    return sign(claims, key, kid)


def token_files(root: Path) -> list[Path]:
    return sorted(root.rglob("tokens-*.json"))


def state_dir() -> Path:
    return Path(os.environ["XDG_STATE_HOME"]) / "epic-events"


def test_without_a_keyring_tokens_go_to_a_0600_file_in_the_state_directory(cli):
    cli.login("sales")
    [file] = token_files(Path.home())
    assert file.parent == state_dir()
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE(file.parent.stat().st_mode) == 0o700
    stored = json.loads(file.read_text())
    assert claims_of(stored["access"])["sub"] == str(cli.world.ids["sales"])
    assert JWT_SHAPE.search(stored["access"])  # the leak check sees it by its shape...
    assert REFRESH_SHAPE.fullmatch(stored["refresh"])  # ...and this opaque one by its value
    assert isinstance(stored["refresh_expires_at"], int)
    assert cli.json("whoami")["id"] == cli.world.ids["sales"]


def test_without_xdg_state_home_the_file_goes_under_home_never_tmp(cli, monkeypatch):
    monkeypatch.delenv("XDG_STATE_HOME")
    cli.login("sales")
    [file] = token_files(Path.home())
    assert file.parent == Path.home() / ".local" / "state" / "epic-events"
    assert not list(Path(tempfile.gettempdir()).glob("tokens-*"))
    assert cli.json("whoami")["id"] == cli.world.ids["sales"]


def test_with_a_keyring_tokens_live_there_and_no_file_is_written(cli, monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.keyring_backend.MemoryKeyring")
    keyring_backend.SECRETS.clear()
    cli.login("sales")
    [(service, username)] = keyring_backend.SECRETS
    assert service == "epic-events" and username == f"tokens-{token_store().target}"
    first = json.loads(keyring_backend.SECRETS[(service, username)])
    assert claims_of(first["access"])["typ"] == "access"
    assert REFRESH_SHAPE.fullmatch(first["refresh"])  # opaque: a random value from the database
    assert token_files(Path.home()) == []

    assert cli.json("whoami")["id"] == cli.world.ids["sales"]
    assert cli("refresh").exit_code == 0
    second = json.loads(keyring_backend.SECRETS[(service, username)])
    assert second["refresh"] != first["refresh"]
    assert token_files(Path.home()) == []

    assert cli("logout").exit_code == 0
    assert keyring_backend.SECRETS == {}
    assert cli("whoami").exit_code == 2


def test_a_token_file_readable_by_others_is_refused(cli):
    cli.login("sales")
    [file] = token_files(Path.home())
    file.chmod(0o644)
    r = cli("whoami")
    assert r.exit_code == 2
    assert "readable by others (mode 644)" in r.stderr and "epic-events login" in r.stderr
    assert r.stdout == ""
    # Logging in again replaces it with a private file.
    cli.login("sales")
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert cli("whoami").exit_code == 0


@pytest.mark.parametrize("content", ["not json", "[]", '{"access": 1, "refresh": null}', "{}"])
def test_a_damaged_token_file_is_refused_without_a_traceback(cli, content):
    cli.login("sales")
    [file] = token_files(Path.home())
    file.write_text(content)
    r = cli("whoami")
    assert r.exit_code == 2
    assert "stored tokens are damaged" in r.stderr
    assert "Traceback" not in r.stderr


def test_tokens_belong_to_one_database(cli, monkeypatch):
    cli.login("sales")
    other = os.environ["DATABASE_URL"].replace(cli.world.db.name, "another_database")
    monkeypatch.setenv("DATABASE_URL", other)
    r = cli("whoami")
    assert r.exit_code == 2
    assert "not logged in" in r.stderr


def test_a_keyring_found_by_discovery_is_used_too(cli, monkeypatch):
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND")
    monkeypatch.setattr("keyring.core._keyring_backend", keyring_backend.MemoryKeyring())
    keyring_backend.SECRETS.clear()
    cli.login("sales")
    assert list(keyring_backend.SECRETS) == [("epic-events", f"tokens-{token_store().target}")]
    assert token_files(Path.home()) == []
    assert cli.json("whoami")["id"] == cli.world.ids["sales"]
    keyring_backend.SECRETS.clear()


def test_logout_still_closes_the_session_of_a_file_refused_for_its_mode(cli):
    cli.login("sales")
    [file] = token_files(Path.home())
    sid = claims_of(json.loads(file.read_text())["access"])["sid"]
    file.chmod(0o644)
    r = cli("logout")
    assert (r.exit_code, r.stderr) == (0, "Logged out.\n")
    assert not file.exists()
    with cli.world.db.admin() as conn:
        assert conn.execute(
            "select revoked_reason from epic_events.session where id = %s", (sid,)
        ).fetchone() == ("logout",)


def test_with_several_keyrings_the_first_that_works_takes_the_tokens(cli, monkeypatch):
    from keyring.backends.chainer import ChainerBackend

    class LockedKeyring(keyring_backend.MemoryKeyring):
        def set_password(self, service, username, password):
            raise RuntimeError("locked")

    monkeypatch.delenv("PYTHON_KEYRING_BACKEND")
    monkeypatch.setattr(ChainerBackend, "backends", [LockedKeyring(), keyring_backend.MemoryKeyring()])
    monkeypatch.setattr("keyring.core._keyring_backend", ChainerBackend())
    keyring_backend.SECRETS.clear()
    cli.login("sales")
    assert list(keyring_backend.SECRETS) == [("epic-events", f"tokens-{token_store().target}")]
    marker = next(state_dir().glob("tokens-*.store"))
    assert marker.read_text() == "tests.keyring_backend.MemoryKeyring\n"  # read back without discovery
    assert cli.json("whoami")["id"] == cli.world.ids["sales"]
    keyring_backend.SECRETS.clear()
