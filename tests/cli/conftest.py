"""End-to-end CLI tests: Click's runner, in process, against a real database.

`cli("client", "list")` runs `epic-events client list` with DATABASE_URL
pointing at this test's own database; `cli.login("sales")` logs in
as one of the World's employees (tests/world.py) through the real `login`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from click.testing import CliRunner

from epic_events.cli import options
from epic_events.cli.main import cli as root
from tests.world import PASSWORD, STAFF, World


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def json(self):
        assert self.exit_code == 0, self.stderr
        return json.loads(self.stdout)


class Cli:
    def __init__(self, world: World, monkeypatch):
        self.world = world
        self.runner = CliRunner()
        self.monkeypatch = monkeypatch

    def __call__(self, *args: str, input: str | None = None) -> Result:
        r = self.runner.invoke(root, [str(a) for a in args], input=input, catch_exceptions=False)
        return Result(r.exit_code, r.stdout, r.stderr)

    def json(self, *args: str, input: str | None = None):
        return self(*args, "--format", "json", input=input).json

    def login(self, key: str) -> Result:
        email = next(e for k, _, e, _ in STAFF if k == key)
        result = self("login", "--email", email, "--password-stdin", input=PASSWORD + "\n")
        assert result.exit_code == 0, result.stderr
        return result

    def as_terminal(self):
        """From now on, play a person at a terminal: missing input is prompted."""
        self.monkeypatch.setattr(options, "stdin_is_terminal", lambda: True)


@pytest.fixture
def world(db, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", db.app_dsn)
    monkeypatch.setenv("EPIC_EVENTS_ADMIN_DSN", db.admin_dsn)
    w = World.build(db)
    yield w
    w.close()


@pytest.fixture
def cli(world, monkeypatch):
    return Cli(world, monkeypatch)


def admin_one(world: World, sql: str, params=()):
    """Read the truth as the admin (RLS does not apply): for asserting what changed."""
    with world.db.admin() as conn:
        return conn.execute(sql, params).fetchone()


@pytest.fixture
def desk(cli, tmp_path, monkeypatch):
    """Several people at their own terminals: `desk("sales")` sits at Sam's, whose
    tokens (own token store) stay logged in while someone else works at theirs."""

    def sit(key: str) -> Cli:
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "desks" / key))
        return cli

    return sit
