"""--all on every list: every matching row, streamed through a server-side cursor."""

from __future__ import annotations

import csv
import io

import pytest

from epic_events import queries
from epic_events.cli.options import TABLE_ALL_MAX

LISTS = [
    ("client", "list"),
    ("company", "list"),
    ("contract", "list"),
    ("employee", "list"),
    ("event", "list"),
]


def _many_clients(world, n: int) -> None:
    """n more clients of Sam (sales), as the admin: triggers and checks apply."""
    with world.db.admin() as conn:
        conn.execute(
            "insert into epic_events.client (full_name, email, sales_contact_id)"
            " select 'Bulk ' || g, 'bulk' || g || '@client.test', %s from generate_series(1, %s) g",
            (world.ids["sales"], n),
        )


@pytest.mark.parametrize("command", LISTS, ids=lambda c: c[0])
def test_all_answers_what_the_pages_answer_in_json_and_csv(cli, command):
    cli.login("manager")
    paged = cli.json(*command, "--limit", "1000")
    assert paged, "the world has rows of every kind"
    assert cli.json(*command, "--all") == paged
    csv_paged = cli(*command, "--limit", "1000", "--format", "csv")
    csv_all = cli(*command, "--all", "--format", "csv")
    assert csv_all.exit_code == 0, csv_all.stderr
    assert csv_all.stdout == csv_paged.stdout


def test_all_streams_past_one_batch_and_keeps_filters_and_order(cli):
    _many_clients(cli.world, 12_000)  # three batches of the cursor (5,000 each)
    cli.login("sales")
    rows = cli.json("client", "list", "--all", "--mine", "--desc")
    assert len(rows) == 12_001  # Sam's world client too
    assert {r["sales_contact_id"] for r in rows} == {cli.world.ids["sales"]}
    ids = [r["id"] for r in rows]
    assert ids == sorted(ids, reverse=True)
    lines = list(csv.reader(io.StringIO(cli("client", "list", "--all", "--format", "csv").stdout)))
    assert len(lines) == 1 + 12_002 and lines[0][0] == "id"


def test_all_of_nothing_is_an_empty_list(cli):
    cli.login("sales")
    assert cli.json("client", "list", "--all", "--search", "nobody-at-all") == []
    r = cli("client", "list", "--all", "--search", "nobody-at-all", "--format", "csv")
    assert r.stdout.splitlines() == [r.stdout.splitlines()[0]]  # the header only


def test_all_with_paging_options_is_refused(cli):
    cli.login("sales")
    for extra in (("--offset", "3"), ("--page", "2"), ("--limit", "10")):
        r = cli("client", "list", "--all", *extra, "--format", "json")
        assert r.exit_code == 1 and "--all" in r.stderr, r.stderr


def test_a_table_of_all_is_printed_up_to_its_limit_then_refused(cli):
    cli.login("sales")
    r = cli("client", "list", "--all", "--format", "table")
    assert r.exit_code == 0 and "2 rows" in r.stdout
    _many_clients(cli.world, TABLE_ALL_MAX)
    r = cli("client", "list", "--all", "--format", "table")
    assert r.exit_code == 1 and "--format csv" in r.stderr
    assert r.stdout == ""


def test_one_cursor_keeps_the_callers_identity_for_the_whole_stream(world):
    """A request's identity lasts 5 minutes of its transaction (0015): statements
    started later are nobody. --all is one query read by FETCHes: its InitPlans
    (current_employee_id(), caller_department()) are evaluated when it starts and
    hold for every FETCH. Here the identity is taken away half-way through the
    stream (as the 5 minutes would), and the rest of the stream still comes."""
    _many_clients(world, 300)
    sam = world.as_("sales")
    list_clients = queries.get("client.list_clients")
    params = {
        "mine": True,
        "company_id": None,
        "search": None,
        "pattern": None,
        "stale_before": None,
        "sort": "id",
        "desc": False,
        "limit": None,
        "offset": 0,
    }
    conn = sam.conn
    try:
        with conn.cursor() as cur:
            sam._begin(cur)
        with conn.cursor(name="stream") as cur:
            cur.execute(list_clients.sql, params)
            first = cur.fetchmany(100)
            conn.execute("select set_config('epic.request_checked', 'off', true)")
            assert conn.execute("select epic_events.current_employee_id()").fetchone()[0] is None
            # A new statement now sees nothing: RLS and --mine have nobody to match.
            assert conn.execute("select count(*) from epic_events.client").fetchone()[0] == 0
            rest = cur.fetchall()
        assert len(first) + len(rest) == 301
    finally:
        conn.rollback()


def test_the_servers_csv_of_all_clients_is_the_pages_csv_byte_for_byte(cli):
    """client list --all --format csv is written by the server (COPY, client.sql
    export-clients-csv): quoting, formula cells, NULLs and timestamps (with and
    without microseconds) as render.to_csv writes them."""
    with cli.world.db.admin() as conn:
        company = conn.execute(
            "insert into epic_events.company (name) values ('=Evil, \"Co\"') returning id"
        ).fetchone()[0]
        conn.execute(
            "insert into epic_events.client (full_name, email, phone, company_id, sales_contact_id,"
            " last_contact_at, created_at) values"
            " ('+Plus \"quoted\", name', '=eq@x.io', '+33612345678', %s, %s,"
            "  '2026-01-02 03:04:05.000007+00', '2026-01-02 03:04:05+00'),"
            " ('-Minus', '-minus@x.io', null, null, %s, '2026-06-30 23:59:59+02', now()),"
            " ('Zoé Ünicode', 'z@x.io', null, null, %s, null, '1999-12-31 23:59:59.5+00')",
            (company, cli.world.ids["sales"], cli.world.ids["sales2"], cli.world.ids["sales"]),
        )
    cli.login("sales")
    for extra in (
        (),
        ("--mine", "--desc"),
        ("--sort", "name"),
        ("--search", "o"),
        ("--sort", "created_at", "--desc"),
    ):
        paged = cli("client", "list", *extra, "--limit", "1000", "--format", "csv")
        every = cli("client", "list", *extra, "--all", "--format", "csv")
        assert every.exit_code == 0, every.stderr
        assert every.stdout == paged.stdout, extra
    rows = {
        r["email"]: r
        for r in csv.DictReader(io.StringIO(cli("client", "list", "--all", "--format", "csv").stdout))
    }
    plus = rows["'=eq@x.io"]
    assert plus["full_name"] == '\'+Plus "quoted", name' and plus["company_name"] == '\'=Evil, "Co"'
    assert plus["last_contact_at"] == "2026-01-02T03:04:05.000007+00:00"
    assert plus["created_at"] == "2026-01-02T03:04:05+00:00"
    assert rows["'-minus@x.io"]["last_contact_at"] == "2026-06-30T21:59:59+00:00"
    assert (
        rows["z@x.io"]["phone"] == "" and rows["z@x.io"]["created_at"] == "1999-12-31T23:59:59.500000+00:00"
    )


def test_the_servers_csv_reads_under_row_level_security(cli):
    """COPY (query) TO applies the SELECT policies as the query would: --mine is the
    caller's, and a caller without a live request gets nothing."""
    cli.login("sales2")
    rows = list(
        csv.DictReader(io.StringIO(cli("client", "list", "--all", "--mine", "--format", "csv").stdout))
    )
    assert [int(r["id"]) for r in rows] == [cli.world.ids["client2"]]
