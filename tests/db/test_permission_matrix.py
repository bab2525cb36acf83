"""The permission matrix, checked in SQL under each department role (no CLI).

Each case acts as one employee exactly as the CLI does (authenticator login,
SET LOCAL ROLE epic_<department>, then check_request(access token) from a real
login) and runs one statement.

Outcomes:
  allowed   the statement succeeds (a write changes exactly the row aimed at;
            a read sees every row the admin sees)
  no rows   RLS hides the row: the statement succeeds but affects 0 rows, and
            the admin re-reads the table unchanged
  denied    the statement raises InsufficientPrivilege (the SQL grant ceiling,
            or an RLS WITH CHECK); the admin re-reads the table unchanged

"own" rows are the acting employee's: for sales (Sam), the client and the
contracts whose sales contact is Sam; for support (Suzy), the event she is
assigned to. "other's" rows are Sara's (sales2) or Stan's (support2). For
management every row is in scope. test_the_documented_matrix_is_the_tested_one
keeps this table and MATRIX below in step.

| table                 | operation                                 | management | sales   | support |
| --------------------- | ----------------------------------------- | ---------- | ------- | ------- |
| employee              | select directory columns                  | allowed    | allowed | allowed |
| employee              | select password_salt                      | denied     | denied  | denied  |
| employee              | select password_verifier                  | denied     | denied  | denied  |
| employee              | insert                                    | allowed    | denied  | denied  |
| employee              | update                                    | allowed    | denied  | denied  |
| employee              | reset password (salt and verifier)        | allowed    | denied  | denied  |
| employee              | delete (nothing refers to them)           | allowed    | denied  | denied  |
| company               | select                                    | allowed    | allowed | allowed |
| company               | insert                                    | allowed    | allowed | denied  |
| company               | update                                    | allowed    | denied  | denied  |
| company               | delete (no clients)                       | allowed    | denied  | denied  |
| client                | select                                    | allowed    | allowed | allowed |
| client                | insert, sales contact = own               | allowed    | allowed | denied  |
| client                | insert, sales contact = other's           | allowed    | denied  | denied  |
| client                | update own                                | allowed    | allowed | denied  |
| client                | update other's                            | allowed    | no rows | denied  |
| client                | reassign (set sales_contact_id)           | allowed    | denied  | denied  |
| client                | delete (no contracts)                     | allowed    | denied  | denied  |
| contract              | select                                    | allowed    | allowed | allowed |
| contract              | insert                                    | allowed    | denied  | denied  |
| contract              | update own                                | allowed    | allowed | denied  |
| contract              | update other's                            | allowed    | no rows | denied  |
| contract              | set amount_due (the ledger's)             | denied     | denied  | denied  |
| contract              | sign own                                  | allowed    | allowed | denied  |
| contract              | sign other's                              | allowed    | no rows | denied  |
| contract              | reassign (set sales_contact_id)           | allowed    | denied  | denied  |
| contract              | delete (no events)                        | allowed    | denied  | denied  |
| event                 | select                                    | allowed    | allowed | allowed |
| event                 | insert on own signed contract             | denied     | allowed | denied  |
| event                 | insert on other's signed contract         | denied     | denied  | denied  |
| event                 | update own                                | allowed    | denied  | allowed |
| event                 | update other's                            | allowed    | denied  | no rows |
| event                 | assign support (set support_contact_id)   | allowed    | denied  | denied  |
| event                 | delete                                    | allowed    | denied  | denied  |
| payment               | select                                    | allowed    | allowed | allowed |
| payment               | insert on own contract                    | allowed    | allowed | denied  |
| payment               | insert on other's contract                | allowed    | denied  | denied  |
| payment               | insert a correction (negative amount)     | allowed    | denied  | denied  |
| payment               | insert naming who recorded it             | denied     | denied  | denied  |
| payment               | update                                    | denied     | denied  | denied  |
| payment               | delete                                    | denied     | denied  | denied  |
| client_note           | select                                    | allowed    | allowed | allowed |
| client_note           | insert on own client                      | allowed    | allowed | denied  |
| client_note           | insert on other's client                  | allowed    | denied  | denied  |
| client_note           | insert naming who wrote it                | denied     | denied  | denied  |
| client_note           | update                                    | denied     | denied  | denied  |
| client_note           | delete                                    | denied     | denied  | denied  |
| department_permission | select                                    | allowed    | allowed | allowed |
| department_permission | insert (role grant)                       | allowed    | denied  | denied  |
| department_permission | update                                    | denied     | denied  | denied  |
| department_permission | delete (role revoke)                      | allowed    | denied  | denied  |
| audit_log             | select                                    | allowed    | denied  | denied  |
| audit_log             | insert / update / delete                  | denied     | denied  | denied  |
| session               | select / insert / update / delete         | denied     | denied  | denied  |
| session_token         | select / insert / update / delete         | denied     | denied  | denied  |

Passwords are write-only: management sets a salt and a verifier (create,
reset) but no department reads either, not even back through RETURNING.

Management creates no events (the seeded rights give it no event:create; sales
creates them). Events on unsigned contracts are refused to everyone by a
trigger (see test_sales_creates_events_only_on_own_signed_contracts and
test_constraints_and_triggers.py). After the matrix come the behaviours behind
it: who becomes the sales contact, signing, reassigning, assigning support, and
`role grant/revoke` taking effect on the very next statement.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import bcrypt
import pytest
from psycopg import errors

from tests.db.helpers import admin_one, admin_value, snapshot
from tests.world import SALT, VERIFIER

ALLOWED, NO_ROWS, DENIED = "allowed", "no rows", "denied"
DEPARTMENTS = ("management", "sales", "support")
#: Who acts for each department ("own" rows are theirs).
ACTOR = {"management": "manager", "sales": "sales", "support": "support"}

A, N, D = ALLOWED, NO_ROWS, DENIED

_OTHER = bcrypt.hashpw(b"another password", bcrypt.gensalt(4)).decode()
#: world.PASSWORD's salt and verifier, and another password's (a reset).
PASSWORDS = {
    "salt": SALT,
    "verifier": VERIFIER,
    "new_salt": _OTHER[:29],
    "new_verifier": hashlib.sha256(_OTHER.encode()).digest(),
}


@dataclass(frozen=True)
class Case:
    table: str
    operation: str
    statement: str
    outcomes: tuple[str, str, str]  # management, sales, support
    # Run as the admin before acting; its `returning id` is bound as %(target)s.
    setup: str | None = None


EVENT_VALUES = "'Gala', '2027-07-01 18:00+00', '2027-07-01 23:00+00', 'Paris', 120"

MATRIX = [
    # --- employee -----------------------------------------------------------
    Case(
        "employee",
        "select directory columns",
        "select id, employee_number, full_name, email, phone, department, is_active,"
        " created_at, updated_at from employee",
        (A, A, A),
    ),
    Case("employee", "select password_salt", "select password_salt from employee", (D, D, D)),
    Case("employee", "select password_verifier", "select password_verifier from employee", (D, D, D)),
    Case(
        "employee",
        "insert",
        "insert into employee (full_name, email, department, password_salt, password_verifier)"
        " values ('Nina New', 'nina@epic.test', 'support', %(salt)s, %(verifier)s)",
        (A, D, D),
    ),
    Case(
        "employee", "update", "update employee set phone = '+33700000000' where id = %(support2)s", (A, D, D)
    ),
    Case(
        "employee",
        "reset password (salt and verifier)",
        "update employee set password_salt = %(new_salt)s, password_verifier = %(new_verifier)s"
        " where id = %(support2)s",
        (A, D, D),
    ),
    Case(
        "employee",
        "delete (nothing refers to them)",
        "delete from employee where id = %(manager2)s",
        (A, D, D),
    ),
    # --- company ------------------------------------------------------------
    Case("company", "select", "select id, name from company", (A, A, A)),
    Case("company", "insert", "insert into company (name) values ('Globex')", (A, A, D)),
    Case("company", "update", "update company set name = 'Acme Renamed' where id = %(company)s", (A, D, D)),
    Case(
        "company",
        "delete (no clients)",
        "delete from company where id = %(target)s",
        (A, D, D),
        setup="insert into epic_events.company (name) values ('Initech') returning id",
    ),
    # --- client -------------------------------------------------------------
    Case("client", "select", "select id, full_name, sales_contact_id from client", (A, A, A)),
    Case(
        "client",
        "insert, sales contact = own",
        "insert into client (full_name, email, sales_contact_id)"
        " values ('Nora New', 'nora@client.test', %(sales)s)",
        (A, A, D),
    ),
    Case(
        "client",
        "insert, sales contact = other's",
        "insert into client (full_name, email, sales_contact_id)"
        " values ('Nora New', 'nora@client.test', %(sales2)s)",
        (A, D, D),
    ),
    Case("client", "update own", "update client set phone = '+33700000001' where id = %(client)s", (A, A, D)),
    Case(
        "client",
        "update other's",
        "update client set phone = '+33700000001' where id = %(client2)s",
        (A, N, D),
    ),
    Case(
        "client",
        "reassign (set sales_contact_id)",
        "update client set sales_contact_id = %(sales2)s where id = %(client)s",
        (A, D, D),
    ),
    Case(
        "client",
        "delete (no contracts)",
        "delete from client where id = %(target)s",
        (A, D, D),
        setup="insert into epic_events.client (full_name, email, sales_contact_id)"
        " select 'Idle Client', 'idle@client.test', id from epic_events.employee"
        " where email = 'sam@epic.test' returning id",
    ),
    # --- contract -----------------------------------------------------------
    Case("contract", "select", "select id, client_id, sales_contact_id from contract", (A, A, A)),
    Case(
        "contract",
        "insert",
        "insert into contract (client_id, total_amount) values (%(client)s, 500)",
        (A, D, D),
    ),
    Case(
        "contract", "update own", "update contract set total_amount = 1100 where id = %(contract)s", (A, A, D)
    ),
    Case(
        "contract",
        "update other's",
        "update contract set total_amount = 1100 where id = %(contract2)s",
        (A, N, D),
    ),
    Case(
        "contract",
        "set amount_due (the ledger's)",
        "update contract set amount_due = 100 where id = %(contract)s",
        (D, D, D),
    ),
    Case("contract", "sign own", "update contract set is_signed = true where id = %(contract)s", (A, A, D)),
    Case(
        "contract",
        "sign other's",
        "update contract set is_signed = true where id = %(target)s",
        (A, N, D),
        setup="insert into epic_events.contract (client_id, total_amount)"
        " select id, 800 from epic_events.client where email = 'client2@client.test'"
        " returning id",
    ),
    Case(
        "contract",
        "reassign (set sales_contact_id)",
        "update contract set sales_contact_id = %(sales2)s where id = %(contract)s",
        (A, D, D),
    ),
    Case("contract", "delete (no events)", "delete from contract where id = %(contract)s", (A, D, D)),
    # --- event --------------------------------------------------------------
    Case("event", "select", "select id, contract_id, support_contact_id from event", (A, A, A)),
    Case(
        "event",
        "insert on own signed contract",
        "insert into event (contract_id, name, starts_at, ends_at, location, attendees)"
        f" values (%(signed)s, {EVENT_VALUES})",
        (D, A, D),
    ),
    Case(
        "event",
        "insert on other's signed contract",
        "insert into event (contract_id, name, starts_at, ends_at, location, attendees)"
        f" values (%(contract2)s, {EVENT_VALUES})",
        (D, D, D),
    ),
    Case("event", "update own", "update event set attendees = 75 where id = %(event)s", (A, D, A)),
    Case("event", "update other's", "update event set attendees = 75 where id = %(event2)s", (A, D, N)),
    Case(
        "event",
        "assign support (set support_contact_id)",
        "update event set support_contact_id = %(support2)s where id = %(event)s",
        (A, D, D),
    ),
    Case("event", "delete", "delete from event where id = %(event_unassigned)s", (A, D, D)),
    # --- payment (the ledger: never edited, never deleted) -----------------
    Case("payment", "select", "select id, contract_id, amount from payment", (A, A, A)),
    Case(
        "payment",
        "insert on own contract",
        "insert into payment (contract_id, amount, method) values (%(contract)s, 50, 'transfer')",
        (A, A, D),
    ),
    Case(
        "payment",
        "insert on other's contract",
        "insert into payment (contract_id, amount, method) values (%(contract2)s, 50, 'transfer')",
        (A, D, D),
    ),
    Case(
        "payment",
        "insert a correction (negative amount)",
        "insert into payment (contract_id, amount, method) values (%(contract)s, -50, 'other')",
        (A, D, D),
    ),
    Case(
        "payment",
        "insert naming who recorded it",
        "insert into payment (contract_id, amount, method, recorded_by)"
        " values (%(contract)s, 50, 'cash', %(sales)s)",
        (D, D, D),
    ),
    Case("payment", "update", "update payment set amount = 1", (D, D, D)),
    Case("payment", "delete", "delete from payment", (D, D, D)),
    # --- client_note (contact history: never edited, never deleted) ----------
    Case(
        "client_note",
        "select",
        "select id, client_id, kind from client_note",
        (A, A, A),
        setup="insert into epic_events.client_note (client_id, kind, body, written_by)"
        " select c.id, 'call', 'Seeded', c.sales_contact_id from epic_events.client c"
        " where c.email = 'client@client.test' returning id",
    ),
    Case(
        "client_note",
        "insert on own client",
        "insert into client_note (client_id, kind, body) values (%(client)s, 'call', 'Asked for a quote')",
        (A, A, D),
    ),
    Case(
        "client_note",
        "insert on other's client",
        "insert into client_note (client_id, kind, body) values (%(client2)s, 'call', 'Asked for a quote')",
        (A, D, D),
    ),
    Case(
        "client_note",
        "insert naming who wrote it",
        "insert into client_note (client_id, kind, body, written_by)"
        " values (%(client)s, 'call', 'x', %(sales)s)",
        (D, D, D),
    ),
    Case("client_note", "update", "update client_note set body = 'rewritten'", (D, D, D)),
    Case("client_note", "delete", "delete from client_note", (D, D, D)),
    # --- department_permission (role grant / revoke) ------------------------
    Case(
        "department_permission",
        "select",
        "select department, permission_code from department_permission",
        (A, A, A),
    ),
    Case(
        "department_permission",
        "insert (role grant)",
        "insert into department_permission (department, permission_code) values ('support', 'event:update')",
        (A, D, D),
    ),
    Case(
        "department_permission",
        "update",
        "update department_permission set department = 'support'"
        " where department = 'sales' and permission_code = 'company:create'",
        (D, D, D),
    ),
    Case(
        "department_permission",
        "delete (role revoke)",
        "delete from department_permission"
        " where department = 'sales' and permission_code = 'client:update:own'",
        (A, D, D),
    ),
    # --- audit_log ------------------------------------------------------------
    Case("audit_log", "select", "select id, table_name, row_id, action, changes from audit_log", (A, D, D)),
    Case(
        "audit_log",
        "insert",
        "insert into audit_log (db_role, table_name, row_id, action, changes)"
        " values ('epic_sales', 'client', '1', 'delete', '{}')",
        (D, D, D),
    ),
    Case("audit_log", "update", "update audit_log set action = 'delete'", (D, D, D)),
    Case("audit_log", "delete", "delete from audit_log", (D, D, D)),
    # --- session / session_token: only through the auth_* functions ----------
    Case("session", "select", "select id, employee_id from session", (D, D, D)),
    Case(
        "session",
        "insert",
        "insert into session (id, employee_id, expires_at)"
        " values (gen_random_uuid(), %(sales)s, now() + interval '1 day')",
        (D, D, D),
    ),
    Case("session", "update", "update session set expires_at = now() + interval '1 year'", (D, D, D)),
    Case("session", "delete", "delete from session", (D, D, D)),
    Case("session_token", "select", "select token_hash from session_token", (D, D, D)),
    Case(
        "session_token",
        "insert",
        "insert into session_token (token_hash, session_id, expires_at)"
        " values (sha256('stolen'), gen_random_uuid(), now() + interval '1 day')",
        (D, D, D),
    ),
    Case("session_token", "update", "update session_token set rotated_at = null", (D, D, D)),
    Case("session_token", "delete", "delete from session_token", (D, D, D)),
]


def _matrix_params():
    for case in MATRIX:
        for department, outcome in zip(DEPARTMENTS, case.outcomes, strict=True):
            yield pytest.param(
                department, case, outcome, id=f"{department}-{case.table}-{case.operation}-{outcome}"
            )


@pytest.mark.parametrize(("department", "case", "outcome"), list(_matrix_params()))
def test_permission_matrix(world, department, case, outcome):
    actor = world.as_(ACTOR[department])  # opens the session before the snapshot
    params = dict(world.ids, **PASSWORDS)
    if case.setup:
        params["target"] = admin_value(world.db, case.setup)
    before = snapshot(world.db, case.table, "audit_log")
    is_read = case.statement.lstrip().lower().startswith("select")

    if outcome == DENIED:
        with pytest.raises(errors.InsufficientPrivilege):
            actor.run(case.statement, params)
        assert snapshot(world.db, case.table, "audit_log") == before, "a refused statement changed data"
    elif outcome == NO_ROWS:
        assert actor.count(case.statement, params) == 0
        assert snapshot(world.db, case.table, "audit_log") == before, "a hidden row was changed"
    elif is_read:
        seen = actor.count(case.statement, params)
        assert seen == len(before[case.table]) > 0, "a department reads every row of this table"
    else:
        assert actor.count(case.statement, params) == 1
        assert snapshot(world.db, case.table) != {case.table: before[case.table]}


def test_the_documented_matrix_is_the_tested_one():
    documented = {}
    for line in __doc__.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[2] in (ALLOWED, NO_ROWS, DENIED):
            for operation in cells[1].split(" / "):
                documented[(cells[0], operation)] = tuple(cells[2:])
    tested = {(c.table, c.operation): c.outcomes for c in MATRIX}
    assert documented == tested


def test_matrix_covers_every_table_and_operation():
    """The matrix above names each protected table with all four operations."""
    tables = (
        "employee",
        "company",
        "client",
        "contract",
        "event",
        "payment",
        "client_note",
        "department_permission",
        "audit_log",
        "session",
        "session_token",
    )
    for table in tables:
        verbs = {c.statement.split()[0].lower() for c in MATRIX if c.table == table}
        assert verbs == {"select", "insert", "update", "delete"}, table


# --- who may read what ---------------------------------------------------------


@pytest.mark.parametrize("department", DEPARTMENTS)
def test_everyone_logged_in_reads_every_client_contract_and_event(world, department):
    actor = world.as_(ACTOR[department])
    for table in ("company", "client", "contract", "event", "employee", "payment"):
        total = admin_value(world.db, f"select count(*) from epic_events.{table}")
        assert actor.count(f"select id from {table}") == total > 0


@pytest.mark.parametrize("department", DEPARTMENTS)
@pytest.mark.parametrize(
    "statement",
    [
        "select password_salt from employee",
        "select password_verifier from employee",
        "select * from employee",
        "select to_jsonb(e) from employee e",
        "select id from employee where password_salt like '$2b$%%'",
        "select count(*) from employee where password_verifier is not null",
        "select id from employee order by password_verifier",
    ],
)
def test_no_department_reads_a_password_salt_or_verifier(world, department, statement):
    with pytest.raises(errors.InsufficientPrivilege):
        world.as_(ACTOR[department]).run(statement, {})


def test_management_writes_a_password_but_cannot_read_it_back(world):
    manager = world.as_("manager")
    # Setting a new salt and verifier (password reset) is management's ...
    assert (
        manager.count(
            "update employee set password_salt = %(new_salt)s,"
            " password_verifier = %(new_verifier)s where id = %(sales)s",
            dict(world.ids, **PASSWORDS),
        )
        == 1
    )
    # ... but neither RETURNING nor an expression may read them.
    for column in ("password_salt", "password_verifier"):
        with pytest.raises(errors.InsufficientPrivilege):
            manager.run(
                f"update employee set phone = '+33700000002' where id = %(sales)s returning {column}",
                world.ids,
            )
        with pytest.raises(errors.InsufficientPrivilege):
            manager.run(f"update employee set full_name = {column}::text where id = %(sales)s", world.ids)
        with pytest.raises(errors.InsufficientPrivilege):
            manager.run(f"update employee set {column} = {column} where id = %(sales)s", world.ids)


# --- clients ---------------------------------------------------------------------


def test_sales_creating_a_client_becomes_its_sales_contact(world):
    row = world.as_("sales").one(
        "insert into client (full_name, email) values ('Nora New', 'nora@client.test') returning *"
    )
    assert row["sales_contact_id"] == world.ids["sales"]


def test_sales_cannot_create_a_client_for_another_salesperson(world):
    with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
        world.as_("sales").run(
            "insert into client (full_name, email, sales_contact_id)"
            " values ('Nora New', 'nora@client.test', %(sales2)s)",
            world.ids,
        )
    assert admin_value(world.db, "select count(*) from epic_events.client") == 2


def test_sales_updates_own_client_but_not_another_salespersons(world):
    sales = world.as_("sales")
    assert sales.count("update client set full_name = 'Renamed' where id = %(client)s", world.ids) == 1
    assert sales.count("update client set full_name = 'Renamed' where id = %(client2)s", world.ids) == 0
    assert (
        admin_value(
            world.db, "select full_name from epic_events.client where id = %s", (world.ids["client2"],)
        )
        == "Client of sales2"
    )


def test_sales_cannot_reassign_its_own_client(world):
    with pytest.raises(errors.InsufficientPrivilege):
        world.as_("sales").run(
            "update client set sales_contact_id = %(sales2)s where id = %(client)s", world.ids
        )


def test_management_reassigns_a_client_and_its_contracts_follow(world):
    moved = world.as_("manager").count(
        "update client set sales_contact_id = %(sales2)s where id = %(client)s", world.ids
    )
    assert moved == 1
    contacts = {
        r["sales_contact_id"]
        for r in world.as_("manager").run(
            "select sales_contact_id from contract where client_id = %(client)s", world.ids
        )
    }
    assert contacts == {world.ids["sales2"]}
    # And the rights follow the contact: Sara now updates them, Sam no longer does.
    assert (
        world.as_("sales2").count("update contract set total_amount = 900 where id = %(signed)s", world.ids)
        == 1
    )
    assert (
        world.as_("sales").count("update contract set total_amount = 950 where id = %(signed)s", world.ids)
        == 0
    )


# --- contracts -------------------------------------------------------------------


def test_sales_signs_own_contract_but_not_another_salespersons(world):
    params = dict(
        world.ids,
        target=admin_value(
            world.db,
            "insert into epic_events.contract (client_id, total_amount) values (%s, 10) returning id",
            (world.ids["client2"],),
        ),
    )
    sales = world.as_("sales")
    signed = sales.one(
        "update contract set is_signed = true where id = %(contract)s returning is_signed, signed_at", params
    )
    assert signed["is_signed"] and signed["signed_at"] is not None
    assert sales.count("update contract set is_signed = true where id = %(target)s", params) == 0
    assert sales.count("update contract set is_signed = true where id = %(contract2)s", params) == 0
    assert (
        admin_value(world.db, "select is_signed from epic_events.contract where id = %s", (params["target"],))
        is False
    )


def test_management_signs_any_contract(world):
    row = world.as_("manager").one(
        "update contract set is_signed = true where id = %(contract)s returning signed_at", world.ids
    )
    assert row["signed_at"] is not None


def test_sales_without_sign_own_cannot_sign_but_still_updates_own_contract(world):
    world.as_("manager").run(
        "delete from department_permission"
        " where department = 'sales' and permission_code = 'contract:sign:own'"
    )
    sales = world.as_("sales")
    with pytest.raises(errors.InsufficientPrivilege, match="signing needs"):
        sales.run("update contract set is_signed = true where id = %(contract)s", world.ids)
    assert sales.count("update contract set total_amount = 1010 where id = %(contract)s", world.ids) == 1


def test_management_reassigns_a_contract(world):
    assert (
        world.as_("manager").count(
            "update contract set sales_contact_id = %(sales2)s where id = %(contract)s", world.ids
        )
        == 1
    )
    assert (
        admin_value(
            world.db,
            "select sales_contact_id from epic_events.contract where id = %s",
            (world.ids["contract"],),
        )
        == world.ids["sales2"]
    )
    # The client keeps its contact: only that contract moved.
    assert (
        admin_value(
            world.db, "select sales_contact_id from epic_events.client where id = %s", (world.ids["client"],)
        )
        == world.ids["sales"]
    )


def test_nobody_moves_a_contract_to_another_client(world):
    for who in ("manager", "sales"):
        with pytest.raises(errors.InsufficientPrivilege):
            world.as_(who).run(
                "update contract set client_id = %(client2)s where id = %(contract)s", world.ids
            )


# --- events ----------------------------------------------------------------------


def test_sales_creates_events_only_on_own_signed_contracts(world):
    sales = world.as_("sales")
    insert = (
        "insert into event (contract_id, name, starts_at, ends_at, location, attendees)"
        f" values (%(c)s, {EVENT_VALUES}) returning id, support_contact_id"
    )
    created = sales.one(insert, {"c": world.ids["signed"]})
    assert created["support_contact_id"] is None
    with pytest.raises(errors.CheckViolation, match="not signed"):
        sales.run(insert, {"c": world.ids["contract"]})  # own, unsigned
    with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
        sales.run(insert, {"c": world.ids["contract2"]})  # Sara's
    assert admin_value(world.db, "select count(*) from epic_events.event") == 4


def test_sales_cannot_pick_the_support_contact_of_a_new_event(world):
    with pytest.raises(errors.InsufficientPrivilege):
        world.as_("sales").run(
            "insert into event (contract_id, name, support_contact_id, starts_at, ends_at, location,"
            " attendees) values (%(signed)s, 'Gala', %(support)s, now(), now() + interval '1 hour',"
            " 'Paris', 1)",
            world.ids,
        )


def test_support_updates_own_event_but_not_another(world):
    support = world.as_("support")
    assert support.count("update event set notes = 'Bring chairs' where id = %(event)s", world.ids) == 1
    assert support.count("update event set notes = 'Bring chairs' where id = %(event2)s", world.ids) == 0
    assert support.count("update event set notes = 'x' where id = %(event_unassigned)s", world.ids) == 0
    assert (
        admin_value(world.db, "select notes from epic_events.event where id = %s", (world.ids["event2"],))
        is None
    )


def test_support_cannot_change_the_support_contact(world):
    support = world.as_("support")
    for new_contact in (world.ids["support2"], None):
        with pytest.raises(errors.InsufficientPrivilege):
            support.run(
                "update event set support_contact_id = %(c)s where id = %(e)s",
                {"c": new_contact, "e": world.ids["event"]},
            )
    assert (
        admin_value(
            world.db, "select support_contact_id from epic_events.event where id = %s", (world.ids["event"],)
        )
        == world.ids["support"]
    )


def test_management_assigns_and_reassigns_support(world):
    manager = world.as_("manager")
    assert (
        manager.count(
            "update event set support_contact_id = %(support)s where id = %(event_unassigned)s", world.ids
        )
        == 1
    )
    assert (
        manager.count("update event set support_contact_id = %(support2)s where id = %(event)s", world.ids)
        == 1
    )
    # Rights follow the assignment at once.
    assert world.as_("support2").count("update event set attendees = 1 where id = %(event)s", world.ids) == 1
    assert world.as_("support").count("update event set attendees = 2 where id = %(event)s", world.ids) == 0
    assert (
        world.as_("support").count(
            "update event set attendees = 3 where id = %(event_unassigned)s", world.ids
        )
        == 1
    )


# --- deleting ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "key"), [("event", "event_unassigned"), ("contract", "contract"), ("employee", "manager2")]
)
def test_only_management_deletes(world, table, key):
    for who in ("sales", "support"):
        with pytest.raises(errors.InsufficientPrivilege):
            world.as_(who).run(f"delete from {table} where id = %(id)s", {"id": world.ids[key]})
    assert world.as_("manager").count(f"delete from {table} where id = %(id)s", {"id": world.ids[key]}) == 1


# --- role grant / revoke -------------------------------------------------------------


def test_revoking_client_update_own_applies_to_the_very_next_statement_of_sales(world):
    sales, manager = world.as_("sales"), world.as_("manager")
    assert sales.count("update client set phone = '+33700000003' where id = %(client)s", world.ids) == 1
    assert (
        manager.count(
            "delete from department_permission"
            " where department = 'sales' and permission_code = 'client:update:own'"
        )
        == 1
    )
    assert sales.count("update client set phone = '+33700000004' where id = %(client)s", world.ids) == 0
    assert (
        admin_value(world.db, "select phone from epic_events.client where id = %s", (world.ids["client"],))
        == "+33700000003"
    )
    # Granting it back restores it, again at once.
    manager.run(
        "insert into department_permission (department, permission_code)"
        " values ('sales', 'client:update:own')"
    )
    assert sales.count("update client set phone = '+33700000005' where id = %(client)s", world.ids) == 1


def test_granting_event_update_lets_support_update_any_event_at_once(world):
    support = world.as_("support")
    assert support.count("update event set attendees = 10 where id = %(event2)s", world.ids) == 0
    world.as_("manager").run(
        "insert into department_permission (department, permission_code) values ('support', 'event:update')"
    )
    assert support.count("update event set attendees = 10 where id = %(event2)s", world.ids) == 1
    # Within the ceiling of the SQL grants: still no support_contact_id for support.
    with pytest.raises(errors.InsufficientPrivilege):
        support.run("update event set support_contact_id = %(support)s where id = %(event2)s", world.ids)


def test_granting_a_right_above_the_ceiling_changes_nothing(world):
    world.as_("manager").run(
        "insert into department_permission (department, permission_code) values ('support', 'client:create')"
    )
    with pytest.raises(errors.InsufficientPrivilege):
        world.as_("support").run(
            "insert into client (full_name, email, sales_contact_id)"
            " values ('X', 'x@client.test', %(sales)s)",
            world.ids,
        )


def test_granting_an_unknown_permission_code_is_refused(world):
    with pytest.raises(errors.ForeignKeyViolation):
        world.as_("manager").run(
            "insert into department_permission (department, permission_code)"
            " values ('sales', 'client:teleport')"
        )


@pytest.mark.parametrize("department", ["sales", "support"])
@pytest.mark.parametrize(
    "statement",
    [
        "insert into department_permission (department, permission_code) values ('{dept}', 'event:update')",
        "delete from department_permission where department = 'sales'",
        "update department_permission set department = '{dept}'",
        "insert into permission (code, description) values ('client:steal', 'x')",
    ],
)
def test_other_departments_cannot_grant_or_revoke(world, department, statement):
    before = snapshot(world.db, "department_permission", "permission")
    with pytest.raises(errors.InsufficientPrivilege):
        world.as_(ACTOR[department]).run(statement.format(dept=department))
    assert snapshot(world.db, "department_permission", "permission") == before


def test_management_cannot_edit_the_permission_catalog(world):
    for statement in (
        "insert into permission (code, description) values ('client:steal', 'x')",
        "delete from permission where code = 'event:delete'",
        "update permission set description = 'x'",
    ):
        with pytest.raises(errors.InsufficientPrivilege):
            world.as_("manager").run(statement)


def test_a_revoked_right_is_gone_even_inside_an_open_connection(world):
    """has_permission() reads department_permission per statement, not per login."""
    manager = world.as_("manager")
    manager.run(
        "delete from department_permission where department = 'management'"
        " and permission_code = 'company:update'"
    )
    assert manager.count("update company set name = 'Nope' where id = %(company)s", world.ids) == 0
    assert admin_one(world.db, "select name from epic_events.company")["name"] == "Acme Events"
    # Grant/revoke is not itself a permission code: management can always restore it.
    manager.run(
        "insert into department_permission (department, permission_code)"
        " values ('management', 'company:update')"
    )
    assert manager.count("update company set name = 'Yes' where id = %(company)s", world.ids) == 1
