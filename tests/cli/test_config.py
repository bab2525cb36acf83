"""Configuration that must not leak or be trusted: a bad DATABASE_URL, a readable config file."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from epic_events import config
from epic_events.cli.main import cli

PASSWORD = "SuperSecretPw123"


@pytest.fixture(autouse=True)
def _fresh_config():
    config._file_settings.cache_clear()
    yield
    config._file_settings.cache_clear()


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://epic_authenticator:{PASSWORD}@[bad/epic_events",
        f"host=db.example password={PASSWORD} nonsense",
        f"user=epic_authenticator password='{PASSWORD}",
    ],
)
def test_a_malformed_database_url_is_named_and_its_password_never_printed(monkeypatch, url):
    monkeypatch.setenv("DATABASE_URL", url)
    # login goes to the database at once (client list would first say "not logged in").
    result = CliRunner().invoke(
        cli, ["login", "--email", "a@b.fr", "--password-stdin"], input="whatever-password\n"
    )
    assert result.exit_code == 6, result.output
    assert "DATABASE_URL" in result.stderr and "not a valid" in result.stderr
    assert PASSWORD not in result.output and PASSWORD not in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://epic_authenticator:{PASSWORD}@127.0.0.1:1/epic_events?connect_timeout=2",
        f"postgresql://epic_authenticator:{PASSWORD}@db.example:notaport/epic",
    ],
)
def test_an_unreachable_database_never_prints_the_password(monkeypatch, url):
    monkeypatch.setenv("DATABASE_URL", url)
    result = CliRunner().invoke(
        cli, ["login", "--email", "a@b.fr", "--password-stdin"], input="whatever-password\n"
    )
    assert result.exit_code == 6
    assert PASSWORD not in result.output


def write_config(tmp_path, text: str, mode: int):
    path = tmp_path / "config.toml"
    path.write_text(text)
    os.chmod(path, mode)
    return path


@pytest.mark.parametrize(
    "line",
    [
        f'DATABASE_URL = "postgresql://epic_authenticator:{PASSWORD}@db.example/epic"',
        f'EPIC_EVENTS_ADMIN_DSN = "host=db.example user=admin password={PASSWORD}"',
    ],
)
def test_a_config_file_holding_a_password_is_refused_when_others_can_read_it(tmp_path, monkeypatch, line):
    monkeypatch.setenv("EPIC_EVENTS_CONFIG", str(write_config(tmp_path, line + "\n", 0o644)))
    result = CliRunner().invoke(
        cli, ["login", "--email", "a@b.fr", "--password-stdin"], input="whatever-password\n"
    )
    assert result.exit_code == 6
    assert "chmod 600" in result.stderr and "others can read it" in result.stderr
    assert PASSWORD not in result.output


def test_the_same_file_mode_600_is_used(tmp_path, monkeypatch):
    path = write_config(tmp_path, f'DATABASE_URL = "postgresql://u:{PASSWORD}@db.example/epic"\n', 0o600)
    monkeypatch.setenv("EPIC_EVENTS_CONFIG", str(path))
    assert config.get("DATABASE_URL").endswith("@db.example/epic")


def test_a_readable_config_file_without_a_secret_is_fine(tmp_path, monkeypatch):
    path = write_config(
        tmp_path,
        'DATABASE_URL = "postgresql://epic_authenticator@db.example/epic"\n'
        'SENTRY_ENVIRONMENT = "production"\n',
        0o644,
    )
    monkeypatch.setenv("EPIC_EVENTS_CONFIG", str(path))
    assert config.get("SENTRY_ENVIRONMENT") == "production"


def test_no_signing_key_is_configurable():
    assert not {"SECRET_KEY", "JWT_KID", "SECRET_KEY_PREV", "JWT_KID_PREV"} & set(config.NAMES)
