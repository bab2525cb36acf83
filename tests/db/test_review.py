"""`db review`'s matrix, read from the catalog, is the one SPEC.md's default rights imply."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from epic_events import review
from epic_events.db import Transaction

A, O, R = review.ALLOWED, review.OWN, review.REFUSED  # noqa: E741 (the matrix letters)

# SPEC.md, "Default rights" (everyone reads every client, contract and event,
# and the staff directory), with the ledger (0017) and contact history (0019)
# as the README describes them. Per table: select, insert, update, delete for
# management, sales, support. Tables no department touches are all refused.
SPEC = {
    "employee": {"select": "AAA", "insert": "ARR", "update": "ARR", "delete": "ARR"},
    "company": {"select": "AAA", "insert": "AAR", "update": "ARR", "delete": "ARR"},
    "client": {"select": "AAA", "insert": "AOR", "update": "AOR", "delete": "ARR"},
    "contract": {"select": "AAA", "insert": "ARR", "update": "AOR", "delete": "ARR"},
    "event": {"select": "AAA", "insert": "ROR", "update": "ARO", "delete": "ARR"},
    "payment": {"select": "AAA", "insert": "AOR", "update": "RRR", "delete": "RRR"},
    "client_note": {"select": "AAA", "insert": "AOR", "update": "RRR", "delete": "RRR"},
    "department": {"select": "AAA", "insert": "RRR", "update": "RRR", "delete": "RRR"},
    "permission": {"select": "AAA", "insert": "RRR", "update": "RRR", "delete": "RRR"},
    "department_permission": {"select": "AAA", "insert": "ARR", "update": "RRR", "delete": "ARR"},
    "audit_log": {"select": "ARR", "insert": "RRR", "update": "RRR", "delete": "RRR"},
}
LETTER = {"A": A, "O": O, "R": R}
README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"<!-- db review matrix: begin.*?-->\n(.*?)<!-- db review matrix: end -->", re.S)


def build(db) -> dict:
    with psycopg.connect(db.admin_dsn, row_factory=dict_row) as conn:
        conn.execute("set local role epic_owner")
        return review.build(Transaction(conn))


def test_the_matrix_is_the_one_the_spec_implies(db):
    report = build(db)
    found = {(c["table"], c["operation"], c["department"]): c["outcome"] for c in report["matrix"]}
    expected = {}
    for table in {t for t, _, _ in found}:
        for op in review.OPERATIONS:
            letters = SPEC.get(table, {}).get(op, "RRR")
            for department, letter in zip(("management", "sales", "support"), letters, strict=True):
                expected[(table, op, department)] = LETTER[letter]
    assert found == expected


def test_each_cell_names_its_grant_policies_and_codes(db):
    cells = {(c["table"], c["operation"], c["department"]): c for c in build(db)["matrix"]}
    sales_update = cells[("contract", "update", "sales")]
    assert sales_update["grant"] == "columns: total_amount, is_signed"
    assert sales_update["policies"] == ["contract_update", "contract_checked_for_sales"]
    assert sales_update["widened_by"] == ["contract:update", "contract:update:own"]
    assert cells[("employee", "insert", "sales")]["grant"] == "none"


def test_a_code_granted_at_run_time_widens_the_cell(db):
    """`role grant sales event:create` (management, at run time) turns sales's
    own-client events into any contract's: the matrix reads the data too."""
    with db.admin() as conn:
        conn.execute(
            "insert into epic_events.department_permission (department, permission_code)"
            " values ('sales', 'event:create')"
        )
    cells = {(c["table"], c["operation"], c["department"]): c for c in build(db)["matrix"]}
    assert cells[("event", "insert", "sales")]["outcome"] == A


def test_the_clean_schema_breaks_no_house_rule(db):
    assert build(db)["problems"] == []


def test_every_house_rule_broken_is_reported(db):
    with db.admin() as conn:
        conn.execute("begin")
        conn.execute("set local role epic_owner")
        conn.execute("create table epic_events.scratch (id int)")
        conn.execute("alter table epic_events.scratch enable row level security")
        conn.execute("grant select on epic_events.scratch to epic_sales, public")
        conn.execute("create function epic_events.loose() returns int language sql as 'select 1'")
        conn.execute(
            "create function epic_events.half() returns int language sql"
            " set search_path = pg_temp, pg_catalog as 'select 1'"
        )
        # 0001's default privileges keep EXECUTE from PUBLIC: only by hand.
        conn.execute("grant execute on function epic_events.loose() to public")
        conn.execute("commit")
        conn.execute(
            psycopg.sql.SQL("grant temporary on database {} to public").format(
                psycopg.sql.Identifier(db.name)
            )
        )
    problems = {(p["rule"], p["object"]) for p in build(db)["problems"]}
    assert problems == {
        ("row-level security enabled and forced", "scratch"),
        ("search_path pinned, pg_temp last", "epic_events.loose()"),
        ("search_path pinned, pg_temp last", "epic_events.half()"),
        ("nothing granted to PUBLIC", "table scratch"),
        ("nothing granted to PUBLIC", "function epic_events.loose()"),
        ("no TEMP for PUBLIC", f"database {db.name}"),
        ("bound to the checked department", "scratch"),
    }


def test_the_functions_each_role_executes_with_owner_and_search_path(db):
    functions = build(db)["functions"]
    mine = {f["function_name"] for f in functions if f["grantee"] == "epic_authenticator"}
    assert "epic_events.check_request(text)" in mine and "epic_events.schema_version()" in mine
    assert not [f for f in functions if f["grantee"] == "public"]
    assert all(
        f["owner"] == "epic_owner" and f["search_path"] == "pg_catalog, epic_events, pg_temp"
        for f in functions
    )


def test_the_readme_matrix_is_generated_from_the_review(db):
    block = BLOCK.search(README.read_text())
    assert block, "README.md lacks the <!-- db review matrix: begin/end --> block"
    generated = review.markdown_matrix(build(db))
    assert block.group(1) == generated, "paste this between the markers:\n" + generated


@pytest.mark.parametrize(
    "expression, codes, expected",
    [
        ("(( SELECT epic_events.current_employee_id() AS current_employee_id) IS NOT NULL)", set(), True),
        ("( SELECT epic_events.has_permission('a'::text) AS has_permission)", set(), False),
        (
            "(( SELECT epic_events.has_permission('a'::text) AS has_permission) OR "
            "(( SELECT epic_events.has_permission('a:own'::text) AS has_permission) AND "
            "(owner_id = ( SELECT epic_events.current_employee_id() AS current_employee_id))))",
            {"a:own"},
            "rows",
        ),
        ("(name = 'x OR y'::text)", set(), "rows"),
    ],
)
def test_the_expression_reader(expression, codes, expected):
    assert review.evaluate(expression, "sales", codes) == expected
