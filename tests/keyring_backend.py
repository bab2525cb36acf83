"""A keyring backend for tests: secrets in a module-level dict, nothing on disk.

Select it with PYTHON_KEYRING_BACKEND=tests.keyring_backend.MemoryKeyring. The
token store instantiates the class anew on every command, so the secrets live
in the module (SECRETS), not in the instance.
"""

from __future__ import annotations

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

SECRETS: dict[tuple[str, str], str] = {}


class MemoryKeyring(KeyringBackend):
    priority = 1

    def get_password(self, service: str, username: str) -> str | None:
        return SECRETS.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        SECRETS[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del SECRETS[(service, username)]
        except KeyError:
            raise PasswordDeleteError(f"no secret for {service}/{username}") from None
