"""The per-command application state, and the one place a command becomes an employee.

`App.run(fn)` loads the stored access token (refreshing it if expired),
opens one connection, and calls `fn(tx)` inside the transaction that
db.transaction() sets up (role, employee, session). If the database no
longer honours the session (department changed, session revoked), it tries
one refresh, then reports the reason.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from .. import config, errors, observability
from ..render import ICS, ICS_ONLY, default_format

if TYPE_CHECKING:  # annotations only
    from .. import auth, db

# auth (PyJWT) and db (psycopg) are imported by the methods that use them, so
# that `epic-events --help` and `--version` start without the driver.


class App:
    def __init__(self, fmt: str | None = None, debug: bool = False):
        self.fmt = fmt
        self.debug = debug
        self.claims: auth.Claims | None = None
        self._conn = None

    def format(self, override: str | None, ics: bool = False) -> str:
        """The output format; `ics` only where the command writes iCalendar (the
        root's `--format ics` reaches every command)."""
        fmt = override or self.fmt or default_format()
        if fmt == ICS and not ics:
            raise errors.InvalidInput(f"--format: {ICS_ONLY}")
        return fmt

    @cached_property
    def dsn(self) -> str:
        from .. import db

        return db.app_dsn()

    @cached_property
    def store(self):
        from .. import auth

        # Tokens are kept per database; the embedded default needs no server for this.
        return auth.token_store(config.get("DATABASE_URL") or "host=embedded")

    @property
    def conn(self):
        if self._conn is None:
            from .. import db

            self._conn = db.connect(self.dsn)
            _exact_json_numbers(self._conn)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def identity(self) -> db.Identity:
        """The stored access token (the database verifies it in the request)."""
        from .. import auth

        _describe_command()
        tokens = self.store.load()
        if not tokens:
            raise errors.NotLoggedIn("not logged in: run `epic-events login`")
        try:
            self.claims = auth.valid_claims(tokens["access"])
        except auth.TokenExpired:
            self.claims = auth.refresh(self.conn, self.store)
        observability.set_employee(self.claims.employee_id, self.claims.department)
        return self._identity()

    def _identity(self) -> db.Identity:
        from .. import db

        return db.Identity(self.claims.department, self.claims.token)

    def run(self, fn, rule: str | None = None, fields: dict[str, str] | None = None):
        """Call fn(tx) as the logged-in employee, in one transaction.

        `rule` replaces the database's bare "permission denied for table …" or
        "violates row-level security policy" with the rule the user broke.
        `fields` maps the columns the database names ("total_amount: …") to the
        options the user typed ("--total: …").
        """
        try:
            return self._run(fn, rule)
        except (errors.InvalidInput, errors.NotFound, errors.Conflict) as exc:
            renamed = errors.renamed(exc, fields or {})
            if renamed is exc:
                raise
            raise renamed from None

    def _run(self, fn, rule: str | None):
        from .. import auth, db

        ident = self.identity()
        try:
            try:
                with db.transaction(self.conn, ident) as tx:
                    return fn(tx)
            except db.SessionNotLive:
                # Maybe only the department changed: a refresh says so, or says why not.
                self.claims = auth.refresh(self.conn, self.store)
                with db.transaction(self.conn, self._identity()) as tx:
                    return fn(tx)
        except errors.PermissionDenied as exc:
            if rule and ("permission denied for" in exc.message or "row-level security" in exc.message):
                raise errors.PermissionDenied(f"permission denied: {rule}") from None
            raise


def _exact_json_numbers(conn) -> None:
    """Amounts the database nests as JSON (a client's contracts, the dashboard's
    sums) load as Decimal, exact as the numeric columns themselves, not as floats."""
    import json
    from decimal import Decimal
    from functools import partial

    from psycopg.types.json import set_json_loads

    set_json_loads(partial(json.loads, parse_float=Decimal), conn)


def _describe_command() -> None:
    """Tell Sentry (when on) which command runs, with which options."""
    if observability.enabled():
        import click

        ctx = click.get_current_context(silent=True)
        if ctx is not None:
            observability.set_command(ctx.command_path, dict(ctx.params))
