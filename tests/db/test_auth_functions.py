"""The auth_* functions the authenticator runs before it has a department role.

Login (auth_find_employee, then auth_open_session once the CLI checked the
bcrypt hash), refresh (auth_rotate_session: one refresh token buys the next, a
replayed one revokes the whole family) and logout (auth_revoke_session).
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

import psycopg
import pytest
from psycopg import errors

from tests.db.helpers import (
    admin_exec, admin_one, admin_value, authenticator, in_, open_session, run_with_claims, token_hash,
)
from tests.world import _HASH

DAY = timedelta(days=1)


def rotate(db, old: bytes, new: bytes | None = None, expires: timedelta = DAY) -> dict:
    with authenticator(db) as conn:
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        return cur.execute("select * from epic_events.auth_rotate_session(%s, %s, %s)",
                           (old, new or token_hash(), in_(expires))).fetchone()


def session_row(db, session_id) -> dict:
    return admin_one(db, "select * from epic_events.session where id = %s", (session_id,))


# --- auth_find_employee ---------------------------------------------------------------

@pytest.mark.parametrize("email", ["sam@epic.test", "SAM@EPIC.TEST", "Sam@Epic.Test"])
def test_find_employee_ignores_the_case_of_the_email(world, email):
    with authenticator(world.db) as conn:
        rows = conn.execute("select employee_id, full_name, department, is_active, password_hash"
                            " from epic_events.auth_find_employee(%s)", (email,)).fetchall()
    assert rows == [(world.ids["sales"], "Sam Sales", "sales", True, _HASH)]


def test_find_employee_answers_nothing_for_an_unknown_email(world):
    with authenticator(world.db) as conn:
        assert conn.execute("select * from epic_events.auth_find_employee('nobody@epic.test')").fetchall() == []


def test_find_employee_reports_an_inactive_employee_as_such(world):
    admin_exec(world.db, "update epic_events.employee set is_active = false where id = %s", (world.ids["sales"],))
    with authenticator(world.db) as conn:
        row = conn.execute("select is_active from epic_events.auth_find_employee('sam@epic.test')").fetchone()
    assert row == (False,)


# --- auth_open_session ----------------------------------------------------------------

def test_open_session_starts_a_family_with_its_first_token(world):
    session, digest = open_session(world.db, world.ids["support"])
    row = session_row(world.db, session)
    assert row["employee_id"] == world.ids["support"] and row["revoked_at"] is None
    assert admin_value(world.db, "select session_id from epic_events.session_token where token_hash = %s",
                       (digest,)) == session


@pytest.mark.parametrize("who", ["inactive", "unknown"])
def test_open_session_refuses_an_inactive_or_unknown_employee(world, who):
    employee_id = world.ids["sales"] if who == "inactive" else 987654
    if who == "inactive":
        admin_exec(world.db, "update epic_events.employee set is_active = false where id = %s", (employee_id,))
    with pytest.raises(errors.InsufficientPrivilege, match="not an active employee"):
        open_session(world.db, employee_id)
    assert admin_value(world.db, "select count(*) from epic_events.session where employee_id = %s",
                       (employee_id,)) == 0


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
        deactivating.execute("update epic_events.employee set is_active = false where id = %s", (employee_id,))
        thread, outcome = _in_background(lambda: open_session(world.db, employee_id))
        assert thread.is_alive(), f"the login did not wait for the deactivation: {outcome}"
        deactivating.commit()
    thread.join(10)
    assert isinstance(outcome.get("error"), errors.InsufficientPrivilege), outcome
    assert admin_value(world.db, "select count(*) from epic_events.session where employee_id = %s",
                       (employee_id,)) == 0


def test_a_deactivation_during_an_uncommitted_login_revokes_the_new_session(world):
    employee_id = world.ids["support"]
    session = uuid.uuid4()
    with authenticator(world.db) as logging_in:
        logging_in.execute("select epic_events.auth_open_session(%s, %s, %s, %s)",
                           (session, employee_id, token_hash(), in_(DAY)))
        thread, outcome = _in_background(lambda: admin_exec(
            world.db, "update epic_events.employee set is_active = false where id = %s", (employee_id,)))
        assert thread.is_alive(), f"the deactivation did not wait for the login: {outcome}"
        logging_in.commit()
    thread.join(10)
    assert "error" not in outcome, outcome
    assert session_row(world.db, session)["revoked_reason"] == "employee_deactivated"


# --- auth_rotate_session ---------------------------------------------------------------

def test_rotating_a_live_token_hands_out_the_next_one(world):
    session, first = open_session(world.db, world.ids["sales"])
    second = token_hash()
    result = rotate(world.db, first, second, expires=timedelta(days=2))
    assert result == {"status": "ok", "session_id": session, "employee_id": world.ids["sales"],
                      "department": "sales"}
    chain = admin_one(world.db, "select rotated_at, replaced_by from epic_events.session_token"
                                " where token_hash = %s", (first,))
    assert chain["rotated_at"] is not None and chain["replaced_by"] == second
    # The session now lives as long as its newest token, and that token rotates in turn.
    assert session_row(world.db, session)["expires_at"] > in_(DAY + timedelta(hours=23))
    assert rotate(world.db, second)["status"] == "ok"


def test_rotating_an_unknown_token_says_unknown(world):
    assert rotate(world.db, token_hash()) == {"status": "unknown", "session_id": None,
                                             "employee_id": None, "department": None}


def test_rotating_an_expired_token_says_expired(world):
    session, first = open_session(world.db, world.ids["sales"], expires=timedelta(seconds=-1))
    result = rotate(world.db, first)
    assert result["status"] == "expired" and result["session_id"] == session
    assert admin_value(world.db, "select count(*) from epic_events.session_token where session_id = %s",
                       (session,)) == 1


def test_rotating_a_token_of_a_logged_out_session_says_revoked(world):
    session, first = open_session(world.db, world.ids["sales"])
    with authenticator(world.db) as conn:
        conn.execute("select epic_events.auth_revoke_session(%s, false)", (session,))
    assert rotate(world.db, first)["status"] == "revoked"


def test_replaying_a_rotated_token_revokes_the_whole_family(world):
    session, first = open_session(world.db, world.ids["sales"])
    second, third = token_hash(), token_hash()
    assert rotate(world.db, first, second)["status"] == "ok"
    assert rotate(world.db, second, third)["status"] == "ok"
    # Someone hands in the first token again: it was copied.
    assert rotate(world.db, first)["status"] == "replayed"
    row = session_row(world.db, session)
    assert row["revoked_at"] is not None and row["revoked_reason"] == "refresh_token_replayed"
    # The newest token, the owner's or the thief's, is worthless now.
    assert rotate(world.db, third)["status"] == "revoked"
    # And the access the session gave is gone at once.
    with authenticator(world.db) as conn:
        rows, _ = run_with_claims(conn, "select id from client", role="epic_sales",
                                  employee_id=world.ids["sales"], session_id=session)
    assert rows == []


def test_a_replay_revokes_only_that_family(world):
    stolen, first = open_session(world.db, world.ids["sales"])
    other, other_token = open_session(world.db, world.ids["sales"])
    rotate(world.db, first)
    assert rotate(world.db, first)["status"] == "replayed"
    assert session_row(world.db, other)["revoked_at"] is None
    assert rotate(world.db, other_token)["status"] == "ok"


def test_rotating_the_token_of_an_inactive_employee_says_inactive(world):
    session, first = open_session(world.db, world.ids["support"])
    admin_exec(world.db, "update epic_events.employee set is_active = false where id = %s",
               (world.ids["support"],))
    # Deactivation revokes the session (the usual answer is "revoked") ...
    assert rotate(world.db, first)["status"] == "revoked"
    # ... and should a session ever escape that, rotation still checks the employee.
    admin_exec(world.db, "update epic_events.session set revoked_at = null, revoked_reason = null"
                         " where id = %s", (session,))
    result = rotate(world.db, first)
    assert result["status"] == "inactive" and result["session_id"] == session
    assert admin_value(world.db, "select rotated_at from epic_events.session_token where token_hash = %s",
                       (first,)) is None


def test_rotation_reports_the_employees_current_department(world):
    # manager2 is nobody's contact, so may move (0011 keeps contacts in place).
    session, first = open_session(world.db, world.ids["manager2"])
    world.as_("manager").run("update employee set department = 'support' where id = %(manager2)s", world.ids)
    assert rotate(world.db, first)["department"] == "support"


def test_two_concurrent_rotations_of_one_token_one_wins_and_the_family_dies(world):
    session, first = open_session(world.db, world.ids["sales"])
    new_tokens = [token_hash(), token_hash()]
    results: list[dict | Exception] = [None, None]
    connections = [authenticator(world.db) for _ in range(2)]
    pids = [c.info.backend_pid for c in connections]

    def refresh(i):
        try:
            cur = connections[i].cursor(row_factory=psycopg.rows.dict_row)
            results[i] = cur.execute("select * from epic_events.auth_rotate_session(%s, %s, %s)",
                                     (first, new_tokens[i], in_(DAY))).fetchone()
            connections[i].commit()
        except Exception as exc:  # reported below
            results[i] = exc

    # Hold the token row so both refreshes queue up on it, then let them race.
    with psycopg.connect(world.db.admin_dsn) as gate:
        gate.execute("select 1 from epic_events.session_token where token_hash = %s for update", (first,))
        threads = [threading.Thread(target=refresh, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            waiting = gate.execute("select count(*) from pg_stat_activity"
                                   " where pid = any(%s) and wait_event_type = 'Lock'", (pids,)).fetchone()[0]
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
    row = session_row(world.db, session)
    assert row["revoked_reason"] == "refresh_token_replayed"
    winner = new_tokens[[r["status"] for r in results].index("ok")]
    assert rotate(world.db, winner)["status"] == "revoked"


# --- auth_revoke_session ---------------------------------------------------------------------

def test_logout_revokes_this_session_only(world):
    mine, _ = open_session(world.db, world.ids["support"])
    laptop, laptop_token = open_session(world.db, world.ids["support"])
    with authenticator(world.db) as conn:
        assert conn.execute("select epic_events.auth_revoke_session(%s, false)", (mine,)).fetchone()[0] == 1
        # Logging out twice revokes nothing more.
        assert conn.execute("select epic_events.auth_revoke_session(%s, false)", (mine,)).fetchone()[0] == 0
    assert session_row(world.db, mine)["revoked_reason"] == "logout"
    assert session_row(world.db, laptop)["revoked_at"] is None
    assert rotate(world.db, laptop_token)["status"] == "ok"


def test_logout_all_revokes_every_session_of_the_employee_and_no_one_elses(world):
    mine, _ = open_session(world.db, world.ids["support"])
    others = [open_session(world.db, world.ids["support"])[0] for _ in range(2)]
    colleague, _ = open_session(world.db, world.ids["support2"])
    with authenticator(world.db) as conn:
        assert conn.execute("select epic_events.auth_revoke_session(%s, true)", (mine,)).fetchone()[0] == 3
    for session in [mine, *others]:
        assert session_row(world.db, session)["revoked_reason"] == "logout_all"
    assert session_row(world.db, colleague)["revoked_at"] is None


def test_logout_of_an_unknown_session_revokes_nothing(world):
    open_session(world.db, world.ids["support"])
    with authenticator(world.db) as conn:
        for everything in (False, True):
            assert conn.execute("select epic_events.auth_revoke_session(%s, %s)",
                                (uuid.uuid4(), everything)).fetchone()[0] == 0
    assert admin_value(world.db, "select count(*) from epic_events.session where revoked_at is not null") == 0


def test_only_digests_of_refresh_tokens_are_stored(world):
    session, digest = open_session(world.db, world.ids["support"])
    assert admin_value(world.db, "select octet_length(token_hash) from epic_events.session_token"
                                 " where session_id = %s", (session,)) == 32
    with pytest.raises(errors.CheckViolation):
        with authenticator(world.db) as conn:
            conn.execute("select epic_events.auth_open_session(%s, %s, %s, %s)",
                         (uuid.uuid4(), world.ids["support"], b"raw-token", in_(DAY)))
