"""Migrations a DBA can trust: squawk (the migration linter) finds nothing.

Every forward migration is linted with .squawk.toml, every rollback with
.squawk-rollback.toml (which allows the drops a rollback exists for). Both
assume a transaction, as yoyo runs each migration in one. A rule is silenced
only in those files (with the reason next to it) or by a `-- squawk-ignore`
comment right above the statement, saying why.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from epic_events.paths import MIGRATIONS_DIR

ROOT = Path(__file__).resolve().parents[2]
FORWARD_CONFIG = ROOT / ".squawk.toml"
ROLLBACK_CONFIG = ROOT / ".squawk-rollback.toml"
FORWARD = sorted(p for p in Path(MIGRATIONS_DIR).glob("*.sql") if not p.name.endswith(".rollback.sql"))
ROLLBACKS = sorted(Path(MIGRATIONS_DIR).glob("*.rollback.sql"))


def squawk_binary() -> str:
    beside_python = Path(sys.executable).with_name("squawk")
    found = str(beside_python) if beside_python.is_file() else shutil.which("squawk")
    if not found:
        pytest.fail("squawk is not installed: it comes with the test extras (squawk-cli)")
    return found


def squawk(config: Path, *files: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    args = [squawk_binary(), "--config", str(config), "--reporter", "gcc", *map(str, files)]
    return subprocess.run(args, cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=60)


def test_every_migration_has_a_rollback_and_both_are_linted():
    assert [p.name.replace(".sql", ".rollback.sql") for p in FORWARD] == [p.name for p in ROLLBACKS]
    assert len(FORWARD) >= 11


@pytest.mark.parametrize("migration", FORWARD, ids=lambda p: p.stem)
def test_squawk_finds_nothing_in_the_migration(migration):
    done = squawk(FORWARD_CONFIG, migration)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


@pytest.mark.parametrize("rollback", ROLLBACKS, ids=lambda p: p.stem)
def test_squawk_finds_nothing_in_the_rollback(rollback):
    done = squawk(ROLLBACK_CONFIG, rollback)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_the_linter_is_not_blind(tmp_path):
    """The same configuration still flags what a DBA must not ship."""
    bad = tmp_path / "9999_bad.sql"
    bad.write_text(
        "alter table epic_events.client add column score int;\n"
        "create index client_score_idx on epic_events.client (score);\n"
        "drop table epic_events.company;\n"
    )
    done = squawk(FORWARD_CONFIG, bad)
    assert done.returncode != 0
    for rule in (
        "require-lock-timeout",
        "require-concurrent-index-creation",
        "ban-drop-table",
        "prefer-bigint-over-int",
    ):
        assert rule in done.stdout, done.stdout
    # The rollback configuration allows the drop, nothing else.
    done = squawk(ROLLBACK_CONFIG, bad)
    assert "ban-drop-table" not in done.stdout and "require-lock-timeout" in done.stdout


def test_every_silenced_rule_says_why():
    for config in (FORWARD_CONFIG, ROLLBACK_CONFIG):
        text = config.read_text()
        listed = re.search(r"excluded_rules\s*=\s*\[(.*?)\]", text, re.S).group(1)
        for line in listed.splitlines():
            rule = re.search(r'"([a-z-]+)"', line)
            if rule:
                before = listed[: listed.index(line)]
                assert "#" in before, f"{config.name}: no reason given above {rule.group(1)}"
    for path in FORWARD + ROLLBACKS:
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if line.startswith("-- squawk-ignore"):
                assert i > 0 and lines[i - 1].startswith("--") and "squawk" not in lines[i - 1], (
                    f"{path.name}:{i + 1}: a squawk-ignore needs a comment saying why, just above it"
                )
