"""The request check (migration 0015), tried in SQL: what test_attacks.py does not.

check_request(access token), the CLI's first statement after SET ROLE, verifies
the token and the session and records the caller in three registers
(sequences only their owner may use: currval answers in this backend only):
the employee, the session's number, and a stamp = this transaction's start and
the role in use. current_employee_id() and current_session_id() answer from
them while the stamp matches, else NULL. tests/security/test_attacks.py tries
forgeries, other connections, the next transaction, a failed check in the same
transaction, a role switch, a read-only transaction's refusal and pooled
interleaving; here: nobody else touches the registers, a check holds for its
whole transaction, a later check replaces an earlier one, the role binding,
DISCARD ALL, and what a read-only transaction leaves behind.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors

from tests.db.helpers import admin_exec, authenticator, begin_request, open_session
from tests.world import ROLE

REGISTERS = ("request_employee", "request_session", "request_stamp")
ROLES = (None, "epic_management", "epic_sales", "epic_support")  # None: the authenticator


def who(conn) -> int | None:
    return conn.execute("select epic_events.current_employee_id()").fetchone()[0]


def session_id(conn):
    return conn.execute("select epic_events.current_session_id()").fetchone()[0]


def clients(conn) -> int:
    return conn.execute("select count(*) from client").fetchone()[0]


def revoke(db, session) -> None:
    admin_exec(
        db,
        "update epic_events.session set revoked_at = now(), revoked_reason = 'logout' where id = %s",
        (session.id,),
    )


@pytest.fixture
def sales(world):
    """A live session of the sales employee (a real login)."""
    return open_session(world.db, world.ids["sales"])


@pytest.mark.parametrize("register", REGISTERS)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "statement",
    [
        "select setval('epic_events.{r}', 1)",
        "select setval('epic_events.{r}', 1, false)",
        "select nextval('epic_events.{r}')",
        "select currval('epic_events.{r}')",
        "select last_value from epic_events.{r}",
        "alter sequence epic_events.{r} restart",
        "alter sequence epic_events.{r} owned by none",
    ],
)
def test_only_the_owner_sets_or_reads_the_registers(world, sales, register, role, statement):
    with authenticator(world.db) as conn:
        # Even right after a real check (which set them in this backend).
        assert begin_request(conn, sales.role, sales.access_token)
        conn.execute("select set_config('role', %s, true)", (role or "none",))
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(statement.format(r=register))


@pytest.mark.parametrize("register", REGISTERS)
@pytest.mark.parametrize("role", ROLES)
def test_the_registers_last_values_read_as_nothing(world, sales, register, role):
    """pg_sequence_last_value() answers NULL without the privilege (PostgreSQL 18; older
    versions refuse outright): either way, nothing."""
    with authenticator(world.db) as conn:
        assert begin_request(conn, sales.role, sales.access_token)
        conn.execute("select set_config('role', %s, true)", (role or "none",))
        try:
            value = conn.execute(f"select pg_sequence_last_value('epic_events.{register}')").fetchone()
        except errors.InsufficientPrivilege:
            return
        assert value == (None,)


@pytest.mark.parametrize("gone", ["checked_employee", "checked_role", "checked_until"])
def test_the_0014_registers_are_gone(db, gone):
    with authenticator(db) as conn, pytest.raises(errors.UndefinedTable):
        conn.execute(f"select currval('epic_events.{gone}')")


def test_a_check_names_its_employee_and_session(world, sales):
    with authenticator(world.db) as conn:
        conn.execute("select set_config('role', %s, true)", (sales.role,))
        assert (who(conn), session_id(conn)) == (None, None)
        conn.rollback()
        assert begin_request(conn, sales.role, sales.access_token)
        assert (who(conn), session_id(conn)) == (world.ids["sales"], sales.id)
        assert clients(conn) == 2
        conn.commit()
        conn.execute("set role epic_sales")  # the role alone, in the next transaction
        assert (who(conn), session_id(conn)) == (None, None)


def test_a_check_holds_for_its_whole_transaction_and_no_longer(world, sales):
    with authenticator(world.db) as conn:
        assert begin_request(conn, sales.role, sales.access_token)
        revoke(world.db, sales)
        # The revocation committed after the check: within this transaction it holds ...
        assert clients(conn) == 2
        assert who(conn) == world.ids["sales"]
        conn.commit()
        # ... and the next one checks again, and is refused.
        assert not begin_request(conn, sales.role, sales.access_token)
        assert clients(conn) == 0


def test_a_later_check_in_the_same_transaction_replaces_the_earlier_one(world, sales):
    other = open_session(world.db, world.ids["sales2"])
    with authenticator(world.db) as conn:
        assert begin_request(conn, sales.role, sales.access_token)
        assert begin_request(conn, other.role, other.access_token)
        assert (who(conn), session_id(conn)) == (world.ids["sales2"], other.id)
        # And back: each check records exactly what it verified.
        assert begin_request(conn, sales.role, sales.access_token)
        assert (who(conn), session_id(conn)) == (world.ids["sales"], sales.id)


def test_a_failed_check_cannot_be_revived_by_forcing_the_flag(world, sales):
    with authenticator(world.db) as conn:
        assert begin_request(conn, sales.role, sales.access_token)
        conn.commit()
        revoke(world.db, sales)
        assert not begin_request(conn, sales.role, sales.access_token)
        conn.execute("select set_config('epic.request_checked', 'on', false)")
        assert who(conn) is None and clients(conn) == 0
        # Nor a later transaction in the same role.
        conn.commit()
        conn.execute("select set_config('role', %s, true)", (sales.role,))
        assert who(conn) is None and clients(conn) == 0


def test_the_check_is_bound_to_the_role_it_was_made_in(world, sales):
    with authenticator(world.db) as conn:
        assert begin_request(conn, sales.role, sales.access_token)
        for other in ("epic_management", "epic_support", "none"):
            conn.execute("savepoint s")
            conn.execute("select set_config('role', %s, true)", (other,))
            # Another role in a checked transaction is refused outright (0015).
            with pytest.raises(errors.InsufficientPrivilege, match="role in use changed"):
                who(conn)
            conn.execute("rollback to savepoint s")
        # Back in the checked role, in the same transaction: the same employee again.
        conn.execute("select set_config('role', %s, true)", (sales.role,))
        assert who(conn) == world.ids["sales"]


@pytest.mark.parametrize("department", ["management", "support"])
def test_a_check_in_another_departments_role_is_refused(world, sales, department):
    with authenticator(world.db) as conn:
        assert not begin_request(conn, ROLE[department], sales.access_token)
        assert who(conn) is None


def test_discard_all_forgets_the_check(world, sales):
    with psycopg.connect(world.db.app_dsn, autocommit=True) as conn:
        conn.execute("begin")
        assert begin_request(conn, sales.role, sales.access_token)
        conn.execute("commit")
        conn.execute("discard all")  # what a connection pooler runs between clients
        assert conn.execute("select current_setting('epic.request_checked', true)").fetchone()[0] in (
            None,
            "",
        )
        conn.execute("begin")
        conn.execute("select set_config('role', %s, true)", (sales.role,))
        assert who(conn) is None
        conn.execute("select set_config('epic.request_checked', 'on', false)")
        with pytest.raises(errors.ObjectNotInPrerequisiteState):
            who(conn)  # the registers went with it: a forged flag fails closed
        conn.execute("rollback")
        # A new check works as on a fresh connection.
        conn.execute("begin")
        assert begin_request(conn, sales.role, sales.access_token)
        assert who(conn) == world.ids["sales"]
        conn.execute("rollback")


def test_a_read_only_transaction_is_refused_and_leaves_nobody_behind(world, sales):
    """check_request() raises in a read-only transaction (test_attacks.py); what remains
    afterwards is nobody, even where an earlier check of this connection succeeded."""
    with authenticator(world.db) as conn:
        assert begin_request(conn, sales.role, sales.access_token)
        conn.commit()
        conn.execute("set transaction read only")
        with pytest.raises(errors.ReadOnlySqlTransaction):
            begin_request(conn, sales.role, "garbage")  # refused before the token is even read
        conn.rollback()
        conn.execute("set transaction read only")
        conn.execute("select set_config('role', %s, true)", (sales.role,))
        assert who(conn) is None and clients(conn) == 0
