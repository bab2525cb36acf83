"""login, logout, refresh, whoami, password."""

from __future__ import annotations

from datetime import UTC

import click

from .. import auth, config, errors, validate
from ..render import Column, emit, human
from .options import ask, output_option, password_stdin_option, read_password

WHOAMI = [
    Column("id", "Id", "id"),
    Column("employee_number", "Number"),
    Column("full_name", "Name"),
    Column("email", "Email"),
    Column("phone", "Phone"),
    Column("department", "Department"),
    Column("session_expires_at", "Session until", "datetime"),
]


@click.command()
@click.option("--email", help="Your work email (asked if missing).")
@password_stdin_option
@click.pass_obj
def login(app, email, password_stdin):
    """Log in: your tokens are kept in the OS keyring (or a 0600 file).

    The password is asked with a hidden prompt, or read from standard input
    with --password-stdin. It is never an argument.

    \b
    Examples:
      epic-events login --email mona@epic-events.demo
      pass show epic | epic-events login --email mona@epic-events.demo --password-stdin
    """
    email = ask(email, "email", "--email", validate.email, "Email")
    password = read_password(password_stdin, confirm=False)
    # On the embedded default, a failure on an empty database says how to fill it.
    claims, employee = auth.login(
        app.conn, app.store, email, password, hint_if_empty=not config.get("DATABASE_URL")
    )
    click.echo(f"Logged in as {employee['full_name']} ({employee['department']}).", err=True)


@click.command()
@click.option("--all", "everywhere", is_flag=True, help="Close every session of yours, on every machine.")
@click.pass_obj
def logout(app, everywhere):
    """Log out: the session is revoked in the database, the tokens forgotten here."""
    revoked = auth.logout(app.conn, app.store, everywhere)
    if everywhere:
        click.echo(f"Logged out everywhere ({revoked} session(s) closed).", err=True)
    else:
        click.echo("Logged out.", err=True)


@click.command()
@click.pass_obj
def refresh(app):
    """Exchange your refresh token for new tokens now (commands do it by themselves)."""
    claims = auth.refresh(app.conn, app.store)
    click.echo(f"Tokens refreshed; access valid until {human(_when(claims.expires_at))}.", err=True)


@click.command()
@password_stdin_option
@click.pass_obj
def password(app, password_stdin):
    """Change your own password: the current one is asked first.

    The current password is checked by logging you in again (five wrong
    ones lock the account for 15 minutes, as at login). Your other sessions
    (other machines) end; this one stays. With --password-stdin, the first
    line is the current password, the second the new one.

    \b
    Examples:
      epic-events password
      printf '%s\\n%s\\n' "$OLD" "$NEW" | epic-events password --password-stdin
    """
    from .employee import new_password

    current = read_password(password_stdin, confirm=False, label="Current password")
    new = new_password(password_stdin, label="New password")
    me = app.run(lambda tx: tx.run("session.whoami"))
    if me is None:
        raise errors.NotLoggedIn("not logged in: run `epic-events login`")
    # The current password is proven by a login (counted like any other: five
    # wrong ones lock the account); the change is made in that new session.
    try:
        auth.login(app.conn, app.store, me["email"], current)
    except errors.NotLoggedIn as exc:
        if exc.message == auth.LOGIN_REFUSED["failed"]:
            raise errors.NotLoggedIn("password not changed: the current password is wrong") from None
        raise
    app.run(lambda tx: auth.change_password(tx, new))
    click.echo("Password changed; your other sessions are closed.", err=True)


@click.command()
@output_option
@click.pass_obj
def whoami(app, fmt):
    """Show who you are logged in as, as the database sees you."""
    me = app.run(lambda tx: tx.run("session.whoami"))
    tokens = app.store.load() or {}
    me = dict(me, session_expires_at=_when(tokens.get("refresh_expires_at")))
    emit(me, app.format(fmt), WHOAMI, title="You")


def _when(epoch):
    from datetime import datetime

    return datetime.fromtimestamp(epoch, tz=UTC) if epoch else None
