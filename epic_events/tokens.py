"""Where the access and refresh tokens live between commands.

In the OS keyring (service "epic-events") when a usable backend exists; else
(headless Linux) in a file created 0600 in the user's state directory. A
marker file remembers which, so reading the tokens on every command neither
imports keyring when the file is used nor pays for keyring's backend
discovery when it is not. Tokens are never printed.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

from . import config, errors

SERVICE = "epic-events"
_UNUSABLE = ("keyring.backends.fail", "keyring.backends.null", "keyring.backends.chainer")


def target_key(dsn_identity: str) -> str:
    """Tokens belong to one database: a short digest of host/port/dbname (no password)."""
    return hashlib.sha256(dsn_identity.encode()).hexdigest()[:12]


class TokenStore:
    def __init__(self, target: str, directory: Path | None = None):
        self.target = target
        self.directory = directory or config.state_dir()
        self.file = self.directory / f"tokens-{target}.json"
        self.marker = self.directory / f"tokens-{target}.store"

    # -- public -------------------------------------------------------------
    def load(self) -> dict | None:
        tokens = self._load()
        if tokens:
            from . import observability

            observability.forget(tokens.get("access"))
            observability.forget(tokens.get("refresh"))
        return tokens

    def _load(self) -> dict | None:
        where = self._where()
        if where == "file":
            return self._load_file()
        if where:
            backend = _backend_by_name(where)
            if backend is not None:
                raw = backend.get_password(SERVICE, self._username)
                return json.loads(raw) if raw else None
        return None

    def save(self, tokens: dict) -> str:
        """Store tokens; returns where ("keyring:<backend>" or "file")."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        payload = json.dumps(tokens)
        backend = _usable_backend()
        if backend is not None:
            try:
                backend.set_password(SERVICE, self._username, payload)
                name = f"{type(backend).__module__}.{type(backend).__qualname__}"
                self._write_marker(name)
                self.file.unlink(missing_ok=True)
                return "keyring:" + name
            except Exception:
                pass  # a locked or broken keyring: fall back to the file
        self._write_file(payload)
        self._write_marker("file")
        return "file"

    def clear(self) -> None:
        where = self._where()
        if where and where != "file":
            backend = _backend_by_name(where)
            if backend is not None:
                try:
                    backend.delete_password(SERVICE, self._username)
                except Exception:
                    pass  # already gone
        self.file.unlink(missing_ok=True)
        self.marker.unlink(missing_ok=True)

    # -- internals ----------------------------------------------------------
    @property
    def _username(self) -> str:
        return f"tokens-{self.target}"

    def _where(self) -> str | None:
        try:
            return self.marker.read_text().strip() or None
        except FileNotFoundError:
            return "file" if self.file.exists() else None

    def _write_marker(self, value: str) -> None:
        self.marker.write_text(value + "\n")

    def _write_file(self, payload: str) -> None:
        tmp = self.file.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(payload)
        os.replace(tmp, self.file)

    def _load_file(self) -> dict | None:
        try:
            st = self.file.stat()
        except FileNotFoundError:
            return None
        if stat.S_IMODE(st.st_mode) & 0o077:
            raise errors.NotLoggedIn(
                f"token file {self.file} is readable by others (mode {stat.S_IMODE(st.st_mode):o}); "
                "refusing to use it: run `epic-events login` again")
        return json.loads(self.file.read_text())


def _usable_backend():
    """The keyring backend to use, or None: honours PYTHON_KEYRING_BACKEND."""
    forced = os.environ.get("PYTHON_KEYRING_BACKEND")
    if forced:
        if forced.startswith(_UNUSABLE):
            return None
        return _backend_by_name(forced)
    try:
        import keyring

        backend = keyring.get_keyring()
    except Exception:
        return None
    name = type(backend).__module__
    if name.startswith(_UNUSABLE) or getattr(backend, "priority", 0) <= 0:
        return None
    return backend


def _backend_by_name(dotted: str):
    """Instantiate a keyring backend class directly: no discovery of the others."""
    module_name, _, cls_name = dotted.rpartition(".")
    try:
        import importlib

        module = importlib.import_module(module_name)
        return getattr(module, cls_name)()
    except Exception:
        return None
