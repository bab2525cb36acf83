"""PgBouncer in transaction mode in front of the test server (issue 15, item 2).

`start_pgbouncer(server, database, pool_size=1)` starts Debian's `pgbouncer`
(installed here with apt-get when it is missing and we may: root, apt-get,
network), listening on a Unix socket of its own, in transaction pooling mode,
with `pool_size` server connections per database and user; it yields a
`Pooler` whose `app_dsn()` is what DATABASE_URL is set to. Where PgBouncer
cannot run, `tests.pg.Unavailable` says why (the fixtures skip with it).

The authenticator logs in to PgBouncer with its password (auth_type md5, a
userlist holding it); PgBouncer reaches the server over its Unix socket, or
its host and port, with the same user and password (trust on the embedded and
Debian test servers).

Debian 12 ships PgBouncer 1.18: no `max_prepared_statements` (1.21), and it
refuses startup parameters it does not know, `options` among them: the DSN
through it carries none (the harness's SHARED_CLUSTER opt-out is read by
migration 0001 only, which runs on the admin connection, never through the
pooler).
"""

from __future__ import annotations

import contextlib
import functools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.pg import Database, Server, Unavailable, _ram_dir, _unprivileged_user

PORT = 6432  # in a socket directory of its own: no clash with anything


def pgbouncer_binary() -> str:
    """The pgbouncer executable, installed with apt-get where it is missing and
    we can (tried once per test session); Unavailable (with the reason) otherwise."""
    found = _find_or_install()
    if isinstance(found, Unavailable):
        raise found
    return found


@functools.cache
def _find_or_install() -> str | Unavailable:
    try:
        return _find_or_install_once()
    except Unavailable as exc:
        return exc


def _find_or_install_once() -> str:
    found = shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(p, os.X_OK)), None
    )
    if found:
        return found
    if os.environ.get("EPIC_EVENTS_TEST_NO_INSTALL") == "1":
        raise Unavailable("pgbouncer is not installed (and EPIC_EVENTS_TEST_NO_INSTALL=1)")
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise Unavailable(
            "pgbouncer is not installed, and installing it needs root and apt-get"
            " (`apt-get install pgbouncer`)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    steps = (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "pgbouncer"])
    for step in steps:
        try:
            done = subprocess.run(step, env=env, capture_output=True, text=True, timeout=600)
        except (subprocess.TimeoutExpired, OSError) as exc:
            raise Unavailable(f"pgbouncer could not be installed: {' '.join(step)}: {exc}") from None
        if done.returncode != 0:
            raise Unavailable(
                f"pgbouncer could not be installed: {' '.join(step)} failed:"
                f" {(done.stderr or done.stdout).strip()[-500:]}"
            )
    # The package enables a system service on port 6432; ours is another process
    # on a socket of its own, and does not need it.
    subprocess.run(["systemctl", "disable", "--now", "pgbouncer"], capture_output=True)
    found = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not os.access(found, os.X_OK):
        raise Unavailable("apt-get installed pgbouncer but there is no pgbouncer executable")
    return found


def version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    return out.split("\n", 1)[0].strip()


@dataclass
class Pooler:
    socket_dir: Path
    database: Database
    version: str

    def app_dsn(self) -> str:
        """The authenticator through PgBouncer: no `options` (PgBouncer refuses it)."""
        return make_conninfo(
            host=str(self.socket_dir),
            port=PORT,
            dbname=self.database.name,
            user="epic_authenticator",
            password=self.database.authenticator_password,
        )

    def admin_console(self) -> list[tuple]:
        """SHOW SERVERS on PgBouncer's console: one row per server connection."""
        import psycopg

        dsn = make_conninfo(
            host=str(self.socket_dir),
            port=PORT,
            dbname="pgbouncer",
            user="epic_authenticator",
            password=self.database.authenticator_password,
        )
        with psycopg.connect(dsn, autocommit=True, prepare_threshold=None) as conn:
            return conn.execute("show servers", prepare=False).fetchall()


def fixture(server: Server, database: Database, pool_size: int = 1):
    """For a pytest fixture: the Pooler, or a skip with the reason PgBouncer cannot run."""
    import pytest

    try:
        with start_pgbouncer(server, database, pool_size) as pooler:
            yield pooler
    except Unavailable as exc:
        pytest.skip(str(exc))


@contextlib.contextmanager
def start_pgbouncer(server: Server, database: Database, pool_size: int = 1):
    target = conninfo_to_dict(server.admin_dsn)
    with run_pgbouncer(
        host=target.get("host") or "localhost",
        port=target.get("port") or "5432",
        dbname=database.name,
        password=database.authenticator_password,
        pool_size=pool_size,
    ) as (base, release):
        yield Pooler(base, database, release)


@contextlib.contextmanager
def run_pgbouncer(host: str, port: str | int, dbname: str, password: str | None, pool_size: int):
    """PgBouncer in transaction mode for `dbname`, for epic_authenticator: yields
    (its socket directory, its version). password None: trust (the load
    benchmark's throwaway server), else md5 with that password."""
    binary = pgbouncer_binary()
    base = Path(tempfile.mkdtemp(prefix="epic-pgbouncer-", dir=_ram_dir()))
    user = _unprivileged_user()  # PgBouncer refuses to run as root
    quoted = (password or "").replace('"', '""')
    (base / "userlist.txt").write_text(f'"epic_authenticator" "{quoted}"\n')
    (base / "pgbouncer.ini").write_text(
        "\n".join(
            [
                "[databases]",
                f"{dbname} = host={host} port={port} dbname={dbname}",
                "",
                "[pgbouncer]",
                "listen_addr =",  # no TCP: the Unix socket only
                f"listen_port = {PORT}",
                f"unix_socket_dir = {base}",
                f"auth_type = {'md5' if password is not None else 'trust'}",
                f"auth_file = {base / 'userlist.txt'}",
                "admin_users = epic_authenticator",
                "pool_mode = transaction",
                f"default_pool_size = {pool_size}",
                "min_pool_size = 0",
                "reserve_pool_size = 0",
                "max_client_conn = 200",
                "max_db_connections = 0",
                # psycopg sends none of these; a driver that does would be refused.
                "ignore_startup_parameters = extra_float_digits",
                f"logfile = {base / 'pgbouncer.log'}",
                f"pidfile = {base / 'pgbouncer.pid'}",
                "",
            ]
        )
    )
    if user:
        entry = pwd.getpwnam(user)
        for path in (base, *base.iterdir()):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        (base / "userlist.txt").chmod(0o600)
    process = subprocess.Popen(
        [binary, str(base / "pgbouncer.ini")],
        user=user,
        cwd=base,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while not _answers(base / f".s.PGSQL.{PORT}"):
            if process.poll() is not None or time.monotonic() > deadline:
                log = base / "pgbouncer.log"
                detail = (process.stderr.read() if process.poll() is not None else "") + (
                    log.read_text()[-2000:] if log.exists() else ""
                )
                raise Unavailable(f"pgbouncer did not start: {detail.strip()}")
            time.sleep(0.05)
        yield base, version(binary)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stderr.close()
        shutil.rmtree(base, ignore_errors=True)


def _answers(path: Path) -> bool:
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(path))
            return True
        except OSError:
            return False
