"""Issue "Log in once, then every command runs as you": login, logout, refresh,
whoami, through the CLI against the real database (SPEC "Authentication")."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from epic_events import auth
from tests.cli.conftest import SECRET, admin_one
from tests.cli.test_tokens_store import (  # noqa: F401  (autouse: no token in any output)
    claims_of, no_token_in_output, sign, token_store)
from tests.world import PASSWORD

SAM = "sam@epic.test"
LOGIN_FAILED = "error: login failed: unknown email or wrong password\n"


def sessions_of(cli, key: str) -> int:
    return admin_one(cli.world, "select count(*) from epic_events.session where employee_id = %s",
                     (cli.world.ids[key],))[0]


def login_as_sam(cli, password: str, email: str = SAM):
    return cli("login", "--email", email, "--password-stdin", input=password + "\n")


# -- login / whoami / logout ---------------------------------------------------------
def test_login_whoami_logout_round_trip(cli):
    r = cli.login("sales")
    assert r.stderr == "Logged in as Sam Sales (sales).\n" and r.stdout == ""
    me = cli.json("whoami")
    assert (me["id"], me["full_name"], me["email"], me["department"]) == (
        cli.world.ids["sales"], "Sam Sales", SAM, "sales")
    assert me["session_expires_at"]  # the refresh token's expiry, one day ahead

    r = cli("logout")
    assert (r.exit_code, r.stderr) == (0, "Logged out.\n")
    assert admin_one(cli.world, "select revoked_reason from epic_events.session"
                     " where employee_id = %s", (cli.world.ids["sales"],)) == ("logout",)
    r = cli("whoami")
    assert r.exit_code == 2
    assert "not logged in: run `epic-events login`" in r.stderr


def test_logging_in_again_closes_the_session_this_machine_had(cli):
    cli.login("sales")
    first = claims_of(token_store().load()["access"])["sid"]
    cli.login("sales")
    second = claims_of(token_store().load()["access"])["sid"]
    assert first != second
    assert admin_one(cli.world, "select revoked_reason from epic_events.session where id = %s",
                     (first,)) == ("logout",)
    assert admin_one(cli.world, "select revoked_at from epic_events.session where id = %s",
                     (second,)) == (None,)
    # Someone else logging in on this machine closes the previous person's session too.
    cli.login("sales2")
    assert admin_one(cli.world, "select revoked_reason from epic_events.session where id = %s",
                     (second,)) == ("logout",)
    assert cli.json("whoami")["id"] == cli.world.ids["sales2"]


def test_logging_in_over_damaged_tokens_works_and_closes_nothing(cli):
    cli.login("sales")
    sid = claims_of(token_store().load()["access"])["sid"]
    token_store().save({"access": "not a token", "refresh": sign({"sub": "1"}),
                        "refresh_expires_at": 0})
    cli.login("sales")
    assert admin_one(cli.world, "select revoked_at from epic_events.session where id = %s",
                     (sid,)) == (None,)
    assert cli.json("whoami")["id"] == cli.world.ids["sales"]


def test_after_logout_every_command_is_refused_with_exit_2(cli):
    cli.login("sales")
    assert cli("logout").exit_code == 0
    for command in (["whoami"], ["refresh"], ["client", "list"],
                    ["client", "view", cli.world.ids["client"]]):
        r = cli(*command)
        assert r.exit_code == 2, command
        assert "not logged in" in r.stderr and r.stdout == ""


def test_login_email_is_case_insensitive(cli):
    assert login_as_sam(cli, PASSWORD, email="Sam@EPIC.test").exit_code == 0
    assert cli.json("whoami")["id"] == cli.world.ids["sales"]


def test_wrong_password_and_unknown_email_get_the_same_answer(cli):
    wrong = login_as_sam(cli, "not the password")
    unknown = login_as_sam(cli, PASSWORD, email="nobody@epic.test")
    assert (wrong.exit_code, wrong.stderr) == (2, LOGIN_FAILED)
    assert (unknown.exit_code, unknown.stderr) == (2, LOGIN_FAILED)
    assert sessions_of(cli, "sales") == 0
    assert cli("whoami").exit_code == 2


def test_a_deactivated_employee_cannot_log_in(cli):
    with cli.world.db.admin() as conn:
        conn.execute("update epic_events.employee set is_active = false where id = %s",
                     (cli.world.ids["sales"],))
    r = login_as_sam(cli, PASSWORD)
    assert r.exit_code == 2
    assert "this account is deactivated" in r.stderr
    assert sessions_of(cli, "sales") == 0


def test_deactivation_cuts_a_logged_in_employee_off_at_once(cli):
    cli.login("sales")
    with cli.world.db.admin() as conn:
        conn.execute("update epic_events.employee set is_active = false where id = %s",
                     (cli.world.ids["sales"],))
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
        [sys.executable, "-c", "from epic_events.cli.main import main; main()",
         "login", "--email", SAM],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
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
    assert admin_one(cli.world, "select rotated_at is not null, replaced_by = %s"
                     " from epic_events.session_token where token_hash = %s",
                     (auth.digest(after["refresh"]), auth.digest(before["refresh"]))) == (True, True)
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
    assert admin_one(cli.world, "select array_agg(distinct revoked_reason) from epic_events.session"
                     " where employee_id = %s", (cli.world.ids["sales"],)) == (["logout_all"],)
    assert admin_one(cli.world, "select count(*) from epic_events.session"
                     " where employee_id = %s and revoked_at is null",
                     (cli.world.ids["sales2"],)) == (1,)


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
    store.save({**tokens, "access": sign({**claims, "iat": now - 3600, "nbf": now - 3600,
                                          "exp": now - 1800})})
    assert cli("logout").exit_code == 0
    assert admin_one(cli.world, "select revoked_reason from epic_events.session"
                     " where id = %s", (claims["sid"],)) == ("logout",)


# -- transparent refresh ----------------------------------------------------------------
def test_an_expired_access_token_with_a_live_refresh_token_is_refreshed_transparently(cli):
    cli.login("sales")
    store = token_store()
    tokens = store.load()
    now = int(time.time())
    expired = sign({**claims_of(tokens["access"]), "iat": now - 1900, "nbf": now - 1900,
                    "exp": now - 100})
    store.save({**tokens, "access": expired})

    assert cli.json("whoami")["id"] == cli.world.ids["sales"]
    after = store.load()
    assert after["access"] != expired and after["refresh"] != tokens["refresh"]
    assert claims_of(after["access"])["exp"] > now
    assert auth.verify(auth.Keys("v1", SECRET, {}), after["access"], "access").department == "sales"


def test_a_department_move_takes_effect_at_the_next_command(cli):
    cli.login("manager2")
    with cli.world.db.admin() as conn:
        conn.execute("update epic_events.employee set department = 'sales' where id = %s",
                     (cli.world.ids["manager2"],))
    me = cli.json("whoami")
    assert (me["id"], me["department"]) == (cli.world.ids["manager2"], "sales")
    assert claims_of(token_store().load()["access"])["dept"] == "sales"
    # From now on with the rights of sales: no more client deletions.
    r = cli("client", "delete", cli.world.ids["client2"], "--yes")
    assert r.exit_code == 3
    assert admin_one(cli.world, "select count(*) from epic_events.client where id = %s",
                     (cli.world.ids["client2"],)) == (1,)


# -- commands running at once ----------------------------------------------------------------
def expire_access(store) -> dict:
    tokens = store.load()
    claims = claims_of(tokens["access"])
    now = int(time.time())
    store.save({**tokens, "access": sign({**claims, "iat": now - 1900, "nbf": now - 1900,
                                          "exp": now - 100})})
    return store.load()


def test_a_command_that_finds_the_tokens_already_refreshed_uses_them(cli):
    import psycopg

    cli.login("sales")
    expire_access(token_store())
    slow = token_store()
    assert slow.load()  # one command finds the access token expired...
    assert cli("whoami").exit_code == 0  # ...while another refreshes first...
    refreshed = token_store().load()
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:  # ...then the first refreshes
        claims = auth.refresh(conn, slow, auth.keys())
    assert claims.employee_id == cli.world.ids["sales"]
    assert token_store().load() == refreshed  # no second exchange was needed
    assert cli.json("whoami")["id"] == cli.world.ids["sales"]


def test_refreshes_on_one_machine_take_turns(cli):
    """Load-and-exchange is one step under a lock: two commands never hand in the same token."""
    import threading

    import psycopg

    cli.login("sales")
    expire_access(token_store())
    outcome = {}

    def other_command():
        try:
            with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
                outcome["claims"] = auth.refresh(conn, token_store(), auth.keys())
        except Exception as exc:  # reported by the assertion below
            outcome["error"] = exc

    first = token_store()
    with first.lock():
        tokens = first.load()
        other = threading.Thread(target=other_command)
        other.start()
        other.join(0.3)  # it waits for the lock (without one, it would exchange these now)
        with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
            auth._rotate(conn, first, auth.keys(), tokens)
    other.join(30)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["claims"].employee_id == cli.world.ids["sales"]
    assert admin_one(cli.world, "select revoked_at from epic_events.session"
                     " where employee_id = %s", (cli.world.ids["sales"],)) == (None,)


def test_commands_started_together_with_an_expired_access_token_all_succeed(cli):
    cli.login("sales")
    expire_access(token_store())
    command = [sys.executable, "-c", "from epic_events.cli.main import main; main()",
               "whoami", "--format", "json"]
    running = [subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [(p.wait(timeout=60), p.stderr.read()) for p in running]
    for p in running:
        p.stdout.close()
        p.stderr.close()
    assert results == [(0, "")] * 4
    assert admin_one(cli.world, "select revoked_at from epic_events.session"
                     " where employee_id = %s", (cli.world.ids["sales"],)) == (None,)
