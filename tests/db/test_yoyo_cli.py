"""The DBA's tools with the one admin variable: yoyo (through yoyo.ini), psql and epic-events db.

EPIC_EVENTS_ADMIN_DSN holds a postgresql:// URL. yoyo.ini names no database (yoyo
needs the postgresql+psycopg:// scheme, which psql refuses), so the README's
recipe hands it over: yoyo apply --database "postgresql+psycopg://${EPIC_EVENTS_ADMIN_DSN#postgresql://}".
These tests run the real `yoyo` console script of .venv/bin, through a shell,
and `psql` where it is installed.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from epic_events import migrations
from epic_events.cli.main import cli as root
from tests import pg
from tests.db.test_migrations import MIGRATION_IDS

ROOT = Path(__file__).resolve().parents[2]
YOYO = Path(sys.executable).parent / "yoyo"
RECIPE = 'yoyo {command} --database "postgresql+psycopg://${{EPIC_EVENTS_ADMIN_DSN#postgresql://}}"'


def url(dsn: str) -> str:
    """The admin DSN as the README's postgresql:// URL (host may be a socket directory)."""
    p = conninfo_to_dict(dsn)
    auth = quote(p["user"], safe="") + (":" + quote(p["password"], safe="") if p.get("password") else "")
    query = f"?host={quote(p.get('host', 'localhost'), safe='')}&port={p.get('port', 5432)}"
    return f"postgresql://{auth}@/{quote(p['dbname'], safe='')}{query}"


def env(admin_url: str | None) -> dict:
    e = {k: v for k, v in os.environ.items() if k != "EPIC_EVENTS_ADMIN_DSN"}
    e["PATH"] = f"{YOYO.parent}{os.pathsep}{e.get('PATH', '')}"
    e["PGOPTIONS"] = pg.SHARED_CLUSTER  # many test databases on one server (tests/pg.py)
    if admin_url:
        e["EPIC_EVENTS_ADMIN_DSN"] = admin_url
    return e


def shell(command: str, admin_url: str | None) -> subprocess.CompletedProcess:
    proc = subprocess.Popen(
        ["bash", "-c", command],
        cwd=ROOT,
        env=env(admin_url),
        text=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


@pytest.fixture
def empty_database(pg_server, template):
    name = f"epic_yoyo_{uuid.uuid4().hex[:8]}"
    with pg_server.admin() as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    yield pg_server.dsn(name)
    pg.drop(pg_server, name)


def test_yoyo_without_the_variable_prints_help_not_a_traceback():
    for command in ("yoyo rollback --help", "yoyo apply --help"):
        r = shell(command, None)
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
        assert "usage: yoyo" in r.stdout
    r = shell("yoyo apply -b", None)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "Please specify a database uri" in r.stderr


def test_one_variable_serves_yoyo_psql_and_epic_events(empty_database, monkeypatch):
    admin_url = url(empty_database)
    r = shell(RECIPE.format(command="apply -b"), admin_url)
    assert r.returncode == 0, r.stderr
    assert migrations.pending(empty_database) == []

    if shutil.which("psql"):
        r = shell(
            'psql "$EPIC_EVENTS_ADMIN_DSN" -XAtc "select count(*) from epic_events.department"', admin_url
        )
        assert (r.returncode, r.stdout) == (0, "3\n"), r.stderr

    monkeypatch.setenv("EPIC_EVENTS_ADMIN_DSN", admin_url)
    monkeypatch.setenv("DATABASE_URL", admin_url)  # db status reports it; not the embedded server
    r = CliRunner().invoke(root, ["db", "status"])
    assert r.exit_code == 0, r.output
    assert [line for line in r.output.splitlines() if line.startswith(("applied", "pending"))] == [
        f"applied  {m}" for m in MIGRATION_IDS
    ]

    r = shell(RECIPE.format(command="rollback -b --all"), admin_url)
    assert r.returncode == 0, r.stderr
    assert migrations.pending(empty_database) == MIGRATION_IDS


def read_until(fd: int, needle: str, timeout: float = 60) -> str:
    seen, deadline = "", time.monotonic() + timeout
    while needle not in seen:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, f"no {needle!r} in {seen!r}"
        seen += os.read(fd, 4096).decode(errors="replace")
    return seen


def test_yoyo_rollback_asks_before_dropping_anything(empty_database):
    assert migrations.apply(empty_database) == MIGRATION_IDS
    admin_url = url(empty_database)
    main, child = pty.openpty()
    proc = subprocess.Popen(
        ["bash", "-c", RECIPE.format(command="rollback")],
        cwd=ROOT,
        env=env(admin_url),
        stdin=child,
        stdout=child,
        stderr=child,
        close_fds=True,
    )
    os.close(child)
    try:
        assert MIGRATION_IDS[-1] in read_until(main, "Shall I rollback this migration?")
        os.write(main, b"n")
        read_until(main, "Shall I rollback this migration?")  # the next one
        os.write(main, b"q")  # no more
        proc.wait(timeout=60)
    finally:
        os.close(main)
        if proc.poll() is None:
            proc.kill()
    assert migrations.pending(empty_database) == []  # nothing rolled back
