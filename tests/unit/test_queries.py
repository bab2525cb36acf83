"""The named-query loader (epic_events/queries.py): aiosql's format, psycopg's placeholders."""

from __future__ import annotations

import pytest

from epic_events import queries


def one(sql: str) -> queries.Query:
    [query] = queries.parse(f"-- name: q\n{sql}\n").values()
    return query


def test_named_parameters_become_psycopg_placeholders():
    q = one("select id from client where id = :id and sales_contact_id = :employee_id")
    assert q.sql == "select id from client where id = %(id)s and sales_contact_id = %(employee_id)s"
    assert q.params == ("id", "employee_id")


def test_a_parameter_used_twice_is_listed_once():
    q = one("select (:mine::boolean is null or :mine) and :x_1 > 0")
    assert q.sql == "select (%(mine)s::boolean is null or %(mine)s) and %(x_1)s > 0"
    assert q.params == ("mine", "x_1")


def test_casts_are_left_alone():
    q = one("select created_at::date, :day::date, '1'::int, x::text[]")
    assert q.sql == "select created_at::date, %(day)s::date, '1'::int, x::text[]"
    assert q.params == ("day",)


@pytest.mark.parametrize(
    "literal",
    [
        "':not_a_param'",
        "'it''s :still text'",
        "E'back\\\\slash \\' :nor_this'",
        '"odd:column"',
        "$$ :inside_dollars $$",
        "$body$ :inside $ tagged $body$",
    ],
)
def test_quoted_text_is_left_alone(literal):
    q = one(f"select {literal}, :real")
    assert q.sql == f"select {literal}, %(real)s"
    assert q.params == ("real",)


def test_comments_are_left_alone():
    q = one("select 1 -- about :this\n  /* and :that\n over lines */ + :real")
    assert q.sql == "select 1 -- about :this\n  /* and :that\n over lines */ + %(real)s"
    assert q.params == ("real",)


def test_percent_signs_are_escaped_everywhere_the_driver_would_read_them():
    q = one("select x % 2, :prefix || '%' -- 100% sure\n  from t where a like '50%%'")
    assert q.sql == ("select x %% 2, %(prefix)s || '%%' -- 100%% sure\n  from t where a like '50%%%%'")


def test_the_converted_sql_is_what_postgresql_gets():
    from psycopg._queries import PostgresQuery
    from psycopg.adapt import Transformer

    pq = PostgresQuery(Transformer())
    pq.convert(one("select :a, '50%' -- 10%\n").sql, {"a": 1})
    assert pq.query == b"select $1, '50%' -- 10%"


@pytest.mark.parametrize("suffix, kind", [("", ""), ("^", "^"), ("$", "$"), ("!", "!")])
def test_suffixes_say_what_comes_back(suffix, kind):
    [q] = queries.parse(f"-- name: get-thing{suffix}\nselect 1;\n").values()
    assert (q.name, q.kind, q.sql) == ("get_thing", kind, "select 1")


def test_doc_lines_and_several_queries():
    found = queries.parse(
        "-- Clients: the file's own comment is not a query.\n\n"
        "-- name: list-things\n"
        "-- Every thing, newest last.\n"
        "-- Used by `thing list`.\n"
        "select id\n"
        "  -- a comment inside the SQL stays SQL\n"
        "  from thing;\n\n"
        "-- name: count-things$\n"
        "select count(*) from thing;\n"
    )
    assert list(found) == ["list_things", "count_things"]
    assert found["list_things"].doc == "Every thing, newest last. Used by `thing list`."
    assert found["list_things"].sql == "select id\n  -- a comment inside the SQL stays SQL\n  from thing"
    assert found["count_things"].doc == ""
    assert found["count_things"].kind == "$"


def test_a_name_defined_twice_is_an_error():
    with pytest.raises(ValueError, match="defined twice"):
        queries.parse("-- name: a\nselect 1;\n-- name: a^\nselect 2;\n")


@pytest.mark.parametrize("header", ["-- name: insert-thing<!", "-- name: Bad Name", "-- name:"])
def test_a_malformed_header_is_an_error_not_sql_appended_to_the_previous_query(header):
    with pytest.raises(ValueError, match="malformed query header"):
        queries.parse(f"-- name: a\nselect 1;\n{header}\nselect 2;\n")


def test_a_query_without_sql_is_an_error():
    with pytest.raises(ValueError, match="has no SQL"):
        queries.parse("-- name: a\n-- only a doc line\n\n-- name: b\nselect 1;\n")


def test_get_finds_queries_by_resource_and_name():
    q = queries.get("session.whoami")
    assert q.kind == "^" and "current_employee_id()" in q.sql
    with pytest.raises(KeyError, match="no query named 'session.nope'"):
        queries.get("session.nope")
    with pytest.raises(KeyError, match="no query named 'nope.whoami'"):
        queries.get("nope.whoami")


def test_the_client_export_reads_exactly_what_the_client_list_reads():
    """export-clients-csv formats list-clients' rows: its inner query must stay
    list-clients word for word (a change to one is a change to both)."""
    import re

    from epic_events import queries

    def words(sql: str) -> str:
        return re.sub(r"\s+", " ", sql).strip()

    inner = queries.get("client.list_clients").sql
    export = queries.get("client.export_clients_csv").sql
    assert words(inner) in words(export)
    assert words(export).startswith("copy ( select") and words(export).endswith(
        ") l ) to stdout with (format csv, header)"
    )
