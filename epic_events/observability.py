"""Sentry, on only when SENTRY_DSN is set, and imported only then.

What is sent: unhandled exceptions (with the employee id, department, command
path and its options, secret-looking option values removed), and business
events (employee created/updated/(de)activated/deleted, contract signed) as
info-level messages. Before anything leaves the machine, `scrub` removes
passwords, tokens, DSN passwords, bcrypt hashes and
Authorization-like values, by key and by value, wherever they hide
(exception messages, frame locals, breadcrumbs, extra data). The machine's
host name is not sent.
"""

from __future__ import annotations

import re
import sys

from . import __version__, config, errors

FLUSH_TIMEOUT = 2.0  # seconds the CLI may wait, at most, for Sentry before exiting

_sdk = None  # the sentry_sdk module once initialised
_secrets: set[str] = set()
_command: str | None = None  # the command path told to Sentry, once known


class _Pattern:
    """A regular expression compiled on first use: most commands never scrub
    anything (Sentry is off), so none of them pays for compiling these."""

    def __init__(self, pattern: str, flags: int = 0):
        self._args = (pattern, flags)
        self._compiled = None

    def __getattr__(self, name):
        if name in ("_args", "_compiled"):  # not set yet (a copy being built)
            raise AttributeError(name)
        if self._compiled is None:
            self._compiled = re.compile(*self._args)
        return getattr(self._compiled, name)


SECRET_KEY_NAMES = _Pattern(
    r"pass(word|wd)?|secret|token|access|refresh|authori[sz]ation|cookie|api_?key|dsn|"
    r"password_hash|hash|credential|session_id|private|verifier|proof",
    re.IGNORECASE,
)
_JWT = _Pattern(r"eyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]{5,}")
_BCRYPT = _Pattern(r"\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}")
_URL_PASSWORD = _Pattern(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)([^@\s]+)(@)", re.IGNORECASE)
_SECRET_WORD = r"[\w-]*(?:pass(?:word|wd)|secret|token|api_?key)[\w-]*"
# password=…, PGPASSWORD=…, ?token=… (conninfo, environment, query strings)
_KV_SECRET = _Pattern(rf"(\b{_SECRET_WORD}\s*=\s*)('[^']*'|\"[^\"]*\"|[^\s,;&}}]+)", re.IGNORECASE)
# 'password': '…' and "token": "…" (a dict's repr, JSON)
_QUOTED_SECRET = _Pattern(rf"""(['"]{_SECRET_WORD}['"]\s*:\s*)('[^']*'|"[^"]*"|[^\s,;}}]+)""", re.IGNORECASE)
_AUTHORIZATION = _Pattern(
    r"""(\bauthori[sz]ation['"]?\s*[:=]\s*['"]?(?:(?:basic|bearer|digest|token)\s+)?)"""
    r"(?!(?:basic|bearer|digest|token)\s)[\w\-.~+/=]+",
    re.IGNORECASE,
)
_BEARER = _Pattern(r"(\bbearer\s+)[\w\-.~+/=]+", re.IGNORECASE)
FILTERED = "[Filtered]"


def enabled() -> bool:
    return _sdk is not None


def init() -> None:
    """Start Sentry if SENTRY_DSN is configured; otherwise do nothing, import nothing."""
    global _sdk
    dsn = config.get("SENTRY_DSN")
    if not dsn or _sdk is not None:
        return
    try:
        sample_rate = float(config.get("SENTRY_SAMPLE_RATE", "1.0"))
    except ValueError:
        sample_rate = -1.0
    if not 0.0 <= sample_rate <= 1.0:
        raise errors.Unreachable("SENTRY_SAMPLE_RATE: must be a number from 0 to 1")
    import sentry_sdk
    from sentry_sdk.integrations.atexit import AtexitIntegration
    from sentry_sdk.utils import BadDsn

    _forget_configured_secrets()
    try:
        sentry_sdk.init(
            dsn=dsn,
            environment=config.get("SENTRY_ENVIRONMENT", "development"),
            release=f"epic-events@{__version__}",
            sample_rate=sample_rate,
            # send_default_pii stays at its default (off; newer SDKs deprecate naming it).
            include_local_variables=True,
            max_breadcrumbs=50,
            before_send=_before_send,
            before_breadcrumb=lambda crumb, hint: scrub(crumb),
            shutdown_timeout=FLUSH_TIMEOUT,
            # No "Sentry is attempting to send 1 pending events" on the user's stderr.
            integrations=[AtexitIntegration(callback=_quiet)],
        )
    except BadDsn:
        raise errors.Unreachable("SENTRY_DSN: not a valid Sentry DSN") from None
    _sdk = sentry_sdk


def _forget_configured_secrets() -> None:
    import os

    for name in ("DATABASE_URL", "EPIC_EVENTS_ADMIN_DSN", "SENTRY_DSN"):
        value = config.get(name)
        forget(value)
        forget(_dsn_password(value))
    forget(os.environ.get("PGPASSWORD"))


def _dsn_password(dsn: str | None) -> str | None:
    """The password inside a URL or key=value DSN, so it is removed even alone."""
    if not dsn:
        return None
    found = _URL_PASSWORD.search(dsn) or _KV_SECRET.search(dsn)
    return found.group(2).strip("'\"") if found else None


def _quiet(pending, timeout) -> None:
    pass


def forget(value: str | None) -> None:
    """Never send this value (a password typed, a token read), wherever it appears."""
    if value and len(value) >= 4:
        _secrets.add(value)


def set_command(path: str, params: dict) -> None:
    global _command
    if _sdk is None:
        return
    _command = path
    options = scrub(dict(params))  # flags such as --password-stdin stay readable
    _sdk.set_tag("command", path)
    _sdk.set_context("command", {"path": path, "options": options})


def set_employee(employee_id: int, department: str) -> None:
    if _sdk is None:
        return
    _sdk.set_user({"id": str(employee_id)})
    _sdk.set_tag("department", department)


def event(message: str, **data) -> None:
    """A business event: a breadcrumb and an info message."""
    if _sdk is None:
        return
    _sdk.add_breadcrumb(category="business", message=message, data=data, level="info")
    with _sdk.new_scope() as scope:
        scope.set_context("business", data)
        _sdk.capture_message(message, level="info")


def capture(exc: BaseException) -> None:
    if _sdk is None:
        return
    if _command is None:
        _describe_from_traceback(exc)
    _sdk.capture_exception(exc)


def _describe_from_traceback(exc: BaseException) -> None:
    """A command that failed before it logged in still says which it was."""
    import click

    ctx = None
    tb = exc.__traceback__
    while tb is not None:
        candidate = tb.tb_frame.f_locals.get("ctx")
        if isinstance(candidate, click.Context):
            ctx = candidate
        tb = tb.tb_next
    if ctx is not None:
        set_command(ctx.command_path, dict(ctx.params))


def flush() -> None:
    """Send what is queued, then stop Sentry: called once, as the process ends.

    The wait is bounded by FLUSH_TIMEOUT in all: closing the client here leaves
    the SDK's own exit hook nothing to wait for a second time when the
    network is down.
    """
    shutdown()


def shutdown() -> None:
    """Flush (bounded), close the client and forget this command's state.

    The CLI runs one command per process; tests run many in one, so each
    command starts from a clean slate (no user, tags or secrets of the last).
    """
    global _sdk, _command
    # Once loaded, the SDK's integrations keep adding breadcrumbs to its scopes.
    sdk = _sdk or sys.modules.get("sentry_sdk")
    _sdk, _command = None, None
    if sdk is not None:
        client = sdk.get_client()
        client.flush(timeout=FLUSH_TIMEOUT, callback=_quiet)
        client.close(timeout=0)
        for scope in (sdk.get_current_scope(), sdk.get_isolation_scope()):
            scope.clear()
    _secrets.clear()


# -- scrubbing ------------------------------------------------------------------
def _before_send(event, hint):
    secrets = _secrets_in_locals((hint or {}).get("exc_info"))
    modules = event.pop("modules", None)  # package names, not keys: "secretstorage" is no secret
    event = scrub(event, extra_secrets=secrets)
    if modules:
        event["modules"] = {name: scrub_text(str(version)) for name, version in modules.items()}
    event.pop("server_name", None)
    return event


def _secrets_in_locals(exc_info) -> set[str]:
    """Values of secret-named local variables along the traceback(s).

    Their names hide them in the frame variables; this also removes them from
    the exception message or anywhere else they were copied to.
    """
    found: set[str] = set()
    exc = exc_info[1] if exc_info else None
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        tb = exc.__traceback__
        while tb is not None:
            for name, value in tb.tb_frame.f_locals.items():
                if isinstance(name, str) and SECRET_KEY_NAMES.search(name):
                    _strings(value, found)
            tb = tb.tb_next
        exc = exc.__cause__ or exc.__context__
    return {s for s in found if len(s) >= 4}


def _strings(value, out: set[str], depth: int = 0) -> None:
    if depth > 3:
        return
    if isinstance(value, str):
        out.add(value)
    elif isinstance(value, bytes):
        out.add(value.decode("utf-8", "replace"))
    elif isinstance(value, dict):
        for v in value.values():
            _strings(v, out, depth + 1)
    elif isinstance(value, list | tuple | set | frozenset):
        for v in value:
            _strings(v, out, depth + 1)


def scrub(value, key: str | None = None, extra_secrets: set[str] | None = None, _hidden: bool = False):
    """A copy of value without secrets: by key name (everything under it) and by content."""
    hidden = _hidden or (key is not None and bool(SECRET_KEY_NAMES.search(key)))
    if isinstance(value, dict):
        return {
            k: scrub(v, k if isinstance(k, str) else None, extra_secrets, hidden) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(v, None, extra_secrets, hidden) for v in value]
    if hidden and not (value is None or value == "" or isinstance(value, bool)):
        return FILTERED
    if isinstance(value, str):
        return scrub_text(value, extra_secrets)
    return value


def scrub_text(text: str, extra_secrets: set[str] | None = None) -> str:
    # Longest first, so a secret containing another is removed whole.
    for secret in sorted(_secrets | (extra_secrets or set()), key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, FILTERED)
    text = _JWT.sub(FILTERED, text)
    text = _BCRYPT.sub(FILTERED, text)
    text = _URL_PASSWORD.sub(lambda m: m.group(1) + FILTERED + m.group(3), text)
    for pattern in (_KV_SECRET, _QUOTED_SECRET, _AUTHORIZATION, _BEARER):
        text = pattern.sub(lambda m: m.group(1) + FILTERED, text)
    return text
