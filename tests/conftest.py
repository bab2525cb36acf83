"""Test session: one real PostgreSQL, a migrated template, a fresh clone per test."""

from __future__ import annotations

import os

import pytest

from tests import pg


@pytest.fixture(autouse=True)
def _isolated_user_environment(tmp_path, monkeypatch):
    """No test reads or writes the developer's config, tokens, keyring or Sentry."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"),
                     ("XDG_STATE_HOME", "state"), ("XDG_CACHE_HOME", "cache")):
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setenv("EPIC_EVENTS_BCRYPT_ROUNDS", "4")
    for var in ("SENTRY_DSN", "DATABASE_URL", "EPIC_EVENTS_ADMIN_DSN", "SECRET_KEY",
                "JWT_KID", "SECRET_KEY_PREV", "JWT_KID_PREV", "EPIC_EVENTS_CONFIG"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="session")
def pg_server():
    with pg.start_server() as server:
        yield server


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
    return f"epic-events tests: PostgreSQL from {os.environ.get('EPIC_EVENTS_TEST_DSN') and 'EPIC_EVENTS_TEST_DSN' or 'testcontainers (Docker) or the embedded wheel'}"
