"""Sentry, on only when SENTRY_DSN is set, and imported only then.

What is sent: unhandled exceptions (with the employee id, department, command
path and its options, secret-looking option values removed), and business
events (employee created/updated/(de)activated/deleted, contract signed) as
info-level messages. Before anything leaves the machine, `scrub` removes
passwords, tokens, SECRET_KEY, DSN passwords, bcrypt hashes and
Authorization-like values, by key and by value, wherever they hide
(exception messages, frame locals, breadcrumbs, extra data).
"""

from __future__ import annotations

import re

from . import __version__, config

_sdk = None  # the sentry_sdk module once initialised
_secrets: set[str] = set()

SECRET_KEY_NAMES = re.compile(
    r"pass(word|wd)?|secret|token|access|refresh|authori[sz]ation|cookie|api_?key|dsn|"
    r"password_hash|hash|credential|session_id|private", re.IGNORECASE)
_JWT = re.compile(r"eyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]{5,}")
_BCRYPT = re.compile(r"\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}")
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)([^@\s]+)(@)", re.IGNORECASE)
_KV_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('[^']*'|\S+)", re.IGNORECASE)
_BEARER = re.compile(r"(\b(?:bearer|basic)\s+)[\w\-.~+/=]+", re.IGNORECASE)
FILTERED = "[Filtered]"


def enabled() -> bool:
    return _sdk is not None


def init() -> None:
    """Start Sentry if SENTRY_DSN is configured; otherwise do nothing, import nothing."""
    global _sdk
    dsn = config.get("SENTRY_DSN")
    if not dsn or _sdk is not None:
        return
    import sentry_sdk

    for name in ("SECRET_KEY", "SECRET_KEY_PREV", "DATABASE_URL", "EPIC_EVENTS_ADMIN_DSN", "SENTRY_DSN"):
        value = config.get(name)
        if value:
            forget(value)
    sentry_sdk.init(
        dsn=dsn,
        environment=config.get("SENTRY_ENVIRONMENT", "development"),
        release=f"epic-events@{__version__}",
        sample_rate=float(config.get("SENTRY_SAMPLE_RATE", "1.0")),
        send_default_pii=False,
        include_local_variables=True,
        max_breadcrumbs=50,
        before_send=lambda event, hint: scrub(event),
        before_breadcrumb=lambda crumb, hint: scrub(crumb),
        shutdown_timeout=2,
    )
    _sdk = sentry_sdk


def forget(value: str | None) -> None:
    """Never send this value (a password typed, a token read), wherever it appears."""
    if value and len(value) >= 4:
        _secrets.add(value)


def set_command(path: str, params: dict) -> None:
    if _sdk is None:
        return
    options = {k: (FILTERED if SECRET_KEY_NAMES.search(k) else v) for k, v in params.items()}
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
    _sdk.capture_exception(exc)


def flush() -> None:
    """Send what is queued before the process exits (bounded wait)."""
    if _sdk is not None:
        _sdk.flush(timeout=2)


# -- scrubbing ------------------------------------------------------------------
def scrub(value, key: str | None = None):
    if key is not None and SECRET_KEY_NAMES.search(key) and value not in (None, "", [], {}):
        if not isinstance(value, dict | list):
            return FILTERED
    if isinstance(value, dict):
        return {k: scrub(v, k if isinstance(k, str) else None) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value


def scrub_text(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, FILTERED)
    text = _JWT.sub(FILTERED, text)
    text = _BCRYPT.sub(FILTERED, text)
    text = _URL_PASSWORD.sub(lambda m: m.group(1) + FILTERED + m.group(3), text)
    text = _KV_PASSWORD.sub(lambda m: m.group(1) + FILTERED, text)
    text = _BEARER.sub(lambda m: m.group(1) + FILTERED, text)
    return text
