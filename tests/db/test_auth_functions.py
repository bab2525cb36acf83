"""The auth_* functions the authenticator runs before it has a department role,
and the password change (migration 0015).

Login: auth_login_salt(email), then auth_login(email, bcrypt proof) -> an
attempt id (the verdict is recorded and committed), then, in a later
transaction, auth_login_result(attempt) -> ok | failed | locked | inactive |
unknown, with the tokens. Refresh: auth_refresh(refresh
token): one refresh token buys the next, a replayed one revokes the session.
Logout: auth_logout(refresh token, all). change_own_password(new salt, new
verifier), in a session opened within 5 minutes, and a management reset, end
the employee's other sessions. What an insider does with these (guessing, forging, lockouts across
accounts) is tests/security/test_attacks.py's.
"""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import timedelta

import bcrypt
import jwt
import psycopg
import pytest
from psycopg import errors
from psycopg.rows import dict_row

from epic_events import queries
from tests.db.helpers import (
    admin_all,
    admin_exec,
    admin_one,
    admin_value,
    authenticator,
    begin_request,
    digest,
    in_,
    open_session,
)
from tests.world import PASSWORD, ROLE, SALT, VERIFIER, login

NEW_PASSWORD = "a brand new passphrase"
_NEW_HASH = bcrypt.hashpw(NEW_PASSWORD.encode(), bcrypt.gensalt(4)).decode()
NEW_SALT, NEW_VERIFIER = _NEW_HASH[:29], hashlib.sha256(_NEW_HASH.encode()).digest()


def proof(password: str = PASSWORD, salt: str = SALT) -> str:
    return bcrypt.hashpw(password.encode(), salt.encode()).decode()


def log_in(db, email: str, password: str = PASSWORD) -> dict:
    with authenticator(db) as conn:
        return login(conn, email, password)


def refresh(db, token: str) -> dict:
    with authenticator(db) as conn:
        return (
            conn.cursor(row_factory=dict_row)
            .execute(queries.get("session.refresh").sql, {"refresh_token": token})
            .fetchone()
        )


def logout(db, token: str, everything: bool = False) -> int:
    with authenticator(db) as conn:
        return conn.execute("select epic_events.auth_logout(%s, %s)", (token, everything)).fetchone()[0]


def session_row(db, session_id) -> dict:
    return admin_one(db, "select * from epic_events.session where id = %s", (session_id,))


def sessions_of(db, employee_id: int) -> list[dict]:
    return admin_all(
        db, "select * from epic_events.session where employee_id = %s order by created_at", (employee_id,)
    )


def auth_events(db, employee_id=None) -> list[tuple]:
    return [
        (r["action"], r["employee_id"], r["changes"])
        for r in admin_all(
            db,
            "select * from epic_events.audit_log where table_name = 'session'"
            " and (%(id)s::bigint is null or employee_id = %(id)s) order by id",
            {"id": employee_id},
        )
    ]


def honoured(db, role: str, token: str) -> bool:
    with authenticator(db) as conn:
        return begin_request(conn, role, token)


NOTHING = {
    "employee_id": None,
    "full_name": None,
    "department": None,
    "access_token": None,
    "refresh_token": None,
    "refresh_expires_at": None,
}


# --- auth_login ------------------------------------------------------------------------


@pytest.mark.parametrize("email", ["sam@epic.test", "SAM@EPIC.TEST", "Sam@Epic.Test"])
def test_login_ignores_the_case_of_the_email(world, email):
    with authenticator(world.db) as conn:
        assert conn.execute("select epic_events.auth_login_salt(%s)", (email,)).fetchone()[0] == SALT
        row = login(conn, email)
    assert row["status"] == "ok"
    assert (row["employee_id"], row["full_name"], row["department"]) == (
        world.ids["sales"],
        "Sam Sales",
        "sales",
    )
    claims = jwt.decode(row["access_token"], options={"verify_signature": False})
    assert claims["sub"] == str(world.ids["sales"]) and claims["dept"] == "sales"
    session = session_row(world.db, claims["sid"])
    assert session["employee_id"] == world.ids["sales"] and session["revoked_at"] is None
    assert session["expires_at"] == row["refresh_expires_at"] > in_(timedelta(hours=23))
    assert honoured(world.db, ROLE["sales"], row["access_token"])
    assert [a for a, *_ in auth_events(world.db, world.ids["sales"])] == ["login_attempt", "login"]


def test_a_wrong_password_fails_opens_nothing_and_is_recorded(world):
    row = log_in(world.db, "sam@epic.test", "not the password")
    assert row == {"status": "failed", **NOTHING}
    assert sessions_of(world.db, world.ids["sales"]) == []
    assert (
        admin_value(
            world.db,
            "select count(*) from epic_events.login_attempt"
            " where email_key = 'sam@epic.test' and outcome = 'failed'",
        )
        == 1
    )
    assert auth_events(world.db) == [
        ("login_attempt", world.ids["sales"], {}),
        ("login_failed", world.ids["sales"], {}),
    ]


def test_an_unknown_email_fails_exactly_like_a_wrong_password(world):
    assert log_in(world.db, "nobody@epic.test") == {"status": "failed", **NOTHING}
    assert auth_events(world.db) == [("login_attempt", None, {}), ("login_failed", None, {})]
    assert admin_value(world.db, "select count(*) from epic_events.session") == 0


def test_an_inactive_employee_is_told_so_only_with_the_right_password(world):
    admin_exec(
        world.db, "update epic_events.employee set is_active = false where id = %s", (world.ids["sales"],)
    )
    assert log_in(world.db, "sam@epic.test", "not the password")["status"] == "failed"
    row = log_in(world.db, "sam@epic.test")
    assert row == {**NOTHING, "status": "inactive", "employee_id": world.ids["sales"]}
    assert sessions_of(world.db, world.ids["sales"]) == []
    assert auth_events(world.db)[-1] == ("login_failed", world.ids["sales"], {"reason": "inactive"})


def test_a_locked_email_opens_nothing_and_a_success_clears_the_count(world):
    """The lockout itself (the sixth attempt, the window) is test_attacks.py's; here
    its bookkeeping: a good login forgets earlier failures, a locked one opens nothing."""
    email = "sam@epic.test"
    for _ in range(4):
        assert log_in(world.db, email, "wrong")["status"] == "failed"
    assert log_in(world.db, email)["status"] == "ok"
    assert (
        admin_value(world.db, "select count(*) from epic_events.login_attempt where outcome = 'failed'") == 0
    )
    for _ in range(4):
        assert log_in(world.db, email, "wrong")["status"] == "failed"
    assert log_in(world.db, email)["status"] == "ok"  # 4 + 4 failures, never 5 in a row
    for _ in range(5):
        log_in(world.db, email, "wrong")
    sessions = len(sessions_of(world.db, world.ids["sales"]))
    assert log_in(world.db, email) == {"status": "locked", **NOTHING}
    assert len(sessions_of(world.db, world.ids["sales"])) == sessions


def _in_background(work):
    """Start work() in a thread; returns (thread, outcome dict with 'result' or 'error')."""
    outcome = {}

    def target():
        try:
            outcome["result"] = work()
        except psycopg.Error as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(0.5)  # long enough to finish, unless it waits for a lock (it must)
    return thread, outcome


def test_a_login_during_an_uncommitted_deactivation_waits_and_is_refused(world):
    """Deactivation revokes sessions; a login that starts while the deactivation is
    uncommitted must not slip through (its session would come back on reactivation)."""
    employee_id = world.ids["support"]
    with psycopg.connect(world.db.admin_dsn) as deactivating:
        deactivating.execute(
            "update epic_events.employee set is_active = false where id = %s", (employee_id,)
        )
        thread, outcome = _in_background(lambda: log_in(world.db, "suzy@epic.test"))
        assert thread.is_alive(), f"the login did not wait for the deactivation: {outcome}"
        deactivating.commit()
    thread.join(10)
    assert outcome.get("result", {}).get("status") == "inactive", outcome
    assert sessions_of(world.db, employee_id) == []


def test_a_deactivation_during_an_uncommitted_login_revokes_the_new_session(world):
    employee_id = world.ids["support"]
    with authenticator(world.db) as logging_in:
        attempt = logging_in.execute(
            queries.get("session.login").sql, {"email": "suzy@epic.test", "proof": proof()}
        ).fetchone()[0]
        logging_in.commit()
        row = (
            logging_in.cursor(row_factory=dict_row)
            .execute(queries.get("session.login_result").sql, {"attempt": attempt})
            .fetchone()
        )
        assert row["status"] == "ok"
        thread, outcome = _in_background(
            lambda: admin_exec(
                world.db, "update epic_events.employee set is_active = false where id = %s", (employee_id,)
            )
        )
        assert thread.is_alive(), f"the deactivation did not wait for the login: {outcome}"
        logging_in.commit()
    thread.join(10)
    assert "error" not in outcome, outcome
    session = jwt.decode(row["access_token"], options={"verify_signature": False})["sid"]
    assert session_row(world.db, session)["revoked_reason"] == "employee_deactivated"
    assert refresh(world.db, row["refresh_token"])["status"] == "revoked"


def test_a_login_with_the_old_password_during_an_uncommitted_reset_keeps_no_session(world):
    employee_id = world.ids["support"]
    with psycopg.connect(world.db.admin_dsn) as resetting:
        resetting.execute(
            "update epic_events.employee set password_salt = %s, password_verifier = %s where id = %s",
            (NEW_SALT, NEW_VERIFIER, employee_id),
        )
        thread, outcome = _in_background(lambda: log_in(world.db, "suzy@epic.test"))
        resetting.commit()
    thread.join(10)
    assert outcome.get("result", {}).get("status") != "ok" or all(
        s["revoked_at"] is not None for s in sessions_of(world.db, employee_id)
    ), outcome


# --- auth_refresh ---------------------------------------------------------------------------


def test_refreshing_hands_out_the_next_token_and_a_new_access_token(world):
    session = open_session(world.db, world.ids["sales"])
    admin_exec(
        world.db,
        "update epic_events.session set expires_at = now() + interval '1 hour' where id = %s",
        (session.id,),
    )
    result = refresh(world.db, session.refresh_token)
    assert result["status"] == "ok"
    assert (result["employee_id"], result["department"]) == (world.ids["sales"], "sales")
    assert result["refresh_token"] != session.refresh_token
    chain = admin_one(
        world.db,
        "select rotated_at, replaced_by from epic_events.session_token where token_hash = %s",
        (digest(session.refresh_token),),
    )
    assert chain["rotated_at"] is not None and bytes(chain["replaced_by"]) == digest(result["refresh_token"])
    # The session now lives as long as its newest token ...
    assert session_row(world.db, session.id)["expires_at"] == result["refresh_expires_at"]
    assert result["refresh_expires_at"] > in_(timedelta(hours=23))
    # ... the new access token names the same session and is honoured ...
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["sid"] == str(session.id) and claims["sub"] == str(world.ids["sales"])
    assert honoured(world.db, ROLE["sales"], result["access_token"])
    # ... and the new refresh token rotates in turn.
    assert refresh(world.db, result["refresh_token"])["status"] == "ok"


@pytest.mark.parametrize("token", ["", "x", "A" * 5000, None])
def test_refreshing_an_unknown_token_says_unknown(world, token):
    open_session(world.db, world.ids["sales"])
    assert refresh(world.db, token) == {
        "status": "unknown",
        "employee_id": None,
        "department": None,
        "access_token": None,
        "refresh_token": None,
        "refresh_expires_at": None,
    }


def test_refreshing_an_expired_token_says_expired(world):
    session = open_session(world.db, world.ids["sales"])
    admin_exec(
        world.db,
        "update epic_events.session_token set expires_at = now() - interval '1 second' where session_id = %s",
        (session.id,),
    )
    result = refresh(world.db, session.refresh_token)
    assert result["status"] == "expired" and result["employee_id"] == world.ids["sales"]
    assert result["access_token"] is None and result["refresh_token"] is None
    assert (
        admin_value(
            world.db, "select count(*) from epic_events.session_token where session_id = %s", (session.id,)
        )
        == 1
    )


def test_refreshing_a_token_of_a_logged_out_session_says_revoked(world):
    session = open_session(world.db, world.ids["sales"])
    assert logout(world.db, session.refresh_token) == 1
    result = refresh(world.db, session.refresh_token)
    assert result["status"] == "revoked" and result["access_token"] is None


def test_replaying_a_rotated_token_revokes_the_session(world):
    session = open_session(world.db, world.ids["sales"])
    second = refresh(world.db, session.refresh_token)
    third = refresh(world.db, second["refresh_token"])
    assert third["status"] == "ok"
    # Someone hands in the first token again: it was copied.
    assert refresh(world.db, session.refresh_token)["status"] == "replayed"
    row = session_row(world.db, session.id)
    assert row["revoked_at"] is not None and row["revoked_reason"] == "refresh_token_replayed"
    assert auth_events(world.db)[-1] == ("refresh_replayed", world.ids["sales"], {})
    # The newest token, the owner's or the thief's, is worthless now ...
    assert refresh(world.db, third["refresh_token"])["status"] == "revoked"
    # ... and so is the access the session gave, at once.
    assert not honoured(world.db, ROLE["sales"], third["access_token"])


def test_a_replay_revokes_only_that_session(world):
    stolen = open_session(world.db, world.ids["sales"])
    other = open_session(world.db, world.ids["sales"])
    refresh(world.db, stolen.refresh_token)
    assert refresh(world.db, stolen.refresh_token)["status"] == "replayed"
    assert session_row(world.db, other.id)["revoked_at"] is None
    assert refresh(world.db, other.refresh_token)["status"] == "ok"


def test_refreshing_the_token_of_an_inactive_employee_says_inactive(world):
    session = open_session(world.db, world.ids["support"])
    admin_exec(
        world.db, "update epic_events.employee set is_active = false where id = %s", (world.ids["support"],)
    )
    # Deactivation revokes the session (the usual answer is "revoked") ...
    assert refresh(world.db, session.refresh_token)["status"] == "revoked"
    # ... and should a session ever escape that, refresh still checks the employee.
    admin_exec(
        world.db,
        "update epic_events.session set revoked_at = null, revoked_reason = null where id = %s",
        (session.id,),
    )
    result = refresh(world.db, session.refresh_token)
    assert result["status"] == "inactive" and result["access_token"] is None
    assert (
        admin_value(
            world.db,
            "select rotated_at from epic_events.session_token where token_hash = %s",
            (digest(session.refresh_token),),
        )
        is None
    )


def test_refreshing_names_the_employees_current_department(world):
    # manager2 is nobody's contact, so may move (0011 keeps contacts in place).
    session = open_session(world.db, world.ids["manager2"])
    world.as_("manager").run("update employee set department = 'support' where id = %(manager2)s", world.ids)
    assert not honoured(world.db, ROLE["management"], session.access_token)
    result = refresh(world.db, session.refresh_token)
    assert result["department"] == "support"
    assert jwt.decode(result["access_token"], options={"verify_signature": False})["dept"] == "support"
    assert honoured(world.db, ROLE["support"], result["access_token"])
    assert not honoured(world.db, ROLE["management"], result["access_token"])


def test_two_concurrent_refreshes_of_one_token_one_wins_and_the_session_dies(world):
    session = open_session(world.db, world.ids["sales"])
    results: list[dict | Exception] = [None, None]
    connections = [authenticator(world.db) for _ in range(2)]
    pids = [c.info.backend_pid for c in connections]

    def refresh_on(i):
        try:
            cur = connections[i].cursor(row_factory=dict_row)
            results[i] = cur.execute(
                "select * from epic_events.auth_refresh(%s)", (session.refresh_token,)
            ).fetchone()
            connections[i].commit()
        except Exception as exc:  # reported below
            results[i] = exc

    # Hold the token row so both refreshes queue up on it, then let them race.
    with psycopg.connect(world.db.admin_dsn) as gate:
        gate.execute(
            "select 1 from epic_events.session_token where token_hash = %s for update",
            (digest(session.refresh_token),),
        )
        threads = [threading.Thread(target=refresh_on, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            waiting = gate.execute(
                "select count(*) from pg_stat_activity where pid = any(%s) and wait_event_type = 'Lock'",
                (pids,),
            ).fetchone()[0]
            if waiting == 2:
                break
            time.sleep(0.01)
        assert waiting == 2, "both refreshes should be waiting on the token"
        gate.rollback()
    for t in threads:
        t.join(10)
    for c in connections:
        c.close()

    assert all(isinstance(r, dict) for r in results), results
    assert sorted(r["status"] for r in results) == ["ok", "replayed"]
    assert session_row(world.db, session.id)["revoked_reason"] == "refresh_token_replayed"
    winner = next(r for r in results if r["status"] == "ok")
    assert refresh(world.db, winner["refresh_token"])["status"] == "revoked"


# --- auth_logout --------------------------------------------------------------------------------


def test_logout_revokes_this_session_only(world):
    mine = open_session(world.db, world.ids["support"])
    laptop = open_session(world.db, world.ids["support"])
    assert logout(world.db, mine.refresh_token) == 1
    # Logging out twice revokes nothing more.
    assert logout(world.db, mine.refresh_token) == 0
    assert session_row(world.db, mine.id)["revoked_reason"] == "logout"
    assert not honoured(world.db, ROLE["support"], mine.access_token)
    assert session_row(world.db, laptop.id)["revoked_at"] is None
    assert refresh(world.db, laptop.refresh_token)["status"] == "ok"
    assert auth_events(world.db)[-1] == ("logout", world.ids["support"], {"all": False, "sessions": 1})


def test_logout_with_an_already_rotated_token_still_closes_the_session(world):
    session = open_session(world.db, world.ids["support"])
    newer = refresh(world.db, session.refresh_token)
    assert logout(world.db, session.refresh_token) == 1
    assert refresh(world.db, newer["refresh_token"])["status"] == "revoked"


def test_logout_all_revokes_every_session_of_the_employee_and_no_one_elses(world):
    mine = open_session(world.db, world.ids["support"])
    others = [open_session(world.db, world.ids["support"]) for _ in range(2)]
    colleague = open_session(world.db, world.ids["support2"])
    assert logout(world.db, mine.refresh_token, everything=True) == 3
    for session in [mine, *others]:
        assert session_row(world.db, session.id)["revoked_reason"] == "logout_all"
    assert session_row(world.db, colleague.id)["revoked_at"] is None
    assert auth_events(world.db)[-1] == ("logout", world.ids["support"], {"all": True, "sessions": 3})


@pytest.mark.parametrize("token", ["", "not a token", None])
def test_logout_with_an_unknown_token_revokes_nothing(world, token):
    session = open_session(world.db, world.ids["support"])
    for everything in (False, True):
        assert logout(world.db, token, everything) == 0
    # Nor does an access token stand in for a refresh token.
    assert logout(world.db, session.access_token, True) == 0
    assert admin_value(world.db, "select count(*) from epic_events.session where revoked_at is not null") == 0
    assert [a for a, *_ in auth_events(world.db)] == ["login_attempt", "login"]


def test_only_digests_of_refresh_tokens_are_stored(world):
    session = open_session(world.db, world.ids["support"])
    newer = refresh(world.db, session.refresh_token)
    stored = admin_all(
        world.db, "select token_hash from epic_events.session_token where session_id = %s", (session.id,)
    )
    assert {bytes(r["token_hash"]) for r in stored} == {
        digest(session.refresh_token),
        digest(newer["refresh_token"]),
    }
    everything = str(
        admin_all(
            world.db,
            "select to_jsonb(t)::text from epic_events.session_token t"
            " union all select to_jsonb(s)::text from epic_events.session s"
            " union all select to_jsonb(a)::text from epic_events.audit_log a",
        )
    )
    for token in (session.refresh_token, newer["refresh_token"], session.access_token, newer["access_token"]):
        assert token not in everything


# --- passwords: change and reset ---------------------------------------------------------


def change_own_password(session, salt=NEW_SALT, verifier=NEW_VERIFIER, *, db) -> None:
    """change_own_password in the request of `session` (the CLI's way: right after a login)."""
    with authenticator(db) as conn:
        assert begin_request(conn, session.role, session.access_token)
        conn.execute(
            queries.get("session.change_own_password").sql, {"new_salt": salt, "new_verifier": verifier}
        )
        conn.commit()


def test_a_password_change_ends_the_other_sessions_but_not_the_current_one(world):
    laptop = open_session(world.db, world.ids["sales"])
    current = open_session(world.db, world.ids["sales"])
    colleague = open_session(world.db, world.ids["sales2"])
    change_own_password(current, db=world.db)
    assert session_row(world.db, laptop.id)["revoked_reason"] == "password_changed"
    assert session_row(world.db, current.id)["revoked_at"] is None
    assert session_row(world.db, colleague.id)["revoked_at"] is None
    assert honoured(world.db, ROLE["sales"], current.access_token)
    assert not honoured(world.db, ROLE["sales"], laptop.access_token)
    # The new password works, the old one no longer does.
    assert log_in(world.db, "sam@epic.test")["status"] == "failed"
    assert log_in(world.db, "sam@epic.test", NEW_PASSWORD)["status"] == "ok"
    changes = admin_all(
        world.db,
        "select changes from epic_events.audit_log where table_name = 'employee'"
        " and row_id = %s and action = 'update'",
        (str(world.ids["sales"]),),
    )
    assert [c["changes"] for c in changes] == [{"password": "changed"}]


def test_a_password_change_needs_a_login_of_the_last_5_minutes(world):
    """The current password is proven by that login (counted like any other):
    an older session, or a stolen older access token, cannot change it."""
    current = open_session(world.db, world.ids["sales"])
    admin_exec(
        world.db,
        "update epic_events.session set created_at = now() - interval '6 minutes' where id = %s",
        (current.id,),
    )
    with pytest.raises(errors.InsufficientPrivilege, match="last 5 minutes"):
        change_own_password(current, db=world.db)
    assert admin_one(
        world.db,
        "select password_salt, password_verifier from epic_events.employee where id = %s",
        (world.ids["sales"],),
    ) == {"password_salt": SALT, "password_verifier": VERIFIER}


def test_a_password_change_needs_a_live_request(world):
    with authenticator(world.db) as conn:
        conn.execute("set role epic_sales")
        with pytest.raises(errors.InsufficientPrivilege, match="not logged in"):
            conn.execute("select epic_events.change_own_password(%s, %s)", (NEW_SALT, NEW_VERIFIER))


def test_a_management_reset_ends_every_session_of_that_employee(world):
    manager = world.as_("manager")
    sessions = [open_session(world.db, world.ids["sales"]) for _ in range(2)]
    colleague = open_session(world.db, world.ids["sales2"])
    assert (
        manager.count(
            "update employee set password_salt = %s, password_verifier = %s where id = %s",
            (NEW_SALT, NEW_VERIFIER, world.ids["sales"]),
        )
        == 1
    )
    for session in sessions:
        assert session_row(world.db, session.id)["revoked_reason"] == "password_changed"
    assert session_row(world.db, colleague.id)["revoked_at"] is None
    assert session_row(world.db, manager.session_id)["revoked_at"] is None
    assert manager.count("select id from client") == 2
    # A change of anything else ends nothing.
    manager.run("update employee set phone = '+33700000003' where id = %(sales2)s", world.ids)
    assert session_row(world.db, colleague.id)["revoked_at"] is None
