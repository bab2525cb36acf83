"""db migrate | rollback | status | bootstrap, and start | stop for the embedded server."""

from __future__ import annotations

import click

from .. import db as database
from .. import errors, validate
from . import options
from .options import ask, password_stdin_option, read_password


@click.group()
def db():
    """Database administration: migrations and the first account.

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
@click.option("--count", type=click.IntRange(min=1), default=1, show_default=True,
              help="How many migrations to roll back.")
@click.option("--all", "everything", is_flag=True, help="Roll back every migration (drops all data).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def rollback(count, everything, yes):
    """Roll back the newest migration(s), with their .rollback.sql files."""
    from .. import migrations

    what = "every migration (ALL DATA IS LOST)" if everything else f"{count} migration(s)"
    options.confirm(f"Roll back {what}?", yes, "rollback", "nothing was rolled back")
    for mid in migrations.rollback(database.admin_dsn(), None if everything else count):
        click.echo(f"rolled back {mid}")


@db.command()
def status():
    """Where the database is, whether it runs, and each migration's state.

    With no DATABASE_URL this is the embedded server: its data directory,
    PostgreSQL version and process. A stopped embedded server is not started.
    """
    from .. import config, embedded, migrations

    if config.get("DATABASE_URL"):
        click.echo(f"database: {_describe(config.get('DATABASE_URL'))} (DATABASE_URL)")
    else:
        info = embedded.running()
        click.echo(f"database: embedded PostgreSQL {embedded.server_version() or '(not created yet)'}")
        click.echo(f"data:     {embedded.pgdata()}")
        if info is None:
            click.echo("server:   stopped (starts on the next command, or `epic-events db start`)")
            return
        click.echo(f"server:   running (pid {info.pid}, socket {info.socket_dir})")
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
    click.echo(f"embedded PostgreSQL {embedded.server_version()} {state} (pid {info.pid}); "
               f"data in {embedded.pgdata()}")


@db.command()
def stop():
    """Stop the embedded server; the next command starts it again."""
    from .. import config, embedded

    _embedded_only(config)
    click.echo("embedded PostgreSQL stopped" if embedded.stop() else "embedded PostgreSQL was not running")


def _embedded_only(config) -> None:
    if config.get("DATABASE_URL"):
        raise errors.InvalidInput("DATABASE_URL is set: the embedded server is not in use "
                                  "(unset it to use the local default)")


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
    password_hash = auth.hash_password(password)
    conn = database.connect(database.admin_dsn())
    try:
        with auth.transaction(conn) as tx:  # explains a database not migrated yet
            tx.run("employee.become_owner")
            new_id = tx.run("employee.bootstrap_manager", {
                "full_name": name, "email": email, "phone": phone,
                "password_hash": password_hash})
    finally:
        conn.close()
    click.echo(f"Created manager {name} <{email}> (id {new_id}). Log in with `epic-events login`.")
