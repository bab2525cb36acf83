"""Cheap start-up: heavy modules are imported only by the commands that need them.

Checked in fresh interpreters (subprocesses), since this test session itself
has long imported everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("sentry_sdk", "yoyo", "rich", "bcrypt", "keyring", "phonenumbers", "icalendar")
ROOT = Path(__file__).resolve().parents[2]


def loaded_after(code: str, env: dict | None = None) -> set[str]:
    """Top-level module names loaded by a fresh interpreter after running `code`."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))\n"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_importing_the_cli_loads_no_heavy_module():
    assert loaded_after("import epic_events.cli.main") & set(HEAVY) == set()


def test_pyjwt_and_cryptography_wait_for_the_first_token():
    assert loaded_after("import epic_events.cli.main") & {"jwt", "cryptography"} == set()


def test_help_loads_no_heavy_module():
    code = (
        "import contextlib, io\n"
        "from epic_events.cli.main import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        cli.main(['--help'])\n"
        "    except SystemExit as exit:\n"
        "        assert exit.code == 0, exit.code\n"
    )
    assert loaded_after(code) & set(HEAVY) == set()


def test_the_installed_command_does_not_import_sentry_or_yoyo_for_help():
    """`epic-events --help`, the real console script, timed import by import."""
    script = Path(sys.executable).with_name("epic-events")
    command = (
        [str(script)]
        if script.exists()
        else [sys.executable, "-c", "from epic_events.cli.main import main; main()"]
    )
    done = subprocess.run(
        command + ["--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert "Usage: epic-events" in done.stdout
    imported = {
        line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")
    }
    assert "epic_events.cli.main" in imported  # the probe works
    assert {m.split(".")[0] for m in imported} & {"sentry_sdk", "yoyo"} == set()


def test_a_command_module_loads_only_what_it_uses():
    """Loading the client commands (not running them) needs neither yoyo, bcrypt nor Sentry."""
    loaded = loaded_after("from epic_events.cli.main import cli\ncli.get_command(None, 'client')\n")
    assert loaded & set(HEAVY) == set()
