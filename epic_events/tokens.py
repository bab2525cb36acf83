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
from contextlib import contextmanager
from pathlib import Path

from . import config, errors

SERVICE = "epic-events"
_UNUSABLE = ("keyring.backends.fail", "keyring.backends.null")
_CHAINER = "keyring.backends.chainer"


def target_key(dsn_identity: str) -> str:
    """Tokens belong to one database: a short digest of host/port/dbname (no password)."""
    return hashlib.sha256(dsn_identity.encode()).hexdigest()[:12]


class TokenStore:
    def __init__(self, target: str, directory: Path | None = None):
        self.target = target
        self.directory = directory or config.state_dir()
        self.file = self.directory / f"tokens-{target}.json"
        self.marker = self.directory / f"tokens-{target}.store"
        self.lock_file = self.directory / f"tokens-{target}.lock"
        # What the last load() returned: lets a refresh notice that another
        # command on this machine rotated the tokens in the meantime.
        self.last_seen: dict | None = None

    # -- public -------------------------------------------------------------
    def load(self, lenient: bool = False) -> dict | None:
        """The stored tokens, or None. A loose file mode or damaged content is an
        error, unless `lenient` (logout: the tokens are only used to revoke, and
        a forged one fails its signature check anyway)."""
        tokens = self._load(lenient)
        self.last_seen = tokens
        if tokens:
            from . import observability

            observability.forget(tokens.get("access"))
            observability.forget(tokens.get("refresh"))
        return tokens

    def _load(self, lenient: bool) -> dict | None:
        where = self._where()
        raw = None
        if where == "file":
            raw = self._load_file(lenient)
        elif where:
            backend = _backend_by_name(where)
            if backend is not None:
                try:
                    raw = backend.get_password(SERVICE, self._username)
                except Exception:
                    if lenient:
                        return None
                    raise errors.NotLoggedIn(
                        "could not read your tokens from the keyring (locked?): unlock it, "
                        "or run `epic-events login`"
                    ) from None
        try:
            return _parse(raw)
        except errors.NotLoggedIn:
            if lenient:
                return None
            raise

    @contextmanager
    def lock(self):
        """Serialize refreshes between commands running at once on this machine.

        Two commands that both find the access token expired would otherwise both
        hand in the same refresh token, and the second would look like a replay
        (which revokes the session). Where flock is missing (Windows), no lock.
        """
        try:
            import fcntl
        except ImportError:
            yield
            return
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def save(self, tokens: dict) -> str:
        """Store tokens; returns where ("keyring:<backend>" or "file")."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        payload = json.dumps(tokens)
        self.last_seen = tokens
        backend = _usable_backend()
        # A chainer (several keyrings on this desktop) is unrolled, so that the
        # marker names the keyring that took the tokens and reading them back
        # needs no discovery of all the others.
        try:
            candidates = (
                []
                if backend is None
                else (list(backend.backends) if type(backend).__module__.startswith(_CHAINER) else [backend])
            )
        except Exception:
            candidates = []  # discovery failed: the file it is
        for candidate in candidates:
            try:
                candidate.set_password(SERVICE, self._username, payload)
            except Exception:
                continue  # a locked or broken keyring: try the next, else the file
            name = f"{type(candidate).__module__}.{type(candidate).__qualname__}"
            self._write_marker(name)
            self.file.unlink(missing_ok=True)
            return "keyring:" + name
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
        # Replaced, never rewritten in place (and left alone when unchanged): a
        # command starting meanwhile must not read it empty and say "not logged in".
        try:
            if self.marker.read_text() == value + "\n":
                return
        except FileNotFoundError:
            pass
        tmp = self.marker.with_name(f"{self.marker.name}.{os.urandom(6).hex()}.tmp")
        tmp.write_text(value + "\n")
        os.replace(tmp, self.marker)

    def _write_file(self, payload: str) -> None:
        # A temporary name of its own (two logins may save at the same instant),
        # created 0600 before anything is written to it, then renamed over.
        tmp = self.file.with_name(f"{self.file.name}.{os.urandom(6).hex()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(payload)
        os.replace(tmp, self.file)

    def _load_file(self, lenient: bool = False) -> str | None:
        try:
            st = self.file.stat()
        except FileNotFoundError:
            return None
        if lenient:
            return self.file.read_text()
        if stat.S_IMODE(st.st_mode) & 0o077:
            raise errors.NotLoggedIn(
                f"token file {self.file} is readable by others (mode {stat.S_IMODE(st.st_mode):o}); "
                "refusing to use it: run `epic-events login` again"
            )
        if st.st_uid != os.geteuid():
            raise errors.NotLoggedIn(
                f"token file {self.file} belongs to another user; refusing to use it: "
                "run `epic-events login` again"
            )
        return self.file.read_text()


def _parse(raw: str | None) -> dict | None:
    """The stored JSON, if it has the expected shape; damaged tokens mean a new login."""
    if not raw:
        return None
    try:
        tokens = json.loads(raw)
    except ValueError:
        tokens = None
    if (
        not isinstance(tokens, dict)
        or not isinstance(tokens.get("access"), str)
        or not isinstance(tokens.get("refresh"), str)
    ):
        raise errors.NotLoggedIn("your stored tokens are damaged: run `epic-events login`")
    return tokens


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
