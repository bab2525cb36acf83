"""The test harness's choice of server (tests/pg.py): `--pg-server=15` starts a
Debian cluster, and where the binaries are missing the tests skip with the reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import pg

ROOT = Path(__file__).resolve().parents[2]


def test_the_choice_is_default_or_a_major_version(monkeypatch):
    monkeypatch.delenv("EPIC_EVENTS_TEST_SERVER", raising=False)
    assert pg.server_choice(None) == "default"
    assert pg.server_choice("15") == "15"
    monkeypatch.setenv("EPIC_EVENTS_TEST_SERVER", "15")
    assert pg.server_choice(None) == "15"
    assert pg.server_choice("default") == "default"  # the option wins over the variable
    with pytest.raises(ValueError, match="not 'fifteen'"):
        pg.server_choice("fifteen")


def test_missing_binaries_are_a_reason_not_a_crash(monkeypatch, tmp_path):
    monkeypatch.setenv("EPIC_EVENTS_TEST_PG15_BIN", str(tmp_path / "nowhere"))
    with pytest.raises(
        pg.Unavailable, match=r"PostgreSQL 15 binaries not found in .*nowhere \(initdb, pg_ctl"
    ):
        with pg.start_debian_cluster("15"):
            pass


def test_a_second_pass_without_the_binaries_skips_with_the_reason_printed(tmp_path):
    env = dict(os.environ, EPIC_EVENTS_TEST_PG15_BIN=str(tmp_path / "nowhere"))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/db/test_smoke.py",
            "--pg-server=15",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SKIPPED" in done.stdout and "PostgreSQL 15 binaries not found" in done.stdout
    assert " passed" not in done.stdout
