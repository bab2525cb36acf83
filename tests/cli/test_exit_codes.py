"""README "Exit codes": one test per row of its table, each through a real command.

The table is read from README.md, so a row added there without a test here (or a
test here for a row that is gone) fails; `--debug` keeps the documented code, and
a reader that goes away (`… | head -1`) is no error.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from epic_events.cli import client as client_commands

README = Path(__file__).resolve().parents[2] / "README.md"
CLI = [sys.executable, "-c", "from epic_events.cli.main import main; main()"]


def documented_codes() -> dict[int, str]:
    """The rows of the README's exit-code table: code -> meaning."""
    section = README.read_text().split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| (.+?) \|$", section, flags=re.MULTILINE)
    assert rows, "README.md has no exit-code table under '## Exit codes'"
    return {int(code): meaning for code, meaning in rows}


def success(cli):
    cli.login("sales")
    return cli("client", "list", "--format", "json")


def invalid_input(cli):
    cli.login("manager")
    r = cli("contract", "create", "--client", cli.world.ids["client"], "--total", "-3")
    assert r.stderr == "error: --total: must not be negative\n"  # names the option typed
    return r


def not_logged_in(cli):
    return cli("client", "list")


def permission_denied(cli):
    cli.login("support")
    r = cli("client", "create", "--name", "Ada", "--email", "ada@x.io")
    assert "client:create" in r.stderr  # names the rule
    return r


def not_found(cli):
    cli.login("sales")
    return cli("client", "view", "999999")


def conflict(cli):
    cli.login("sales")
    return cli("company", "create", "--name", "acme events")  # exists, whatever its case


def unreachable(cli):
    # Where the database is, then that it cannot be reached (nothing listens on port 1).
    cli.monkeypatch.setenv("DATABASE_URL", "postgresql://epic_authenticator@127.0.0.1:1/none")
    cli.monkeypatch.setenv("EPIC_EVENTS_ADMIN_DSN", "postgresql://admin@127.0.0.1:1/none")
    r = cli("db", "status")
    assert r.stderr.startswith("error: database unreachable")
    return r


def internal_error(cli):
    cli.login("sales")

    def crash(*args, **kwargs):
        raise RuntimeError("induced bug")

    cli.monkeypatch.setattr(client_commands, "emit_page", crash)
    r = cli("client", "list")
    assert "run again with --debug" in r.stderr
    return r


def interrupted(cli):
    cli.login("sales")
    cli.as_terminal()
    r = cli("client", "create", input="Ada\n")  # then Ctrl-D at the email prompt
    assert r.stderr.endswith("interrupted\n")
    return r


BY_CODE = {
    0: success,
    1: invalid_input,
    2: not_logged_in,
    3: permission_denied,
    4: not_found,
    5: conflict,
    6: unreachable,
    70: internal_error,
    130: interrupted,
}


def test_every_row_of_the_table_has_a_test_here():
    assert sorted(documented_codes()) == sorted(BY_CODE)


@pytest.mark.parametrize("code", sorted(documented_codes()))
def test_each_documented_exit_code_comes_from_a_real_command(cli, code):
    produce = BY_CODE.get(code)
    assert produce is not None, f"README documents exit {code}; add a test for it to BY_CODE"
    r = produce(cli)
    assert r.exit_code == code, (r.stdout[-300:], r.stderr)
    if code:
        assert "Traceback" not in r.stderr
        assert r.stdout == "" or code == 6  # db status says where it looked, then fails


def test_declining_a_confirmation_is_exit_1_not_interrupted(cli):
    cli.login("manager")
    cli.as_terminal()
    r = cli("client", "delete", cli.world.ids["client2"], input="n\n")
    assert r.exit_code == 1
    assert r.stderr.endswith(f"aborted: client {cli.world.ids['client2']} was not deleted\n")
    assert "confirmation" in documented_codes()[1]  # and the README says so


@pytest.mark.parametrize("code", [1, 4, 5])
def test_debug_shows_the_traceback_and_keeps_the_exit_code(cli, code):
    r = {1: invalid_input, 4: not_found, 5: conflict}[code](cli)
    args = {
        1: ("contract", "create", "--client", cli.world.ids["client"], "--total", "-3"),
        4: ("client", "view", "999999"),
        5: ("company", "create", "--name", "acme events"),
    }[code]
    debug = cli("--debug", *args)
    assert (r.exit_code, debug.exit_code) == (code, code)
    assert "Traceback" in debug.stderr and debug.stderr.endswith(r.stderr)


def _gone_reader(args: list[str]) -> subprocess.CompletedProcess:
    """Run the real CLI with its stdout a pipe whose reader has already gone."""
    read, write = os.pipe()
    os.close(read)  # as `| head -1` once it has its line: every write is a broken pipe
    try:
        done = subprocess.run(
            CLI + args, stdout=write, stderr=subprocess.PIPE, timeout=60, env=os.environ.copy()
        )
    finally:
        os.close(write)
    return done


@pytest.mark.parametrize(
    "args",
    [["db", "status"], ["client", "list", "--format", "table"], ["client", "list", "--format", "json"]],
)
def test_a_reader_that_goes_away_is_exit_0_quietly(cli, args):
    cli.login("sales")
    done = _gone_reader(args)
    assert (done.returncode, done.stderr.decode()) == (0, "")
