"""SPEC "Observability": Sentry tells us who hit what, and never leaks a secret.

Every test that turns Sentry on points SENTRY_DSN at its own endpoint: a small
threaded HTTP server on 127.0.0.1 that accepts the SDK's envelope POSTs and
keeps their bytes (un-gzipped: the bytes Sentry itself would read). Commands
run in process through Click's runner, so each test ends with
observability.shutdown() to leave no Sentry client, user or tag behind.
"""

from __future__ import annotations

import gzip
import importlib
import json
import logging
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
from click.testing import CliRunner

import epic_events.cli.client as client_commands
from epic_events import __version__, auth, errors, observability
from epic_events.cli.main import cli as root
from tests.cli.conftest import Result, admin_one
from tests.world import PASSWORD

FILTERED = observability.FILTERED


# -- a local Sentry ----------------------------------------------------------------
@dataclass
class Envelope:
    path: str
    headers: dict
    body: bytes  # decompressed: what the server reads
    items: list[tuple[dict, bytes]] = field(default_factory=list)


class Collector:
    """An HTTP endpoint that records every Sentry envelope sent to it."""

    def __init__(self):
        self.envelopes: list[Envelope] = []
        self._lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    raw = gzip.decompress(raw)
                elif encoding == "br":
                    import brotli

                    raw = brotli.decompress(raw)
                # Recorded before answering: once the SDK's flush returns, it is here.
                collector._record(Envelope(self.path, dict(self.headers), raw, _items(raw)))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.dsn = f"http://public@127.0.0.1:{self.server.server_address[1]}/1"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def _record(self, envelope: Envelope) -> None:
        with self._lock:
            self.envelopes.append(envelope)

    @property
    def raw(self) -> bytes:
        with self._lock:
            return b"\n".join(e.body for e in self.envelopes)

    def events(self) -> list[dict]:
        """Error and message events, in arrival order (not sessions or client reports)."""
        with self._lock:
            return [
                json.loads(payload)
                for e in self.envelopes
                for header, payload in e.items
                if header.get("type") == "event"
            ]


def _items(body: bytes) -> list[tuple[dict, bytes]]:
    """Split an envelope: a header line, then (item header line, payload) pairs."""
    _, _, rest = body.partition(b"\n")
    items = []
    while rest.strip():
        line, _, rest = rest.partition(b"\n")
        header = json.loads(line)
        if "length" in header:
            payload, rest = rest[: header["length"]], rest[header["length"] + 1 :]
        else:
            payload, _, rest = rest.partition(b"\n")
        items.append((header, payload))
    return items


@pytest.fixture(autouse=True)
def _fresh_sentry(monkeypatch):
    """Defaults for the Sentry settings; no client survives a test."""
    for var in ("SENTRY_ENVIRONMENT", "SENTRY_SAMPLE_RATE"):
        monkeypatch.delenv(var, raising=False)
    observability.shutdown()
    yield
    observability.shutdown()


@pytest.fixture
def sentry(monkeypatch):
    with Collector() as collector:
        monkeypatch.setenv("SENTRY_DSN", collector.dsn)
        yield collector
        observability.shutdown()


def run(cli, *args, input: str | None = None) -> Result:
    """`epic-events ARGS` in process, named as a user's shell names it."""
    r = cli.runner.invoke(
        root, [str(a) for a in args], input=input, prog_name="epic-events", catch_exceptions=False
    )
    return Result(r.exit_code, r.stdout, r.stderr)


def _crash(*args, **kwargs):
    raise RuntimeError("induced crash while printing")


INTERNAL_ERROR = "error: internal error (RuntimeError); run again with --debug for details\n"


def _command_or_skip(group: str, name: str) -> None:
    try:
        module = importlib.import_module(f"epic_events.cli.{group}")
    except ImportError:
        pytest.skip(
            f"`epic-events {group} {name}` is not available yet (epic_events/cli/{group}.py is missing)"
        )
    command_group = getattr(module, group, None)
    if command_group is None or name not in getattr(command_group, "commands", {}):
        pytest.skip(f"`epic-events {group} {name}` is not available yet")


# -- 1. a crash says who, what, where ---------------------------------------------
def test_a_crash_reaches_sentry_with_the_employee_the_command_and_its_options(cli, sentry, monkeypatch):
    cli.login("sales")
    monkeypatch.setattr(client_commands, "emit_page", _crash)

    r = run(cli, "client", "list", "--mine", "--search", "acme", "--format", "json")

    assert r.exit_code == 70
    assert r.stderr == INTERNAL_ERROR
    # Flushed before the command returned: no waiting here.
    [event] = sentry.events()
    assert event["level"] == "error"
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert event["exception"]["values"][-1]["value"] == "induced crash while printing"
    assert event["user"] == {"id": str(cli.world.ids["sales"])}
    assert event["tags"]["department"] == "sales"
    assert event["tags"]["command"] == "epic-events client list"
    assert event["contexts"]["command"] == {
        "path": "epic-events client list",
        "options": {
            "mine": True,
            "search": "acme",
            "company_id": None,
            "stale": None,
            "limit": 50,
            "offset": None,
            "page": None,
            "sort": "id",
            "desc": False,
            "all_rows": False,
            "fmt": "json",
        },
    }
    assert event["environment"] == "development"
    assert event["release"] == f"epic-events@{__version__}"
    assert "server_name" not in event  # the machine's name is not Sentry's business
    assert all(e.path == "/api/1/envelope/" for e in sentry.envelopes)


def test_the_environment_comes_from_SENTRY_ENVIRONMENT(cli, sentry, monkeypatch):
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "production")
    cli.login("support")
    monkeypatch.setattr(client_commands, "emit_page", _crash)

    assert run(cli, "client", "list").exit_code == 70

    [event] = sentry.events()
    assert event["environment"] == "production"
    assert event["user"] == {"id": str(cli.world.ids["support"])}
    assert event["tags"]["department"] == "support"


def test_a_crash_before_the_command_logs_in_still_names_the_command(cli, sentry, monkeypatch):
    cli.login("sales")
    monkeypatch.setattr(client_commands, "paging", _crash)  # runs before App.run

    r = run(cli, "client", "list", "--limit", "5")

    assert r.exit_code == 70
    [event] = sentry.events()
    assert event["tags"]["command"] == "epic-events client list"
    assert event["contexts"]["command"]["options"]["limit"] == 5
    assert "user" not in event  # not known yet: nobody's id is guessed


def test_a_refusal_or_a_user_error_is_not_a_crash_and_sends_nothing(cli, sentry):
    cli.login("support")
    r = run(cli, "client", "create", "--name", "Ada", "--email", "ada@x.io")
    assert r.exit_code == 3
    r = run(cli, "client", "view", 999999)
    assert r.exit_code == 4
    assert sentry.events() == []


def test_an_unforeseen_database_error_is_reported_as_the_bug_it_is(cli, sentry, monkeypatch):
    # errors.from_database's fallback: an AppError with the internal exit code.
    def unforeseen(*args, **kwargs):
        raise errors.AppError("database error: could not serialize the unserializable")

    cli.login("sales")
    monkeypatch.setattr(client_commands, "emit_page", unforeseen)

    r = run(cli, "client", "list")

    assert r.exit_code == 70
    assert r.stderr == "error: database error: could not serialize the unserializable\n"
    [event] = sentry.events()
    assert event["exception"]["values"][-1]["type"] == "AppError"
    assert event["tags"]["command"] == "epic-events client list"


# -- 2. business events ----------------------------------------------------------
def test_signing_a_contract_sends_a_contract_signed_event(cli, sentry):
    _command_or_skip("contract", "sign")
    cli.login("sales")
    contract_id = cli.world.ids["contract"]

    r = run(cli, "contract", "sign", contract_id, "--yes", "--format", "json")

    assert r.exit_code == 0, r.stderr
    [event] = sentry.events()
    assert event["level"] == "info"
    assert event["message"] == "contract signed"
    business = event["contexts"]["business"]
    assert business["contract_id"] == contract_id
    assert (
        business["client_id"]
        == admin_one(cli.world, "select client_id from epic_events.contract where id = %s", (contract_id,))[0]
    )
    assert event["user"] == {"id": str(cli.world.ids["sales"])}
    assert event["tags"]["department"] == "sales"
    assert event["tags"]["command"] == "epic-events contract sign"


def test_creating_an_employee_sends_an_employee_created_event_without_the_password(cli, sentry):
    _command_or_skip("employee", "create")
    cli.login("manager")
    new_password = "a-brand-new-password-42"

    r = run(
        cli,
        "employee",
        "create",
        "--name",
        "Nina New",
        "--email",
        "nina@epic.test",
        "--department",
        "support",
        "--password-stdin",
        "--format",
        "json",
        input=new_password + "\n",
    )

    assert r.exit_code == 0, r.stderr
    new_id = json.loads(r.stdout)["id"]
    [event] = sentry.events()
    assert event["level"] == "info"
    assert event["message"] == "employee created"
    assert event["contexts"]["business"]["employee_id"] == new_id
    assert event["contexts"]["business"]["department"] == "support"
    assert event["user"] == {"id": str(cli.world.ids["manager"])}
    assert event["tags"]["command"] == "epic-events employee create"
    assert event["contexts"]["command"]["options"]["password_stdin"] is True  # a flag, no secret
    assert new_password.encode() not in sentry.raw
    assert not re.search(rb"\$2[aby]\$", sentry.raw)


# -- 3. no secret leaves the machine ------------------------------------------------
def test_a_crash_while_changing_a_password_leaks_no_password_and_no_verifier(cli, sentry, monkeypatch):
    """`epic-events password` holds the new password's verifier, sha256(bcrypt output):
    what the database keeps and hands to nobody (with the salt, which is public, it can
    be cracked offline like a bcrypt hash)."""
    from epic_events import db

    cli.login("sales")
    made = []
    real_record, real_run = auth.password_record, db.Transaction.run

    def recording(password):
        made.append(real_record(password))
        return made[-1]

    def crashing(self, dotted, params=None):
        if dotted == "session.change_own_password":
            raise RuntimeError("induced crash while changing the password")
        return real_run(self, dotted, params)

    monkeypatch.setattr(auth, "password_record", recording)
    monkeypatch.setattr(db.Transaction, "run", crashing)

    r = run(cli, "password", "--password-stdin", input=f"{PASSWORD}\na-brand-new-password-42\n")

    assert r.exit_code == 70
    assert r.stderr == INTERNAL_ERROR
    [(new_salt, new_verifier)] = made
    [event] = sentry.events()
    raw = sentry.raw
    for secret in (PASSWORD, "a-brand-new-password-42"):
        assert secret.encode() not in raw, f"{secret[:8]}… reached Sentry"
    for shown in (new_verifier.hex(), repr(new_verifier), json.dumps(repr(new_verifier))[1:-1]):
        assert shown.encode() not in raw, "the new password's verifier reached Sentry"
    assert event["user"] == {"id": str(cli.world.ids["sales"])}
    assert event["tags"]["command"] == "epic-events password"


def test_a_crash_with_secrets_in_its_locals_and_message_leaks_none_of_them(cli, sentry, monkeypatch):
    cli.login("sales")
    state = Path(os.environ["XDG_STATE_HOME"]) / "epic-events"
    stored = json.loads(next(state.glob("tokens-*.json")).read_text())
    leaked = {}

    def leaky_render(*args, **kwargs):
        password = "hunter2-very-secret"
        # A JWT of the same shape as the database's (signed here with a throwaway key).
        token = jwt.encode(
            {"sub": "1", "dept": "sales", "sid": str(uuid.uuid4())},
            secrets.token_bytes(32),
            algorithm="HS256",
            headers={"kid": "k1"},
        )
        dsn = "postgresql://u:dbpass-secret@h/db"
        bcrypt_output = auth.proof(password, auth.password_record(password)[0])
        cached = bcrypt_output  # a login proof (a bcrypt hash) under an innocent name
        tokens = stored
        opaque = stored["refresh"]  # no shape to spot: removed because the store read it
        leaked.update(password=password, token=token, hash=cached, tokens=tokens)
        logging.getLogger("epic_events.test").warning("retrying with %s and %s", token, dsn)
        try:
            raise ValueError(f"password={password} rejected")
        except ValueError:
            # Chained on purpose (no "from"): Sentry reports both exceptions.
            raise RuntimeError(  # noqa: B904
                f"login of {password} with {token} failed on {dsn} "
                f"(hash {cached}, Authorization: Bearer {token}, next {opaque})"
            )

    monkeypatch.setattr(client_commands, "emit_page", leaky_render)

    r = run(cli, "client", "list")

    assert r.exit_code == 70
    assert r.stderr == INTERNAL_ERROR
    [event] = sentry.events()
    raw = sentry.raw
    for secret in (
        leaked["password"],
        leaked["token"],
        "dbpass-secret",
        cli.world.db.authenticator_password,
        stored["access"],
        stored["refresh"],
        leaked["hash"],
        PASSWORD,
    ):
        assert secret.encode() not in raw, f"{secret[:12]}… reached Sentry"
    assert not re.search(rb"\$2[aby]\$\d\d\$", raw), "a bcrypt hash reached Sentry"
    assert b"eyJ" not in raw, "a JWT reached Sentry"
    # Still useful: what failed, where, with the secrets replaced rather than the event dropped.
    message = event["exception"]["values"][-1]["value"]
    assert message == (
        f"login of {FILTERED} with {FILTERED} failed on {FILTERED} "
        f"(hash {FILTERED}, Authorization: Bearer {FILTERED}, next {FILTERED})"
    )
    assert [v["type"] for v in event["exception"]["values"]] == ["ValueError", "RuntimeError"]
    assert event["exception"]["values"][0]["value"] == f"password={FILTERED} rejected"
    frame = next(
        f for f in event["exception"]["values"][-1]["stacktrace"]["frames"] if f["function"] == "leaky_render"
    )
    assert frame["vars"]["password"] == FILTERED
    assert frame["vars"]["token"] == FILTERED
    assert frame["vars"]["opaque"] in (FILTERED, repr(FILTERED))  # by value, inside its repr
    assert event["breadcrumbs"]["values"][-1]["message"] == (
        f"retrying with {FILTERED} and postgresql://u:{FILTERED}@h/db"
    )
    assert event["user"] == {"id": str(cli.world.ids["sales"])}


# -- 4. off unless configured --------------------------------------------------------
DRIVER = """
import sys
import epic_events.cli.client as client_commands
from epic_events.cli.main import main

def run(*args):
    sys.argv = ["epic-events", *args]
    try:
        main()
    except SystemExit as exc:
        print(f"exit {exc.code}", file=sys.stderr)

run("client", "list", "--format", "json")
def crash(*args, **kwargs):
    raise RuntimeError("induced crash")
client_commands.emit_page = crash
run("client", "list", "--format", "json")
print("sentry_sdk " + ("loaded" if "sentry_sdk" in sys.modules else "absent"), file=sys.stderr)
"""


def _driver(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", DRIVER],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[2],
    )


def test_without_SENTRY_DSN_nothing_is_sent_and_sentry_sdk_is_never_imported(cli, monkeypatch):
    cli.login("sales")
    with Collector() as endpoint:
        # In process: a crash is reported on stderr only.
        monkeypatch.setattr(client_commands, "emit_page", _crash)
        r = run(cli, "client", "list")
        assert r.exit_code == 70
        assert r.stderr == INTERNAL_ERROR
        assert not observability.enabled()

        # In a real process (imports from other tests cannot hide one): a full
        # logged-in run, then a crash.
        env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")}
        done = _driver(env)

        assert endpoint.envelopes == []
    lines = done.stderr.splitlines()
    assert lines == ["exit 0", INTERNAL_ERROR.strip(), "exit 70", "sentry_sdk absent"], done.stderr
    assert {c["id"] for c in json.loads(done.stdout)} == {cli.world.ids["client"], cli.world.ids["client2"]}


def test_a_real_process_delivers_its_crash_before_it_exits_and_says_nothing_about_it(cli, sentry):
    cli.login("sales")

    done = _driver(dict(os.environ))

    # The process has exited: whatever it sent is here already.
    assert [e["exception"]["values"][-1]["value"] for e in sentry.events()] == ["induced crash"]
    # Its stderr is the CLI's own lines, no word from the SDK.
    assert done.stderr.splitlines() == ["exit 0", INTERNAL_ERROR.strip(), "exit 70", "sentry_sdk loaded"], (
        done.stderr
    )


def test_an_unanswering_sentry_delays_the_exit_by_the_flush_timeout_at_most(cli, monkeypatch):
    assert observability.FLUSH_TIMEOUT <= 2
    cli.login("sales")
    monkeypatch.setattr(client_commands, "emit_page", _crash)
    # Accepts connections (the kernel does) and never answers.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        monkeypatch.setenv("SENTRY_DSN", f"http://public@127.0.0.1:{silent.getsockname()[1]}/1")
        started = time.monotonic()
        r = run(cli, "client", "list")
        elapsed = time.monotonic() - started
    finally:
        silent.close()

    assert r.exit_code == 70
    assert r.stderr == INTERNAL_ERROR
    assert elapsed < observability.FLUSH_TIMEOUT + 1.5
    # The client is closed: the SDK's exit hook has nothing left to wait for.
    import sentry_sdk

    assert sentry_sdk.get_client().transport is None
    assert not observability.enabled()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SENTRY_DSN", "not a dsn", "SENTRY_DSN: not a valid Sentry DSN"),
        ("SENTRY_SAMPLE_RATE", "lots", "SENTRY_SAMPLE_RATE: must be a number from 0 to 1"),
        ("SENTRY_SAMPLE_RATE", "1.5", "SENTRY_SAMPLE_RATE: must be a number from 0 to 1"),
    ],
)
def test_a_broken_sentry_setting_is_one_line_naming_it(monkeypatch, variable, value, message):
    monkeypatch.setenv("SENTRY_DSN", "http://public@127.0.0.1:9/1")
    monkeypatch.setenv(variable, value)
    r = CliRunner().invoke(root, ["whoami"], prog_name="epic-events")
    assert r.exit_code == 6
    assert r.stderr == f"error: {message}\n"


# -- 5. scrub -------------------------------------------------------------------------
JWT = (
    "eyJhbGciOiJIUzI1NiIsImtpZCI6InYxIiwidHlwIjoiSldUIn0."
    "eyJzdWIiOiI0MiIsInR5cCI6ImFjY2VzcyJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
)
BCRYPT = "$2b$12$" + "abcdefghijklmnopqrstuv" + "wxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0"


def test_scrub_hides_values_under_secret_looking_keys_at_any_depth():
    data = {
        "password": "hunter2-very-secret",
        "Authorization": "Bearer abc.def",
        "SECRET_KEY": "x" * 40,
        "refresh_token": None,
        "nested": {
            "user": {"password_hash": BCRYPT, "email": "sam@epic.test"},
            "rows": [{"access": "tok-1"}, {"name": "Ada"}],
        },
        "tokens": {"access": "tok-2", "refresh": "tok-3"},
        "api_keys": ["k-1234", "k-5678"],
        "dsn": "postgresql://u:p@h/db",
        "has_password": True,
        "count": 3,
    }
    assert observability.scrub(data) == {
        "password": FILTERED,
        "Authorization": FILTERED,
        "SECRET_KEY": FILTERED,
        "refresh_token": None,
        "nested": {
            "user": {"password_hash": FILTERED, "email": "sam@epic.test"},
            "rows": [{"access": FILTERED}, {"name": "Ada"}],
        },
        "tokens": {"access": FILTERED, "refresh": FILTERED},
        "api_keys": [FILTERED, FILTERED],
        "dsn": FILTERED,
        "has_password": True,
        "count": 3,
    }
    assert data["password"] == "hunter2-very-secret"  # a copy: the original is untouched


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"token {JWT} refused", f"token {FILTERED} refused"),
        (f"stored {BCRYPT}.", f"stored {FILTERED}."),
        (
            "postgresql://epic:s3cr3t-pw@db.example:5432/epic",
            f"postgresql://epic:{FILTERED}@db.example:5432/epic",
        ),
        ("host=db password=s3cr3t-pw dbname=epic", f"host=db password={FILTERED} dbname=epic"),
        ("host=db password='with space' dbname=epic", f"host=db password={FILTERED} dbname=epic"),
        ("PASSWORD = hunter2", f"PASSWORD = {FILTERED}"),
        ("PGPASSWORD=hunter2 psql", f"PGPASSWORD={FILTERED} psql"),
        ("GET /cb?refresh_token=abc123&next=/", f"GET /cb?refresh_token={FILTERED}&next=/"),
        (
            "bad row {'email': 'a@b.c', 'password': 'hunter 2'}",
            f"bad row {{'email': 'a@b.c', 'password': {FILTERED}}}",
        ),
        ('{"api_key": "k-1234", "id": 7}', f'{{"api_key": {FILTERED}, "id": 7}}'),
        ("Authorization: Bearer abc.DEF-123_x~", f"Authorization: Bearer {FILTERED}"),
        ("Authorization: Basic dXNlcjpwYXNz", f"Authorization: Basic {FILTERED}"),
        ("authorization=dXNlcjpwYXNz", f"authorization={FILTERED}"),
        ("sent with bearer abc.DEF", f"sent with bearer {FILTERED}"),
        # Ordinary words stay.
        ("client 12 not found", "client 12 not found"),
        ("password: at least 8 characters", "password: at least 8 characters"),
        (
            "stored token is invalid: run `epic-events login`",
            "stored token is invalid: run `epic-events login`",
        ),
        ("a basic check failed", "a basic check failed"),
        ("https://sentry.example/api/1/", "https://sentry.example/api/1/"),
    ],
)
def test_scrub_text_removes_secret_shaped_values(text, expected):
    assert observability.scrub_text(text) == expected
    assert observability.scrub({"message": text, "list": [text]}) == {"message": expected, "list": [expected]}


def test_configured_secrets_are_removed_even_where_no_pattern_would_spot_them(monkeypatch):
    monkeypatch.setenv("SENTRY_DSN", "http://public@127.0.0.1:9/1")
    monkeypatch.setenv("DATABASE_URL", "host=db user=epic_authenticator password=conninfo-pw-1")
    monkeypatch.setenv("EPIC_EVENTS_ADMIN_DSN", "postgresql://admin:url-pw-2@db/epic")
    monkeypatch.setenv("PGPASSWORD", "env-pw-3")
    observability.init()
    assert observability.scrub_text("conninfo-pw-1 / url-pw-2 / env-pw-3") == " / ".join([FILTERED] * 3)


def test_scrub_text_removes_values_forgotten_and_given_wherever_they_appear():
    observability.forget("plain-typed-password")
    observability.forget("abc")  # too short to hunt for: it would eat ordinary words
    text = "got plain-typed-password and local-secret-value, abc"
    assert observability.scrub_text(text, {"local-secret-value"}) == f"got {FILTERED} and {FILTERED}, abc"
