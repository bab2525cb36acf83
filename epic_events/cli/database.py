"""db migrate | rollback | status | bootstrap, start | stop for the embedded server, backup | restore."""

from __future__ import annotations

from pathlib import Path

import click

from .. import db as database
from .. import errors, validate
from . import options
from .options import ask, password_stdin_option, read_password


@click.group()
def db():
    """Database administration: migrations, the first account, backups.

    These commands use the admin connection (EPIC_EVENTS_ADMIN_DSN), never
    your employee session.
    """


@db.command()
def migrate():
    """Apply every pending migration (the same files `yoyo apply` reads)."""
    from .. import migrations

    applied = migrations.apply(database.admin_dsn())
    if applied:
        for mid in applied:
            click.echo(f"applied {mid}")
    else:
        click.echo("already up to date")


@db.command()
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="How many migrations to roll back.",
)
@click.option("--all", "everything", is_flag=True, help="Roll back every migration (drops all data).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def rollback(count, everything, yes):
    """Roll back the newest migration(s), with their .rollback.sql files.

    First names the tables the rollback drops, with their row counts: back
    up first (README, "For DBAs").
    """
    from .. import migrations

    dsn = database.admin_dsn()
    ids = migrations.to_roll_back(dsn, None if everything else count)
    if not ids:
        click.echo("nothing to roll back")
        return
    click.echo(f"rolling back {', '.join(ids)}")
    counts = migrations.row_counts(dsn, ids)
    if counts:
        click.echo("drops these tables and every row in them:")
        for table, rows in counts.items():
            click.echo(f"  {table}: {rows} row{'' if rows == 1 else 's'}")
    else:
        click.echo("drops no table")
    what = "every migration (ALL DATA IS LOST)" if everything else f"{count} migration(s)"
    options.confirm(f"Roll back {what}?", yes, "rollback", "nothing was rolled back")
    for mid in migrations.rollback(dsn, None if everything else count, ids=ids):
        click.echo(f"rolled back {mid}")


@db.command()
def status():
    """Where the database is, whether it runs, and each migration's state.

    With no DATABASE_URL this is the embedded server: its data directory,
    PostgreSQL version and process. A stopped embedded server is not started.
    `migrations:` is the folder of this installation's migration files (what
    a DBA reviews, or hands to `yoyo apply`).
    """
    from .. import config, embedded, migrations
    from ..paths import MIGRATIONS_DIR

    if config.get("DATABASE_URL"):
        click.echo(f"database:   {_describe(config.get('DATABASE_URL'))} (DATABASE_URL)")
        click.echo(f"migrations: {MIGRATIONS_DIR}")
    else:
        info = embedded.running()
        click.echo(f"database:   embedded PostgreSQL {embedded.server_version() or '(not created yet)'}")
        click.echo(f"data:       {embedded.pgdata()}")
        click.echo(f"migrations: {MIGRATIONS_DIR}")
        if info is None:
            click.echo("server:     stopped (starts on the next command, or `epic-events db start`)")
            return
        click.echo(f"server:     running (pid {info.pid}, socket {info.socket_dir})")
    for state in migrations.status(database.admin_dsn()):
        click.echo(f"{'applied' if state.applied else 'pending'}  {state.id}")


@db.command()
def start():
    """Start the embedded server (and create and migrate its database if needed)."""
    from .. import config, embedded

    _embedded_only(config)
    was_running = embedded.running() is not None
    info = embedded.start()
    state = "already running" if was_running else "started"
    click.echo(
        f"embedded PostgreSQL {embedded.server_version()} {state} (pid {info.pid}); "
        f"data in {embedded.pgdata()}"
    )


@db.command()
def stop():
    """Stop the embedded server; the next command starts it again."""
    from .. import config, embedded

    _embedded_only(config)
    click.echo("embedded PostgreSQL stopped" if embedded.stop() else "embedded PostgreSQL was not running")


def _embedded_only(config) -> None:
    if config.get("DATABASE_URL"):
        raise errors.InvalidInput(
            "DATABASE_URL is set: the embedded server is not in use (unset it to use the local default)"
        )


def _describe(dsn: str) -> str:
    """host/port/dbname of a DSN, never its password."""
    from psycopg.conninfo import conninfo_to_dict

    p = conninfo_to_dict(dsn)
    return f"{p.get('user', '?')}@{p.get('host', 'localhost')}:{p.get('port', 5432)}/{p.get('dbname', '?')}"


@db.command()
@click.option("--email", help="The manager's email.")
@click.option("--name", help="The manager's full name.")
@click.option("--phone", help="The manager's phone (optional).")
@password_stdin_option
def bootstrap(email, name, phone, password_stdin):
    """Create the first management account; refused once one exists.

    \b
    Example:
      epic-events db bootstrap --email mona@epic-events.fr --name "Mona Martin"
    """
    from .. import auth

    email = ask(email, "email", "--email", validate.email, "Email")
    name = ask(name, "full_name", "--name", validate.text, "Full name")
    phone = validate.phone("--phone", phone) if phone else None
    password = validate.password(read_password(password_stdin, confirm=True))
    salt, verifier = auth.password_record(password)
    conn = database.connect(database.admin_dsn(), "EPIC_EVENTS_ADMIN_DSN")
    try:
        with auth.transaction(conn) as tx:  # explains a database not migrated yet
            tx.run("employee.become_owner")
            new_id = tx.run(
                "employee.bootstrap_manager",
                {
                    "full_name": name,
                    "email": email,
                    "phone": phone,
                    "password_salt": salt,
                    "password_verifier": verifier,
                },
            )
    finally:
        conn.close()
    click.echo(f"Created manager {name} <{email}> (id {new_id}). Log in with `epic-events login`.")


@db.command(name="rotate-key")
def rotate_key():
    """Sign access tokens with a new key, generated in the database.

    Nobody is logged out: tokens signed with the previous key stay valid until
    they expire (30 minutes). The keys never leave the database.

    \b
    Example:
      epic-events db rotate-key
    """
    from .. import auth

    conn = database.connect(database.admin_dsn(), "EPIC_EVENTS_ADMIN_DSN")
    try:
        with auth.transaction(conn) as tx:
            tx.run("employee.become_owner")
            kid = tx.run("session.rotate_signing_key")
    finally:
        conn.close()
    click.echo(f"New signing key {kid}; the previous one verifies its tokens until they expire.")


@db.command(name="purge-audit")
@click.option(
    "--before",
    required=True,
    metavar="DATE",
    help="Delete the audit rows that occurred before DATE (dd/mm/yyyy or ISO 8601).",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def purge_audit(before, yes):
    """Delete audit rows older than DATE (retention); the purge itself is recorded.

    Admin connection (EPIC_EVENTS_ADMIN_DSN) only: the owner's
    purge_audit_log() deletes them despite the append-only trigger, then adds
    one audit row naming the login, the cutoff and how many rows went. Export
    first if you keep them elsewhere: `epic-events audit --all --format csv`.

    \b
    Example:
      epic-events db purge-audit --before 01/01/2025
    """
    from datetime import datetime

    from .. import auth

    cutoff = validate.moment("--before", before)
    if cutoff > datetime.now(cutoff.tzinfo):
        raise errors.InvalidInput("--before: must be in the past")
    shown = cutoff.astimezone().strftime("%d/%m/%Y %H:%M")
    options.confirm(f"Delete every audit row older than {shown}?", yes, "purge-audit", "nothing was deleted")
    conn = database.connect(database.admin_dsn(), "EPIC_EVENTS_ADMIN_DSN")
    try:
        with auth.transaction(conn) as tx:
            tx.run("employee.become_owner")
            deleted = tx.run("audit.purge", {"before": cutoff})
    finally:
        conn.close()
    click.echo(
        f"deleted {deleted} audit row{'' if deleted == 1 else 's'} older than {shown}; "
        "the purge is recorded in the audit trail"
    )


@db.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("table", "json")),
    default=None,
    help="table (default on a terminal) or json.",
)
def review(fmt):
    """What each department may do, read from the live catalog, and what breaks the rules.

    Admin connection (EPIC_EVENTS_ADMIN_DSN). Prints the effective rights
    (department x table x operation: allowed, own rows or refused, with the
    grant and the policies behind each cell and the permission codes that
    widen it), the functions each role may execute (owner, SECURITY DEFINER,
    search_path), and every breach of the house rules: a table without forced
    row-level security, a function whose search_path does not end with
    pg_temp, anything granted to PUBLIC, TEMP for PUBLIC, a table a department
    touches without its restrictive _checked_for_ policy. Exit 0 either way:
    a script reads `problems` in the JSON.

    \b
    Examples:
      epic-events db review
      epic-events db review --format json | jq '.problems'
    """
    from .. import auth
    from .. import review as reviews
    from ..render import default_format, to_json

    conn = database.connect(database.admin_dsn(), "EPIC_EVENTS_ADMIN_DSN")
    try:
        with auth.transaction(conn) as tx:
            tx.run("employee.become_owner")
            report = reviews.build(tx)
    finally:
        conn.close()
    if (fmt or default_format()) == "json":
        click.echo(to_json(report))
        return
    _print_review(report)


def _print_review(report: dict) -> None:
    from rich.table import Table

    from ..render import console

    out = console()
    departments = sorted({c["department"] for c in report["matrix"]})
    matrix = Table(title="Effective rights (refused everywhere: left out)", show_lines=True)
    for label in ("Table", "Operation", *departments):
        matrix.add_column(label)
    cells = {(c["table"], c["operation"], c["department"]): c for c in report["matrix"]}
    for table in sorted({c["table"] for c in report["matrix"]}):
        for op in ("select", "insert", "update", "delete"):
            row = [cells[(table, op, d)] for d in departments]
            if all(c["outcome"] == "refused" for c in row):
                continue
            matrix.add_row(table, op, *(_cell_text(c) for c in row))
    out.print(matrix)
    functions = Table(title="Functions each role may execute")
    for label in ("Role", "Function", "Owner", "Definer", "search_path"):
        functions.add_column(label)
    for f in report["functions"]:
        functions.add_row(
            f["grantee"],
            f["function_name"],
            f["owner"],
            "yes" if f["security_definer"] else "no",
            f["search_path"] or "(not set)",
        )
    out.print(functions)
    if not report["problems"]:
        out.print("No house rule broken.")
        return
    problems = Table(title="House rules broken")
    for label in ("Rule", "Object", "Detail"):
        problems.add_column(label)
    for p in report["problems"]:
        problems.add_row(p["rule"], p["object"], p["detail"])
    out.print(problems)


def _cell_text(cell: dict) -> str:
    from rich.markup import escape

    if cell["outcome"] == "refused" and cell["grant"] == "none":
        return "refused\n[dim]no grant[/dim]"
    lines = [cell["outcome"], f"[dim]grant: {escape(cell['grant'])}[/dim]"]
    permissive = [p for p in cell["policies"] if "_checked_for_" not in p]  # the rest: in JSON
    if permissive:
        lines.append(f"[dim]policy: {escape(', '.join(permissive))}[/dim]")
    if cell["widened_by"]:
        lines.append(
            f"[dim]codes: {escape(', '.join(cell['widened_by']))}; held: "
            f"{escape(', '.join(cell['held']) or 'none')}[/dim]"
        )
    return "\n".join(lines)


# --- backup and restore (epic_events/backup.py) ----------------------------------------------


def _backup_target() -> tuple[str, bool]:
    """The admin DSN, and whether it is the embedded default (no DATABASE_URL, no admin DSN)."""
    from .. import config

    embedded_default = not config.get("EPIC_EVENTS_ADMIN_DSN") and not config.get("DATABASE_URL")
    return database.admin_dsn(), embedded_default


@db.command()
@click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
def backup(file):
    """Dump the whole database to FILE (pg_dump, custom format), checked.

    Runs as the admin connection (EPIC_EVENTS_ADMIN_DSN; with nothing
    configured, the embedded server), which must be a superuser or BYPASSRLS.
    FILE is written only once every table's row count in the archive equals the
    database's (both read from one snapshot). Roles are not in it: see the
    README, Backups (pg_dumpall --roles-only). Restore with `db restore FILE`.
    """
    from .. import backup as backups

    dsn, embedded_default = _backup_target()
    report = backups.backup(dsn, file, embedded_default=embedded_default)
    click.echo(
        f"backed up {_describe(dsn)} to {file}: {report.tables} tables, {report.rows} rows, "
        f"every table's rows checked in the archive ({report.tools.pg_dump})"
    )


@db.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--force",
    "--yes",
    "force",
    is_flag=True,
    help="Restore into a database that is not empty: every object the archive holds "
    "is dropped first, then recreated from it; objects it does not hold are left.",
)
def restore(file, force):
    """Restore a `db backup` FILE into the admin connection's database.

    The database must be empty (create it with `createdb`), unless --force.
    pg_restore runs in one transaction: if anything fails, nothing is restored.
    The roles must exist on the server (the migrations, or pg_dumpall
    --roles-only: README, Backups). Afterwards every table must hold the
    archive's rows, or the command fails. With nothing configured, this is the
    embedded server's database, which is never empty: pass --force.
    """
    from .. import backup as backups

    dsn, embedded_default = _backup_target()
    in_the_way = backups.objects_in_the_way(dsn)
    if in_the_way and not force:
        found = ", ".join(f"{r['how_many']} {r['kind']}(s)" for r in in_the_way)
        raise errors.Conflict(
            f"restore: {_describe(dsn)} is not empty ({found}); restore into an "
            "empty database, or pass --force to replace what the archive holds"
        )
    report = backups.restore(dsn, file, clean=bool(in_the_way), embedded_default=embedded_default)
    if embedded_default:
        from .. import embedded

        embedded.forget_schema_version()  # the archive's schema may be older: re-checked next time
    click.echo(
        f"restored {file} into {_describe(dsn)}: {report.tables} tables, {report.rows} rows, "
        "each table's row count checked against the archive"
    )
