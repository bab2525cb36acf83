"""The `epic-events` command: global options, lazily loaded command groups, errors.

Each group lives in its own module and is imported only when used, so
`epic-events client list` never loads the code of `db` (yoyo) or `login`
(bcrypt).
"""

from __future__ import annotations

import importlib
import sys

import click

from .. import __version__, errors, observability
from .app import App
from .options import FormatChoice

# name -> (module, attribute, one-line help shown by --help without importing it)
COMMANDS = {
    "login": ("auth", "login", "Log in (password by hidden prompt or --password-stdin)."),
    "logout": ("auth", "logout", "Log out; --all closes every session of yours."),
    "refresh": ("auth", "refresh", "Exchange your refresh token for new tokens now."),
    "whoami": ("auth", "whoami", "Show who you are logged in as."),
    "password": ("auth", "password", "Change your own password (asks the current one)."),
    "employee": ("employee", "employee", "Staff: list, view, create, update, (de)activate, delete."),
    "company": ("company", "company", "Companies: list, view, create, update, delete."),
    "client": ("client", "client", "Clients: list, view, create, update, import, reassign, delete."),
    "contract": ("contract", "contract", "Contracts: list, view, create, update, sign, reassign, delete."),
    "event": ("event", "event", "Events: list, agenda, view, create, update, assign-support, delete."),
    "report": ("report", "report", "Numbers for management: sales and events over a period."),
    "role": ("role", "role", "Department permissions: list, view, grant, revoke."),
    "audit": ("audit", "audit", "Audit trail (management): who changed what, when; logins too."),
    "db": ("database", "db", "Migrations, first account, and the embedded local server."),
}


class RootGroup(click.Group):
    """Loads command modules on demand and turns every failure into one line."""

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[name]
        return getattr(importlib.import_module(f"{__package__}.{module}"), attribute)

    def format_commands(self, ctx, formatter):
        rows = [(name, short) for name, (_, _, short) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # Click would exit 1; this is not an OSError, so it reaches main() below.
            raise _ReaderGone from None

    def main(self, args=None, prog_name=None, **extra):
        argv = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in argv
        extra.pop("standalone_mode", None)
        code = 0
        try:
            result = super().main(
                args=argv, prog_name=prog_name or "epic-events", standalone_mode=False, **extra
            )
            code = result if isinstance(result, int) else 0
        except click.exceptions.Exit as exc:
            code = exc.exit_code
        except click.exceptions.Abort:
            # Ctrl-C or end of input at a prompt (a confirmation answered "no" is
            # errors.Declined, exit 1).
            click.echo("interrupted", err=True)
            code = errors.INTERRUPTED
        except (BrokenPipeError, _ReaderGone):
            # The reader went away (`… | head -1`): what it wanted was written.
            _silence_stdout()
            code = 0
        except click.ClickException as exc:
            _traceback(debug)
            message = exc.format_message()
            hint = ""
            if isinstance(exc, click.UsageError) and exc.ctx is not None:
                hint = f" (see `{exc.ctx.command_path} --help`)"
            click.echo(f"error: {message}{hint}", err=True)
            code = errors.INVALID
        except errors.AppError as exc:
            if exc.exit_code == errors.INTERNAL:
                observability.capture(exc)  # e.g. an unforeseen database error: a bug too
            _traceback(debug)
            click.echo(exc.line(), err=True)
            code = exc.exit_code
        except Exception as exc:
            observability.capture(exc)
            _traceback(debug)
            click.echo(
                f"error: internal error ({type(exc).__name__}); run again with --debug for details", err=True
            )
            code = errors.INTERNAL
        finally:
            observability.flush()
            ctx_app = getattr(self, "_app", None)
            if ctx_app is not None:
                ctx_app.close()
                self._app = None
        try:
            sys.stdout.flush()  # what is still buffered, while a broken pipe can be handled
        except BrokenPipeError:
            _silence_stdout()
        except (OSError, ValueError):
            pass
        sys.exit(code)


class _ReaderGone(Exception):
    """Standard output's reader went away (a broken pipe) while a command wrote."""


def _traceback(debug: bool) -> None:
    """--debug shows where an error came from; the exit code stays the documented one."""
    if debug:
        import traceback

        traceback.print_exc(file=sys.stderr)


def _silence_stdout() -> None:
    """After a broken pipe, the interpreter's final flush must not fail again (Python's
    documented recipe: point stdout at /dev/null)."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (Click's test runner)
        pass


@click.group(
    cls=RootGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--format",
    "fmt",
    type=FormatChoice(ics=True),
    help="Output format of every read (default: table on a terminal, JSON otherwise; "
    "ics for event list and event agenda).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.version_option(__version__, prog_name="epic-events")
@click.pass_context
def cli(ctx: click.Context, fmt: str | None, debug: bool) -> None:
    """Epic Events CRM: clients, contracts and events, from the command line.

    Log in once, then every command runs as you, with your department's rights,
    enforced by the database itself. With no command, shows your dashboard.

    \b
    Examples:
      epic-events login --email mona@epic-events.fr
      epic-events client list --mine
      epic-events contract list --unsigned --format json
      epic-events event assign-support 12 7
    """
    observability.init()
    app = App(fmt, debug)
    ctx.obj = app
    cli._app = app  # closed by RootGroup.main, whatever happens
    if ctx.invoked_subcommand is None:
        from .dashboard import show

        try:
            show(app)
        except errors.NotLoggedIn:
            click.echo(ctx.get_help())
            click.echo("\nLog in with `epic-events login` to see your dashboard here.")


def main() -> None:
    cli.main()
