"""Test session: one real PostgreSQL, a migrated template, a fresh clone per test."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from click.testing import CliRunner

from tests import (
    hypothesis_profiles,  # noqa: F401 - registers and loads the profile
    pg,
    world,
)


@pytest.fixture(autouse=True)
def _isolated_user_environment(tmp_path, monkeypatch):
    """No test reads or writes the developer's config, tokens, keyring or Sentry."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var, sub in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_CACHE_HOME", "cache"),
    ):
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setenv("EPIC_EVENTS_BCRYPT_ROUNDS", "4")
    for var in (
        "SENTRY_DSN",
        "DATABASE_URL",
        "EPIC_EVENTS_ADMIN_DSN",
        "SECRET_KEY",
        "JWT_KID",
        "SECRET_KEY_PREV",
        "JWT_KID_PREV",
        "EPIC_EVENTS_CONFIG",
    ):
        monkeypatch.delenv(var, raising=False)


# -- no secret in any output ------------------------------------------------------------------
# A JWT's header and payload are base64url JSON: they start with "eyJ" ('{"').
JWT_SHAPE = re.compile(r"eyJ[\w-]{6,}\.[\w-]{6,}")
BCRYPT_SHAPE = re.compile(r"\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}")
# The passwords the tests use; any other fed through --password-stdin is added as it is used.
KNOWN_PASSWORDS = {
    world.PASSWORD,
    "a long enough password",
    "a brand new passphrase",
    "a-brand-new-password-42",
    "hunter2-very-secret",
}


@pytest.fixture(autouse=True)
def _no_secret_in_any_output(monkeypatch):
    """Every CLI run of every test, in process (Click's runner) or as a real process
    (subprocess ... communicate), is checked: no token, no bcrypt hash, no password,
    no password_hash key in its output."""
    outputs: list[tuple[object, str]] = []
    passwords = set(KNOWN_PASSWORDS)
    real_invoke, real_communicate = CliRunner.invoke, subprocess.Popen.communicate

    def invoke(self, cli, args=None, input=None, *rest, **kwargs):
        words = [str(a) for a in args or ()]
        if "--password-stdin" in words and isinstance(input, str):
            first = input.split("\n", 1)[0]
            if len(first) >= 8:  # a real password, not a deliberately short one
                passwords.add(first)
        result = real_invoke(self, cli, args, input, *rest, **kwargs)
        outputs.append((words, result.output))
        return result

    def communicate(self, *args, **kwargs):
        out, err = real_communicate(self, *args, **kwargs)
        text = "".join(
            part.decode(errors="replace") if isinstance(part, bytes) else part for part in (out, err) if part
        )
        outputs.append((self.args, text))
        return out, err

    monkeypatch.setattr(CliRunner, "invoke", invoke)
    monkeypatch.setattr(subprocess.Popen, "communicate", communicate)
    yield
    for command, text in outputs:
        leaks = [
            what
            for what, found in (
                ("a token (JWT)", JWT_SHAPE.search(text)),
                ("a bcrypt hash", BCRYPT_SHAPE.search(text)),
                ("a password", any(p in text for p in passwords)),
                ("password_hash", "password_hash" in text),
            )
            if found
        ]
        assert not leaks, f"{' and '.join(leaks)} in the output of {command}"


def pytest_addoption(parser):
    parser.addoption(
        "--pg-server",
        default=None,
        metavar="default|MAJOR",
        help="the PostgreSQL to test against: 'default' (EPIC_EVENTS_TEST_DSN, Docker or the"
        " embedded wheel) or a major version, e.g. 15, started from Debian's binaries"
        " (also EPIC_EVENTS_TEST_SERVER); skipped with the reason where they are absent",
    )


@pytest.fixture(scope="session")
def pg_server(request):
    choice = pg.server_choice(request.config.getoption("--pg-server"))
    try:
        with pg.start_server(choice) as server:
            yield server
    except pg.Unavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def template(pg_server):
    name, password = pg.create_template(pg_server)
    yield name, password
    pg.drop(pg_server, name)


@pytest.fixture
def db(pg_server, template):
    """A freshly migrated database of this test's own."""
    database = pg.clone(pg_server, *template)
    yield database
    pg.drop(pg_server, database.name)


def pytest_report_header(config):
    choice = pg.server_choice(config.getoption("--pg-server"))
    if choice != "default":
        return f"epic-events tests: a fresh PostgreSQL {choice} cluster from {pg.debian_bin(choice)}"
    return f"epic-events tests: PostgreSQL from {os.environ.get('EPIC_EVENTS_TEST_DSN') and 'EPIC_EVENTS_TEST_DSN' or 'testcontainers (Docker) or the embedded wheel'}"
