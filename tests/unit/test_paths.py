"""Where the SQL is found, and what is said when it is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from epic_events import errors, paths


def test_a_checkout_reads_the_top_level_sql_folder():
    # (An installed wheel reads epic_events/sql: tests/install/test_wheel.py.)
    assert paths.SQL_DIR == Path(paths.__file__).resolve().parent.parent / "sql"
    assert any(paths.MIGRATIONS_DIR.glob("0001_*.sql")) and any(paths.QUERIES_DIR.glob("*.sql"))


def test_an_installation_without_its_migrations_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "MIGRATIONS_DIR", tmp_path)
    with pytest.raises(errors.AppError, match=f"no migrations in {tmp_path}: .* reinstall"):
        paths.latest_migration()
