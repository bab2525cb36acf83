"""Settings: environment variables first, then an optional TOML config file.

The file is $EPIC_EVENTS_CONFIG, else <user config dir>/epic-events/config.toml,
with the same names as the variables, e.g.

    DATABASE_URL = "postgresql://epic_authenticator@db.example/epic_events"
    SENTRY_ENVIRONMENT = "production"

Secrets (passwords in DSNs) belong in the environment or in a file only you
can read: a config file holding one is refused while others can read it.
Nothing here ever prints them. No signing key lives here: the database signs
and verifies tokens.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

NAMES = (
    "DATABASE_URL",
    "EPIC_EVENTS_ADMIN_DSN",
    "SENTRY_DSN",
    "SENTRY_ENVIRONMENT",
    "SENTRY_SAMPLE_RATE",
    "EPIC_EVENTS_BCRYPT_ROUNDS",
    "EPIC_EVENTS_PHONE_REGION",
)


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "epic-events"


def state_dir() -> Path:
    """Where tokens and the embedded server's secret live (never /tmp)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "epic-events"


def data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "epic-events"


@cache
def _file_settings() -> dict[str, str]:
    path = Path(os.environ.get("EPIC_EVENTS_CONFIG") or config_dir() / "config.toml")
    if not path.is_file():
        return {}
    import tomllib

    with path.open("rb") as fh:
        data = tomllib.load(fh)
    settings = {k: str(v) for k, v in data.items() if k in NAMES}
    mode = path.stat().st_mode & 0o777
    if mode & 0o077 and any(_holds_password(v) for v in settings.values()):
        from . import errors

        raise errors.Unreachable(
            f"config file {path} holds a password and others can read it (mode {mode:o}): "
            f"run `chmod 600 {path}`"
        )
    return settings


def _holds_password(value: str) -> bool:
    """A DSN with a password, as a URL (user:secret@) or as key=value."""
    return bool(re.search(r"://[^/@\s]*:[^/@\s]+@", value) or re.search(r"\bpassword\s*=", value))


def get(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value:
        return value
    return _file_settings().get(name) or default


#: bcrypt's least cost, and about a second per login: the database's bound (0026).
BCRYPT_ROUNDS = range(4, 15)


def bcrypt_rounds() -> int:
    value = get("EPIC_EVENTS_BCRYPT_ROUNDS", "12")
    if not (value.isascii() and value.isdigit() and int(value) in BCRYPT_ROUNDS):
        from . import errors

        raise errors.InvalidInput(
            f"EPIC_EVENTS_BCRYPT_ROUNDS must be a whole number from {BCRYPT_ROUNDS.start}"
            f" to {BCRYPT_ROUNDS.stop - 1} (got {value!r})"
        )
    return int(value)


def phone_region() -> str:
    return get("EPIC_EVENTS_PHONE_REGION", "FR")
