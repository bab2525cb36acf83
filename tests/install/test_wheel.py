"""Installed like any CLI: the wheel and the sdist, not the checkout.

Every other test runs from the editable install, beside sql/. Here the package
is built (`python -m build`: the sdist, then the wheel from that sdist, so a
file the sdist forgets is missing from the wheel too), installed into a fresh
venv outside the checkout with the pinned versions, and the installed
`epic-events` is run as a process from a directory outside the checkout:
against the embedded default and against DATABASE_URL. Only CLI commands;
passwords through --password-stdin.

The build and the venv are made once per test session (about half a minute).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import psycopg.sql
import pytest

from epic_events.paths import MIGRATIONS_DIR, QUERIES_DIR
from tests import pg

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a long enough password"  # one of tests/conftest.py's KNOWN_PASSWORDS: leaks are caught
# The developer's environment as it was before any test isolated HOME and XDG_*:
# pip's cache and configuration live there.
_BUILD_ENV = dict(os.environ)


MIGRATION_IDS = sorted(
    p.name.removesuffix(".sql") for p in MIGRATIONS_DIR.glob("*.sql") if not p.name.endswith(".rollback.sql")
)


def sql_files() -> set[str]:
    """The SQL of the checkout, as paths relative to sql/."""
    return {f"{d.name}/{p.name}" for d in (MIGRATIONS_DIR, QUERIES_DIR) for p in d.glob("*.sql")}


@dataclass
class Installed:
    base: Path  # 0755: when run as root, the embedded server's own user enters it
    sdist: Path
    wheel: Path
    venv: Path

    @property
    def exe(self) -> Path:
        return self.venv / "bin" / "epic-events"

    @property
    def package_dir(self) -> Path:
        out = subprocess.run(
            [
                self.venv / "bin" / "python",
                "-c",
                "import epic_events, os; print(os.path.dirname(epic_events.__file__))",
            ],
            capture_output=True,
            text=True,
            cwd=self.base,
            check=True,
        ).stdout
        return Path(out.strip())


def _run(*args, **kwargs) -> None:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=_BUILD_ENV, **kwargs)
    assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="session")
def installed():
    base = Path(tempfile.mkdtemp(prefix="epic-wheel-test-"))
    os.chmod(base, 0o755)
    try:
        # A copy of the sources: the build writes its egg-info beside them.
        src = base / "src"
        shutil.copytree(
            ROOT,
            src,
            ignore=shutil.ignore_patterns(
                ".venv",
                ".git",
                "__pycache__",
                "*.egg-info",
                "build",
                "dist",
                ".pytest_cache",
                ".hypothesis",
                "bench-results",
            ),
        )
        _run(sys.executable, "-m", "build", "--outdir", base / "dist", src)
        (sdist,) = (base / "dist").glob("*.tar.gz")
        (wheel,) = (base / "dist").glob("*.whl")
        venv = base / "venv"
        _run(sys.executable, "-m", "venv", venv)
        _run(
            venv / "bin" / "python",
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-c",
            ROOT / "requirements.lock",
            wheel,
            cwd=base,
        )
        yield Installed(base, sdist, wheel, venv)
    finally:
        shutil.rmtree(base, ignore_errors=True)


class Runner:
    """The installed epic-events, as a process, in an environment of its own."""

    def __init__(self, installed: Installed, home: Path, **settings: str):
        self.installed = installed
        self.cwd = home
        self.env = {
            "PATH": f"{installed.venv / 'bin'}:/usr/bin:/bin",
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_STATE_HOME": str(home / "state"),
            "XDG_CACHE_HOME": str(home / "cache"),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
            "EPIC_EVENTS_BCRYPT_ROUNDS": "4",
            "LANG": "C.UTF-8",
            **settings,
        }

    def __call__(self, *args: str, password: bool = False) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.installed.exe), *args],
            capture_output=True,
            text=True,
            input=PASSWORD + "\n" if password else "",
            env=self.env,
            cwd=self.cwd,
            timeout=120,
        )

    def ok(self, *args: str, password: bool = False) -> str:
        r = self(*args, password=password)
        assert r.returncode == 0, f"epic-events {' '.join(args)}: exit {r.returncode}\n{r.stderr}"
        return r.stdout


def walk_through(run: Runner) -> str:
    """migrate, bootstrap, log in, hire a sales rep, who creates and lists a client;
    returns what `db status` printed."""
    run.ok("db", "migrate")
    status = run.ok("db", "status")
    run.ok(
        "db", "bootstrap", "--email", "bea@epic.test", "--name", "Bea Boss", "--password-stdin", password=True
    )
    run.ok("login", "--email", "bea@epic.test", "--password-stdin", password=True)
    run.ok(
        "employee",
        "create",
        "--name",
        "Sam Sorel",
        "--email",
        "sam@epic.test",
        "--department",
        "sales",
        "--password-stdin",
        "--format",
        "json",
        password=True,
    )
    run.ok("login", "--email", "sam@epic.test", "--password-stdin", password=True)
    created = json.loads(
        run.ok(
            "client",
            "create",
            "--name",
            "Kevin Casey",
            "--email",
            "kevin@startup.io",
            "--phone",
            "06 12 34 56 78",
            "--company",
            "Cool Startup LLC",
            "--format",
            "json",
        )
    )
    listed = json.loads(run.ok("client", "list", "--format", "json"))
    assert [(c["id"], c["email"], c["full_name"]) for c in listed] == [
        (created["id"], "kevin@startup.io", "Kevin Casey")
    ]
    assert "Sam Sorel" in json.dumps(listed[0])
    return status


def migrations_line(status: str) -> Path:
    (line,) = [ln for ln in status.splitlines() if ln.startswith("migrations:")]
    return Path(line.removeprefix("migrations:").strip())


# -- what the archives carry -------------------------------------------------------------------
def test_the_sdist_and_the_wheel_carry_every_migration_and_query(installed):
    assert sql_files(), "the checkout has SQL"
    with tarfile.open(installed.sdist) as sdist:
        in_sdist = {n.split("/sql/", 1)[1] for n in sdist.getnames() if "/sql/" in n and n.endswith(".sql")}
    assert in_sdist == sql_files()
    with zipfile.ZipFile(installed.wheel) as wheel:
        in_wheel = {
            n.removeprefix("epic_events/sql/") for n in wheel.namelist() if n.startswith("epic_events/sql/")
        }
    assert in_wheel == sql_files()


# -- the installed command ---------------------------------------------------------------------
def test_the_installed_cli_runs_on_the_embedded_default(installed):
    home = Path(tempfile.mkdtemp(prefix="home-", dir=installed.base))
    os.chmod(home, 0o755)  # the embedded server's own user (under root) reaches its pgdata
    run = Runner(installed, home)
    try:
        status = walk_through(run)
    finally:
        run("db", "stop")
    assert "database:   embedded PostgreSQL" in status
    # The installed package's own SQL, not the checkout's.
    assert migrations_line(status) == installed.package_dir / "sql" / "migrations"
    assert not migrations_line(status).is_relative_to(ROOT)
    assert f"applied  {MIGRATION_IDS[-1]}" in status


@pytest.fixture
def empty_database(pg_server, template):
    """A database of the session server with nothing in it: the installed CLI migrates it."""
    name = f"epic_wheel_{uuid.uuid4().hex[:10]}"
    with pg_server.admin() as conn:
        conn.execute(psycopg.sql.SQL("create database {}").format(psycopg.sql.Identifier(name)))
    yield pg.Database(pg_server, name, template[1])
    pg.drop(pg_server, name)


def test_the_installed_cli_runs_on_database_url(installed, empty_database, tmp_path):
    run = Runner(
        installed,
        tmp_path,
        DATABASE_URL=empty_database.app_dsn,
        EPIC_EVENTS_ADMIN_DSN=empty_database.admin_dsn,
    )
    migrate = run("db", "migrate")
    assert migrate.returncode == 0, migrate.stderr
    assert migrate.stdout.splitlines() == [f"applied {m}" for m in MIGRATION_IDS]
    status = walk_through(run)
    assert migrations_line(status) == installed.package_dir / "sql" / "migrations"
    assert not (tmp_path / "data").exists(), "no embedded server with DATABASE_URL"
