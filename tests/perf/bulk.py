"""`make bench`, bulk part (issue 15, items 3 and 4), on the large data set.

- Export: `client list --all --format csv` of the 1M clients, as management,
  against `psql` running `\\copy (the same select) to stdout csv`: list-clients
  with the same parameter values, after the same first statement (the role,
  then check_request() of the same token), in one transaction, as the
  authenticator over the same socket: the rows under the same rules, written
  by psql. Goal: ≤ 2× its wall time; peak RSS ≤ 70 MB.
- Import: `client import` of 100,000 new clients (management, a sales_contact
  column of ids, companies that exist), against psql `\\copy epic_events.client
  (…) from` the same rows (company ids instead of names), with every trigger,
  as the admin: the owner itself cannot (FORCE ROW LEVEL SECURITY, and COPY
  FROM is refused on a table with row-level security), the superuser admin
  bypasses RLS. Both commit; the rows are deleted (triggers off) and the table
  vacuumed between runs, outside the times. Goal: ≤ 3× its wall time.

Rounds interleave the two sides (the order alternates); ratios are the
medians of the round-by-round ratios, as in bench.py.
"""

from __future__ import annotations

import csv
import subprocess
import time
from pathlib import Path

GOALS = {"export_vs_copy": 2.0, "export_rss_mb": 70.0, "import_vs_copy": 3.0}
IMPORT_ROWS = 100_000
DOMAIN = "import.bench"


def _wall(argv: list[str], env: dict, what: str) -> float:
    """Wall time (s) of a command whose output goes nowhere (it may be 200 MB)."""
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{what} failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed


def _list_select(conn, params: dict) -> str:
    """list-clients with its parameter values inlined, on one line (for \\copy)."""
    import psycopg

    from epic_events import queries

    sql = psycopg.ClientCursor(conn).mogrify(queries.get("client.list_clients").sql, params)
    assert "--" not in sql, "\\copy takes one line: no comments in the query"
    return " ".join(sql.split())


def export(bench, server, dbname: str, who, home: Path, runs: int, log) -> dict:
    import psycopg

    from epic_events import queries

    params = {
        "mine": False,
        "company_id": None,
        "search": None,
        "pattern": None,
        "stale_before": None,
        "sort": "id",
        "desc": False,
        "limit": None,
        "offset": 0,
    }
    with psycopg.connect(server.dsn(dbname), autocommit=True) as admin:
        cur = psycopg.ClientCursor(admin)
        begin = cur.mogrify(queries.get("session.begin_request").sql, who.begin_request())
        script = home / "export.psql"
        script.write_text(
            f"begin;\n{begin};\n\\copy ({_list_select(admin, params)}) to stdout csv\ncommit;\n"
        )
        rows = admin.execute("select count(*) from epic_events.client").fetchone()[0]
    psql = [
        bench.psql(),
        "-XAtq",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        server.socket_dir,
        "-p",
        str(server.port),
        "-d",
        dbname,
        "-U",
        "epic_authenticator",
        "-f",
        str(script),
    ]
    cli = [str(bench.CLI), "client", "list", "--all", "--format", "csv"]
    # The command answers every row (and psql the same number).
    done = subprocess.run(cli, env=who.env, capture_output=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(b"\n") == rows + 1, "client list --all: not every row"
    del done
    cli_s, psql_s = [], []
    for i in range(runs + 1):
        pair = [("cli", cli, who.env), ("psql", psql, bench.env_for(home))]
        times = {name: _wall(argv, env, name) for name, argv, env in (pair if i % 2 else pair[::-1])}
        if i:  # the first round warms up
            cli_s.append(times["cli"])
            psql_s.append(times["psql"])
    rss = max(bench.peak_rss_mb(cli, who.env) for _ in range(2))
    log(f"  export measured ({rows:,} clients)")
    return {"rows": rows, "cli": cli_s, "psql": psql_s, "rss": rss}


def _files(conn, home: Path) -> tuple[Path, Path]:
    staff = [
        r[0]
        for r in conn.execute(
            "select id from epic_events.employee where department = 'sales' and is_active order by id"
        )
    ]
    companies = conn.execute("select name, id from epic_events.company order by id limit 500").fetchall()
    for_cli, for_copy = home / "import.csv", home / "import-copy.csv"
    with open(for_cli, "w", newline="") as a, open(for_copy, "w", newline="") as b:
        ours, theirs = csv.writer(a), csv.writer(b)
        ours.writerow(["full_name", "email", "phone", "company", "sales_contact"])
        for i in range(IMPORT_ROWS):
            name, company_id = companies[i % len(companies)]
            row = [f"Imported Client {i}", f"client{i}@{DOMAIN}", f"+3361{i:07d}"]
            ours.writerow(row + [name, staff[i % len(staff)]])
            theirs.writerow(row + [company_id, staff[i % len(staff)]])
    return for_cli, for_copy


def _clean(conn) -> None:
    conn.execute("set session_replication_role = replica")
    conn.execute("delete from epic_events.client where email like %s", (f"%@{DOMAIN}",))
    conn.execute("reset session_replication_role")
    conn.execute("vacuum analyze epic_events.client")


def import_(bench, server, dbname: str, who, home: Path, runs: int, log) -> dict:
    import psycopg

    with psycopg.connect(server.dsn(dbname), autocommit=True) as admin:
        for_cli, for_copy = _files(admin, home)
        _clean(admin)
        before = admin.execute("select count(*) from epic_events.client").fetchone()[0]
        psql = [
            bench.psql(),
            "-XAtq",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            server.socket_dir,
            "-p",
            str(server.port),
            "-d",
            dbname,
            "-U",
            admin.info.user,
            "-c",
            f"\\copy epic_events.client (full_name, email, phone, company_id, sales_contact_id) "
            f"from '{for_copy}' csv",
        ]
        cli = [str(bench.CLI), "client", "import", str(for_cli), "--format", "json"]
        cli_s, psql_s = [], []
        for i in range(runs):
            pair = [("cli", cli, who.env), ("psql", psql, bench.env_for(home))]
            for name, argv, env in pair if i % 2 else pair[::-1]:
                took = _wall(argv, env, name)
                added = admin.execute("select count(*) from epic_events.client").fetchone()[0] - before
                assert added == IMPORT_ROWS, f"{name}: {added} clients added"
                (cli_s if name == "cli" else psql_s).append(took)
                _clean(admin)
    log(f"  import measured ({IMPORT_ROWS:,} clients)")
    return {"cli": cli_s, "psql": psql_s}


def report(exported: dict, imported: dict, med, paired) -> tuple[list[str], list[str]]:
    lines, missed = [], []

    def check(ok: bool, what: str) -> str:
        if not ok:
            missed.append(what)
        return "ok" if ok else "**MISSED**"

    e_ratio = paired(exported["cli"], exported["psql"])
    i_ratio = paired(imported["cli"], imported["psql"])
    exported_rss = exported["rss"]
    lines += [
        "",
        "## Bulk: export and import against psql's \\copy (large data)",
        "",
        "Export: `client list --all --format csv` as management (COPY … TO STDOUT of",
        "client.sql export-clients-csv, the cells formatted by the server) against psql",
        "`\\copy (list-clients, same parameters) to stdout csv` after the same first statement,",
        "as the authenticator. Import: `client import` of 100,000 new clients (management,",
        "batches of INSERT … SELECT FROM unnest under RLS) against psql `\\copy epic_events.client",
        "from` the same rows as the admin, triggers on. Medians; ratio: median of the",
        f"round-by-round ratios ({len(exported['cli'])} export and {len(imported['cli'])} import rounds).",
        "",
        "| measure | CLI s | psql \\copy s | ratio | goal |",
        "| --- | ---: | ---: | ---: | --- |",
        f"| `client list --all --format csv` ({exported['rows']:,} clients) | {med(exported['cli']):.2f} | "
        f"{med(exported['psql']):.2f} | {e_ratio:.2f} | ≤ {GOALS['export_vs_copy']}×: "
        f"{check(e_ratio <= GOALS['export_vs_copy'], f'export: {e_ratio:.2f}x psql copy')} |",
        f"| `client import` ({IMPORT_ROWS:,} clients) | {med(imported['cli']):.2f} | "
        f"{med(imported['psql']):.2f} | {i_ratio:.2f} | ≤ {GOALS['import_vs_copy']}×: "
        f"{check(i_ratio <= GOALS['import_vs_copy'], f'import: {i_ratio:.2f}x psql copy')} |",
        f"| peak RSS of the export | {exported['rss']:.1f} MB | | | ≤ {GOALS['export_rss_mb']:.0f} MB: "
        f"{check(exported['rss'] <= GOALS['export_rss_mb'], f'export RSS {exported_rss:.1f} MB')} |",
    ]
    return lines, missed
