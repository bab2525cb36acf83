"""Issue "Log in once, then every command runs as you": login, logout, refresh,
whoami, password, through the CLI against the real database (SPEC "Authentication").

The database decides (migration 0015): it checks the bcrypt proof, throttles
failures (five per email in 15 minutes lock it), signs the access tokens,
issues the opaque refresh tokens, and records every login, failure, lockout
and logout in audit_log.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time

from epic_events import auth
from tests.cli.conftest import admin_one
from tests.cli.test_tokens_store import (  # noqa: F401  (autouse: no token in any output)
    claims_of,
    kid_of,
    no_token_in_output,
    resign,
    signing_key,
    token_store,
)
from tests.world import PASSWORD, SALT

SAM = "sam@epic.test"
LOGIN_FAILED = "error: login failed: unknown email or wrong password\n"
LOCKED = "error: login refused: too many failed attempts for this email; try again in 15 minutes\n"
NEW_PASSWORD = "a brand new passphrase"


def sessions_of(cli, key: str) -> int:
    return admin_one(
        cli.world, "select count(*) from epic_events.session where employee_id = %s", (cli.world.ids[key],)
    )[0]


def login_as_sam(cli, password: str, email: str = SAM):
    return cli("login", "--email", email, "--password-stdin", input=password + "\n")


def session_events(cli, email: str | None = None) -> list[tuple]:
    """The authentication events in audit_log, oldest first: (action, employee_id, row_id).
    Each login also records its attempt first ('login_attempt', before the verdict is
    told): counted here only by test_each_attempt_is_recorded_before_its_verdict."""
    with cli.world.db.admin() as conn:
        return conn.execute(
            "select action, employee_id, row_id from epic_events.audit_log"
            " where table_name = 'session' and action <> 'login_attempt'"
            " and (%s::text is null or row_id = lower(%s::text))"
            " order by id",
            (email, email),
        ).fetchall()


def test_each_attempt_is_recorded_before_its_verdict(cli):
    cli.login("sales")
    cli("login", "--email", "sam@epic.test", "--password-stdin", input="not the password\n")
    with cli.world.db.admin() as conn:
        actions = [
            r[0]
            for r in conn.execute(
                "select action from epic_events.audit_log where table_name = 'session' order by id"
            )
        ]
    assert actions == ["login_attempt", "login", "login_attempt", "login_failed"]


def digest(token: str) -> bytes:
    """How the database keeps a refresh token: its SHA-256, never the token."""
    return hashlib.sha256(token.encode()).digest()


# -- login / whoami / logout ---------------------------------------------------------
def test_login_whoami_logout_round_trip(cli):
    r = cli.login("sales")
    assert r.stderr == "Logged in as Sam Sales (sales).\n" and r.stdout == ""
    me = cli.json("whoami")
    assert (me["id"], me["full_name"], me["email"], me["department"]) == (
        cli.world.ids["sales"],
        "Sam Sales",
        SAM,
        "sales",
    )
    assert me["session_expires_at"]  # the refresh token's expiry, one day ahead

    r = cli("logout")
    assert (r.exit_code, r.stderr) == (0, "Logged out.\n")
    assert admin_one(
        cli.world,
        "select revoked_reason from epic_events.session where employee_id = %s",
        (cli.world.ids["sales"],),
    ) == ("logout",)
    r = cli("whoami")
    assert r.exit_code == 2
    assert "not logged in: run `epic-events login`" in r.stderr


def test_logging_in_again_closes_the_session_this_machine_had(cli):
    cli.login("sales")
    first = claims_of(token_store().load()["access"])["sid"]
    cli.login("sales")
    second = claims_of(token_store().load()["access"])["sid"]
    assert first != second
    assert admin_one(cli.world, "select revoked_reason from epic_events.session where id = %s", (first,)) == (
        "logout",
    )
    assert admin_one(cli.world, "select revoked_at from epic_events.session where id = %s", (second,)) == (
        None,
    )
    # Someone else logging in on this machine closes the previous person's session too.
    cli.login("sales2")
    assert admin_one(
        cli.world, "select revoked_reason from epic_events.session where id = %s", (second,)
    ) == ("logout",)
    assert cli.json("whoami")["id"] == cli.world.ids["sales2"]


def test_logging_in_over_damaged_tokens_works_and_closes_nothing(cli):
    cli.login("sales")
    sid = claims_of(token_store().load()["access"])["sid"]
    token_store().save(
        {"access": "not a token", "refresh": "not-a-refresh-token-of-this-database", "refresh_expires_at": 0}
    )
    cli.login("sales")
    assert admin_one(cli.world, "select revoked_at from epic_events.session where id = %s", (sid,)) == (None,)
    assert cli.json("whoami")["id"] == cli.world.ids["sales"]


def test_after_logout_every_command_is_refused_with_exit_2(cli):
    cli.login("sales")
    assert cli("logout").exit_code == 0
    for command in (["whoami"], ["refresh"], ["client", "list"], ["client", "view", cli.world.ids["client"]]):
        r = cli(*command)
        assert r.exit_code == 2, command
        assert "not logged in" in r.stderr and r.stdout == ""


def test_login_email_is_case_insensitive(cli):
    assert login_as_sam(cli, PASSWORD, email="Sam@EPIC.test").exit_code == 0
    assert cli.json("whoami")["id"] == cli.world.ids["sales"]


def test_a_login_is_recorded_in_the_audit_log(cli):
    cli.login("sales")
    sid = claims_of(token_store().load()["access"])["sid"]
    assert session_events(cli) == [("login", cli.world.ids["sales"], sid)]
    assert cli("logout").exit_code == 0
    assert session_events(cli)[-1] == ("logout", cli.world.ids["sales"], sid)


def test_wrong_password_and_unknown_email_get_the_same_answer(cli):
    wrong = login_as_sam(cli, "not the password")
    unknown = login_as_sam(cli, PASSWORD, email="nobody@epic.test")
    assert (wrong.exit_code, wrong.stderr) == (2, LOGIN_FAILED)
    assert (unknown.exit_code, unknown.stderr) == (2, LOGIN_FAILED)
    assert wrong.stdout == unknown.stdout == ""
    assert sessions_of(cli, "sales") == 0
    assert cli("whoami").exit_code == 2
    # Both recorded, the unknown email under no employee.
    assert session_events(cli) == [
        ("login_failed", cli.world.ids["sales"], SAM),
        ("login_failed", None, "nobody@epic.test"),
    ]


def test_an_unknown_email_gets_a_salt_as_a_real_one_would(cli):
    """auth_login_salt does not tell who works here: a stable, well-formed fake salt."""
    import psycopg

    from epic_events import queries

    with psycopg.connect(cli.world.db.app_dsn) as conn:

        def salt(email):
            return conn.execute(queries.get("session.login_salt").sql, {"email": email}).fetchone()[0]

        assert salt(SAM) == salt(SAM.upper()) == SALT
        fake = salt("nobody@epic.test")
        assert fake == salt("Nobody@EPIC.test") != salt("somebody@epic.test")
        assert fake[:7] == SALT[:7] and len(fake) == len(SALT)  # same cost, same shape
        assert auth.proof(PASSWORD, fake).startswith(fake)  # bcrypt accepts it


# -- lockout ---------------------------------------------------------------------------
def test_five_wrong_passwords_lock_the_email_even_for_the_right_one(cli):
    for attempt in range(5):
        r = login_as_sam(cli, f"wrong password {attempt}")
        assert (r.exit_code, r.stderr) == (2, LOGIN_FAILED), attempt
    r = login_as_sam(cli, PASSWORD)
    assert (r.exit_code, r.stderr, r.stdout) == (2, LOCKED, "")
    r = login_as_sam(cli, PASSWORD, email="SAM@epic.test")  # the same email, however spelt
    assert (r.exit_code, r.stderr) == (2, LOCKED)
    assert sessions_of(cli, "sales") == 0
    sam = cli.world.ids["sales"]
    assert session_events(cli) == [("login_failed", sam, SAM)] * 5 + [("login_locked", sam, SAM)] * 2
    # Other employees are not locked out by Sam's lock.
    cli.login("sales2")
    assert cli.json("whoami")["id"] == cli.world.ids["sales2"]


def test_the_lock_lifts_when_the_failures_are_older_than_15_minutes(cli):
    for attempt in range(5):
        assert login_as_sam(cli, f"wrong password {attempt}").exit_code == 2
    assert login_as_sam(cli, PASSWORD).stderr == LOCKED
    with cli.world.db.admin() as conn:
        conn.execute("update epic_events.login_attempt set attempted_at = now() - interval '16 minutes'")
    assert login_as_sam(cli, PASSWORD).exit_code == 0
    assert cli.json("whoami")["id"] == cli.world.ids["sales"]


def test_an_unknown_email_locks_the_same_way(cli):
    nobody = "nobody@epic.test"
    answers = [login_as_sam(cli, PASSWORD, email=nobody) for _ in range(6)]
    assert [(r.exit_code, r.stderr) for r in answers] == [(2, LOGIN_FAILED)] * 5 + [(2, LOCKED)]
    assert session_events(cli, nobody) == [("login_failed", None, nobody)] * 5 + [
        ("login_locked", None, nobody)
    ]


def test_a_deactivated_employee_cannot_log_in(cli):
    with cli.world.db.admin() as conn:
        conn.execute(
            "update epic_events.employee set is_active = false where id = %s", (cli.world.ids["sales"],)
        )
    r = login_as_sam(cli, PASSWORD)
    assert r.exit_code == 2
    assert "this account is deactivated" in r.stderr
    assert sessions_of(cli, "sales") == 0


def test_deactivation_cuts_a_logged_in_employee_off_at_once(cli):
    cli.login("sales")
    with cli.world.db.admin() as conn:
        conn.execute(
            "update epic_events.employee set is_active = false where id = %s", (cli.world.ids["sales"],)
        )
    r = cli("whoami")
    assert r.exit_code == 2
    assert "your session was closed" in r.stderr
    assert token_store().load() is None  # forgotten here too


def test_password_by_hidden_prompt_on_a_terminal(cli):
    cli.as_terminal()
    r = cli("login", input=f"{SAM}\n{PASSWORD}\n")
    assert r.exit_code == 0, r.stderr
    prompts = r.stdout + r.stderr
    assert "Email:" in prompts and "Password:" in prompts
    assert PASSWORD not in r.stdout + r.stderr  # hidden, never echoed
    assert cli.json("whoami")["id"] == cli.world.ids["sales"]


def test_without_a_terminal_the_password_must_come_from_stdin(cli):
    r = cli("login", "--email", SAM)
    assert r.exit_code == 1
    assert "no terminal to ask on; pass --password-stdin" in r.stderr
    r = cli("login", "--password-stdin", input=PASSWORD + "\n")
    assert r.exit_code == 1
    assert "missing option --email" in r.stderr
    r = cli("login", "--email", SAM, "--password-stdin", input="")
    assert r.exit_code == 1
    assert "nothing was read from standard input" in r.stderr
    assert sessions_of(cli, "sales") == 0


def test_a_real_process_without_a_terminal_fails_at_once_instead_of_waiting(cli):
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", "from epic_events.cli.main import main; main()", "login", "--email", SAM],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1, done.stderr
    assert "pass --password-stdin" in done.stderr
    assert time.monotonic() - started < 30


def test_refresh_rotates_both_tokens(cli):
    cli.login("sales")
    before = token_store().load()
    r = cli("refresh")
    assert r.exit_code == 0 and "Tokens refreshed; access valid until" in r.stderr
    after = token_store().load()
    assert after["refresh"] != before["refresh"]
    assert claims_of(after["access"])["sid"] == claims_of(before["access"])["sid"]
    # The database keeps the chain: the old token is marked rotated, pointing to the new one.
    assert admin_one(
        cli.world,
        "select rotated_at is not null, replaced_by = %s"
        " from epic_events.session_token where token_hash = %s",
        (digest(after["refresh"]), digest(before["refresh"])),
    ) == (True, True)
    # The new access token is the database's: signed with its current key, and it verifies.
    assert kid_of(after["access"]) == signing_key(cli.world)[0]
    assert admin_one(
        cli.world, "select epic_events.verify_access_token(%s) ->> 'sub'", (after["access"],)
    ) == (str(cli.world.ids["sales"]),)
    assert cli.json("whoami")["id"] == cli.world.ids["sales"]


# -- several machines --------------------------------------------------------------------
def on_machine(monkeypatch, home, name: str) -> None:
    """Each machine has its own state directory, so its own token store."""
    monkeypatch.setenv("XDG_STATE_HOME", str(home / name))


def test_logout_all_closes_the_sessions_on_every_machine(cli, monkeypatch, tmp_path):
    on_machine(monkeypatch, tmp_path, "laptop")
    cli.login("sales")
    on_machine(monkeypatch, tmp_path, "desktop")
    cli.login("sales")
    cli.world.as_("sales2")  # another employee's session, which must survive
    r = cli("logout", "--all")
    assert (r.exit_code, r.stderr) == (0, "Logged out everywhere (2 session(s) closed).\n")

    on_machine(monkeypatch, tmp_path, "laptop")
    r = cli("whoami")
    assert r.exit_code == 2
    assert "your session was closed" in r.stderr
    assert admin_one(
        cli.world,
        "select array_agg(distinct revoked_reason) from epic_events.session where employee_id = %s",
        (cli.world.ids["sales"],),
    ) == (["logout_all"],)
    assert admin_one(
        cli.world,
        "select count(*) from epic_events.session where employee_id = %s and revoked_at is null",
        (cli.world.ids["sales2"],),
    ) == (1,)


def test_logout_without_all_closes_only_this_machine(cli, monkeypatch, tmp_path):
    on_machine(monkeypatch, tmp_path, "laptop")
    cli.login("sales")
    on_machine(monkeypatch, tmp_path, "desktop")
    cli.login("sales")
    assert cli("logout").exit_code == 0
    on_machine(monkeypatch, tmp_path, "laptop")
    assert cli.json("whoami")["id"] == cli.world.ids["sales"]


def test_logout_with_an_expired_access_token_still_closes_the_session(cli):
    cli.login("sales")
    store = token_store()
    tokens = store.load()
    claims = claims_of(tokens["access"])
    now = int(time.time())
    store.save(
        {
            **tokens,
            "access": resign(cli.world, {**claims, "iat": now - 3600, "nbf": now - 3600, "exp": now - 1800}),
        }
    )
    assert cli("logout").exit_code == 0
    assert admin_one(
        cli.world, "select revoked_reason from epic_events.session where id = %s", (claims["sid"],)
    ) == ("logout",)


# -- transparent refresh ----------------------------------------------------------------
def test_an_expired_access_token_with_a_live_refresh_token_is_refreshed_transparently(cli):
    cli.login("sales")
    store = token_store()
    tokens = store.load()
    now = int(time.time())
    expired = resign(
        cli.world, {**claims_of(tokens["access"]), "iat": now - 1900, "nbf": now - 1900, "exp": now - 100}
    )
    store.save({**tokens, "access": expired})

    assert cli.json("whoami")["id"] == cli.world.ids["sales"]
    after = store.load()
    assert after["access"] != expired and after["refresh"] != tokens["refresh"]
    assert claims_of(after["access"])["exp"] > now
    assert admin_one(
        cli.world, "select epic_events.verify_access_token(%s) ->> 'dept'", (after["access"],)
    ) == ("sales",)


def test_a_department_move_takes_effect_at_the_next_command(cli):
    cli.login("manager2")
    with cli.world.db.admin() as conn:
        conn.execute(
            "update epic_events.employee set department = 'sales' where id = %s", (cli.world.ids["manager2"],)
        )
    me = cli.json("whoami")
    assert (me["id"], me["department"]) == (cli.world.ids["manager2"], "sales")
    assert claims_of(token_store().load()["access"])["dept"] == "sales"
    # From now on with the rights of sales: no more client deletions.
    r = cli("client", "delete", cli.world.ids["client2"], "--yes")
    assert r.exit_code == 3
    assert admin_one(
        cli.world, "select count(*) from epic_events.client where id = %s", (cli.world.ids["client2"],)
    ) == (1,)


# -- commands running at once ----------------------------------------------------------------
def expire_access(world, store) -> dict:
    tokens = store.load()
    claims = claims_of(tokens["access"])
    now = int(time.time())
    store.save(
        {
            **tokens,
            "access": resign(world, {**claims, "iat": now - 1900, "nbf": now - 1900, "exp": now - 100}),
        }
    )
    return store.load()


def test_a_command_that_finds_the_tokens_already_refreshed_uses_them(cli):
    import psycopg

    cli.login("sales")
    expire_access(cli.world, token_store())
    slow = token_store()
    assert slow.load()  # one command finds the access token expired...
    assert cli("whoami").exit_code == 0  # ...while another refreshes first...
    refreshed = token_store().load()
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:  # ...then the first refreshes
        claims = auth.refresh(conn, slow)
    assert claims.employee_id == cli.world.ids["sales"]
    assert token_store().load() == refreshed  # no second exchange was needed
    assert cli.json("whoami")["id"] == cli.world.ids["sales"]


def test_refreshes_on_one_machine_take_turns(cli):
    """Load-and-exchange is one step under a lock: two commands never hand in the same token."""
    import threading

    import psycopg

    cli.login("sales")
    expire_access(cli.world, token_store())
    outcome = {}

    def other_command():
        try:
            with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
                outcome["claims"] = auth.refresh(conn, token_store())
        except Exception as exc:  # reported by the assertion below
            outcome["error"] = exc

    first = token_store()
    with first.lock():
        tokens = first.load()
        other = threading.Thread(target=other_command)
        other.start()
        other.join(0.3)  # it waits for the lock (without one, it would exchange these now)
        with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
            auth._rotate(conn, first, tokens)
    other.join(30)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["claims"].employee_id == cli.world.ids["sales"]
    assert admin_one(
        cli.world,
        "select revoked_at from epic_events.session where employee_id = %s",
        (cli.world.ids["sales"],),
    ) == (None,)


def test_commands_started_together_with_an_expired_access_token_all_succeed(cli):
    cli.login("sales")
    expire_access(cli.world, token_store())
    command = [
        sys.executable,
        "-c",
        "from epic_events.cli.main import main; main()",
        "whoami",
        "--format",
        "json",
    ]
    running = [
        subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    results = [(p.wait(timeout=60), p.stderr.read()) for p in running]
    for p in running:
        p.stdout.close()
        p.stderr.close()
    assert results == [(0, "")] * 4
    assert admin_one(
        cli.world,
        "select revoked_at from epic_events.session where employee_id = %s",
        (cli.world.ids["sales"],),
    ) == (None,)


# -- changing one's password ----------------------------------------------------------------
def change_password(cli, current: str, new: str = NEW_PASSWORD):
    return cli("password", "--password-stdin", input=f"{current}\n{new}\n")


def password_of(cli, key: str) -> tuple[str, bytes]:
    return admin_one(
        cli.world,
        "select password_salt, password_verifier from epic_events.employee where id = %s",
        (cli.world.ids[key],),
    )


def test_password_with_a_wrong_current_password_is_refused_and_recorded(cli):
    cli.login("sales")
    before = password_of(cli, "sales")
    r = change_password(cli, "not my password")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == "error: password not changed: the current password is wrong\n"
    assert password_of(cli, "sales") == before
    # The current password was checked by a login: recorded, and counted, as one.
    assert session_events(cli)[-1] == ("login_failed", cli.world.ids["sales"], SAM)
    # Still logged in, with the old password still the one.
    assert cli.json("whoami")["id"] == cli.world.ids["sales"]


def test_password_guesses_count_towards_the_lockout(cli):
    cli.login("sales")
    for attempt in range(5):
        assert change_password(cli, f"guess {attempt}").exit_code == 2
    r = change_password(cli, PASSWORD)
    assert r.exit_code == 2 and "too many failed attempts" in r.stderr
    assert login_as_sam(cli, PASSWORD).stderr == LOCKED
    assert password_of(cli, "sales")[0] == SALT


def test_password_change_closes_the_other_sessions_and_keeps_this_one(cli, desk):
    desk("sales-laptop")
    cli.login("sales")
    desk("sales")
    cli.login("sales")
    here = claims_of(token_store().load()["access"])["sid"]

    r = change_password(cli, PASSWORD)
    assert (r.exit_code, r.stdout) == (0, "")
    assert r.stderr == "Password changed; your other sessions are closed.\n"
    new_salt, new_verifier = password_of(cli, "sales")
    assert new_salt != SALT
    # Neither what the database keeps nor the new password is ever shown.
    for secret in (new_salt, new_salt[7:], new_verifier.hex(), NEW_PASSWORD):
        assert secret not in r.stdout + r.stderr
    # The audit trail says that it changed, never the values.
    changes = admin_one(
        cli.world,
        "select changes from epic_events.audit_log where table_name = 'employee' order by id desc limit 1",
    )[0]
    assert changes == {"password": "changed"}

    assert cli.json("whoami")["id"] == cli.world.ids["sales"]  # this desk stays
    # ... in the session of the login that proved the current password, which
    # replaced the one it had.
    now_here = claims_of(token_store().load()["access"])["sid"]
    assert now_here != here
    assert admin_one(cli.world, "select revoked_at from epic_events.session where id = %s", (now_here,)) == (
        None,
    )
    desk("sales-laptop")
    r = cli("whoami")
    assert r.exit_code == 2 and "your session was closed" in r.stderr
    # The laptop's session: closed by the change; this desk's previous one: by the
    # login that replaced it.
    reasons = admin_one(
        cli.world,
        "select array_agg(revoked_reason order by created_at)"
        " from epic_events.session where employee_id = %s and id <> %s",
        (cli.world.ids["sales"], now_here),
    )[0]
    assert reasons == ["password_changed", "logout"]

    old = login_as_sam(cli, PASSWORD)
    assert (old.exit_code, old.stderr) == (2, LOGIN_FAILED)
    assert login_as_sam(cli, NEW_PASSWORD).exit_code == 0
    assert cli.json("whoami")["id"] == cli.world.ids["sales"]


def test_password_needs_a_login_and_a_valid_new_password(cli):
    r = change_password(cli, PASSWORD)
    assert r.exit_code == 2 and "not logged in" in r.stderr
    cli.login("sales")
    r = change_password(cli, PASSWORD, "short")
    assert r.exit_code == 1 and "password" in r.stderr
    assert password_of(cli, "sales")[0] == SALT


def test_a_bcrypt_cost_outside_what_the_database_takes_is_refused_before_anything(cli, monkeypatch):
    """EPIC_EVENTS_BCRYPT_ROUNDS outside 4-14 (the database's bound, 0026): a clear message,
    exit 1, the password unchanged (not a constraint error from the database)."""
    cli.login("sales")
    for value in ("15", "3", "twelve", "١٢"):
        monkeypatch.setenv("EPIC_EVENTS_BCRYPT_ROUNDS", value)
        r = change_password(cli, PASSWORD)
        assert r.exit_code == 1, r.stderr
        assert "EPIC_EVENTS_BCRYPT_ROUNDS must be a whole number from 4 to 14" in r.stderr
        assert password_of(cli, "sales")[0] == SALT
