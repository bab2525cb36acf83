"""SPEC "Commands": `db bootstrap` (the first manager) and `db migrate | rollback |
status`, on a fresh database of the test's own (migrated, no World, nobody in it)."""

from __future__ import annotations

import pytest

from epic_events.paths import MIGRATIONS_DIR
from tests.cli.conftest import Cli

MIGRATIONS = sorted(
    p.name.removesuffix(".sql") for p in MIGRATIONS_DIR.glob("*.sql") if not p.name.endswith(".rollback.sql")
)
BOSS = "bea@epic.test"
BOSS_PASSWORD = "a long enough password"


@pytest.fixture
def cli(db, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", db.app_dsn)
    monkeypatch.setenv("EPIC_EVENTS_ADMIN_DSN", db.admin_dsn)
    c = Cli(None, monkeypatch)
    c.db = db
    return c


def bootstrap(cli, email=BOSS, name="Bea Boss", password=BOSS_PASSWORD, *extra):
    return cli(
        "db", "bootstrap", "--email", email, "--name", name, "--password-stdin", *extra, input=password + "\n"
    )


def managers(cli) -> list[tuple]:
    with cli.db.admin() as conn:
        return conn.execute(
            "select email, full_name, is_active from epic_events.employee"
            " where department = 'management' order by id"
        ).fetchall()


def migration_states(cli) -> list[str]:
    r = cli("db", "status")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("database: ") and "password" not in lines[0]
    return [line for line in lines if line.startswith(("applied", "pending"))]


def schema_exists(cli) -> bool:
    with cli.db.admin() as conn:
        return conn.execute(
            "select exists (select from pg_namespace where nspname = 'epic_events')"
        ).fetchone()[0]


# -- bootstrap ------------------------------------------------------------------------------
def test_bootstrap_creates_the_first_manager_who_can_then_log_in(cli):
    r = bootstrap(cli)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("Created manager Bea Boss <bea@epic.test> (id ")
    assert BOSS_PASSWORD not in r.stdout + r.stderr
    assert managers(cli) == [(BOSS, "Bea Boss", True)]

    r = cli("login", "--email", BOSS, "--password-stdin", input=BOSS_PASSWORD + "\n")
    assert r.exit_code == 0, r.stderr
    me = cli.json("whoami")
    assert (me["email"], me["department"]) == (BOSS, "management")


def test_a_second_bootstrap_is_refused(cli):
    assert bootstrap(cli).exit_code == 0
    r = bootstrap(cli, email="other@epic.test", name="Other Boss")
    assert r.exit_code == 5
    assert r.stderr == ("error: a management account already exists: use `epic-events employee create`\n")
    assert managers(cli) == [(BOSS, "Bea Boss", True)]


def test_bootstrap_is_refused_even_when_the_only_manager_is_deactivated(cli):
    assert bootstrap(cli).exit_code == 0
    with cli.db.admin() as conn:
        # Bypass the last-manager guard the way a DBA could, to probe bootstrap alone.
        conn.execute("alter table epic_events.employee disable trigger user")
        conn.execute("update epic_events.employee set is_active = false")
        conn.execute("alter table epic_events.employee enable trigger user")
    assert bootstrap(cli, email="other@epic.test").exit_code == 5


@pytest.mark.parametrize(
    "args, password, message",
    [
        (("--email", "not-an-email", "--name", "Bea"), BOSS_PASSWORD, "--email: not a valid email address"),
        (("--email", BOSS, "--name", "   "), BOSS_PASSWORD, "--name: must not be blank"),
        (("--email", BOSS, "--name", "Bea"), "short", "password: at least 8 characters"),
        (("--email", BOSS, "--name", "Bea", "--phone", "12"), BOSS_PASSWORD, "--phone: not a valid phone"),
        (("--name", "Bea"), BOSS_PASSWORD, "missing option --email"),
    ],
)
def test_bootstrap_refuses_invalid_input_and_creates_nothing(cli, args, password, message):
    r = cli("db", "bootstrap", *args, "--password-stdin", input=password + "\n")
    assert r.exit_code == 1
    assert message in r.stderr
    assert managers(cli) == []


def test_bootstrap_without_a_terminal_needs_password_stdin(cli):
    r = cli("db", "bootstrap", "--email", BOSS, "--name", "Bea Boss")
    assert r.exit_code == 1
    assert "pass --password-stdin" in r.stderr
    assert managers(cli) == []


def test_bootstrap_on_a_terminal_asks_everything_and_the_password_twice(cli):
    cli.as_terminal()
    answers = [BOSS, "Bea Boss", BOSS_PASSWORD, "a different password", BOSS_PASSWORD, BOSS_PASSWORD]
    r = cli("db", "bootstrap", input="\n".join(answers) + "\n")
    assert r.exit_code == 0, r.stderr
    assert "do not match" in r.stdout + r.stderr
    assert managers(cli) == [(BOSS, "Bea Boss", True)]


def test_db_commands_need_the_admin_dsn(cli, monkeypatch):
    monkeypatch.delenv("EPIC_EVENTS_ADMIN_DSN")
    for command in (["db", "status"], ["db", "migrate"]):
        r = cli(*command)
        assert r.exit_code == 6
        assert "EPIC_EVENTS_ADMIN_DSN is not set" in r.stderr
    r = bootstrap(cli)
    assert r.exit_code == 6
    assert managers(cli) == []


# -- migrations ---------------------------------------------------------------------------
def test_db_status_lists_every_migration_as_applied(cli):
    assert migration_states(cli) == [f"applied  {m}" for m in MIGRATIONS]


def test_db_status_says_where_the_migration_files_are(cli):
    # In a checkout, sql/migrations; installed, the package's own (tests/install).
    r = cli("db", "status")
    assert f"\nmigrations: {MIGRATIONS_DIR}\n" in r.stdout


def test_db_migrate_says_up_to_date(cli):
    r = cli("db", "migrate")
    assert (r.exit_code, r.stdout) == (0, "already up to date\n")


def test_rollback_without_yes_and_without_a_terminal_is_refused(cli):
    r = cli("db", "rollback")
    assert r.exit_code == 1
    assert "pass --yes to confirm" in r.stderr
    assert migration_states(cli) == [f"applied  {m}" for m in MIGRATIONS]


def test_rollback_on_a_terminal_asks_first(cli):
    cli.as_terminal()
    r = cli("db", "rollback", input="n\n")
    assert r.exit_code == 1  # declined: nothing done (130 is interrupted)
    assert "Roll back 1 migration(s)?" in r.stdout + r.stderr
    assert migration_states(cli)[-1] == f"applied  {MIGRATIONS[-1]}"

    r = cli("db", "rollback", input="y\n")
    assert r.exit_code == 0
    assert r.stdout.endswith(f"rolled back {MIGRATIONS[-1]}\n")
    assert migration_states(cli)[-1] == f"pending  {MIGRATIONS[-1]}"
    r = cli("db", "migrate")
    assert (r.exit_code, r.stdout) == (0, f"applied {MIGRATIONS[-1]}\n")


def test_rollback_names_the_tables_it_drops_with_their_rows_before_asking(cli):
    assert bootstrap(cli).exit_code == 0
    r = cli("db", "rollback", "--all")
    assert r.exit_code == 1 and "pass --yes to confirm" in r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "rolling back " + ", ".join(reversed(MIGRATIONS))
    assert lines[1] == "drops these tables and every row in them:"
    rows = dict(line.strip().split(": ") for line in lines[2:])
    assert rows["employee"] == "1 row" and rows["department"] == "3 rows" and rows["client"] == "0 rows"
    assert set(rows) >= {"audit_log", "company", "contract", "event", "permission", "session"}
    assert migration_states(cli) == [f"applied  {m}" for m in MIGRATIONS]  # nothing dropped

    # The newest migration whose rollback drops no table: it says so.
    from epic_events.paths import MIGRATIONS_DIR

    drops_nothing = [
        m
        for m in MIGRATIONS
        if "drop table" not in (MIGRATIONS_DIR / f"{m}.rollback.sql").read_text()
        and "drop schema" not in (MIGRATIONS_DIR / f"{m}.rollback.sql").read_text()
    ]
    newest_first = list(reversed(MIGRATIONS))
    newer = newest_first.index(drops_nothing[-1])
    if newer:
        assert cli("db", "rollback", "--count", str(newer), "--yes").exit_code == 0
    r = cli("db", "rollback", "--yes")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[:2] == ["rolling back " + drops_nothing[-1], "drops no table"]
    assert managers(cli) == [(BOSS, "Bea Boss", True)]


def test_rollback_all_then_migrate_rebuilds_the_schema(cli):
    r = cli("db", "rollback", "--all", "--yes")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[-len(MIGRATIONS) :] == [f"rolled back {m}" for m in reversed(MIGRATIONS)]
    assert migration_states(cli) == [f"pending  {m}" for m in MIGRATIONS]
    assert not schema_exists(cli)
    # The first commands on such a database say what to do, not "internal error".
    for r in (bootstrap(cli), cli("login", "--email", BOSS, "--password-stdin", input=BOSS_PASSWORD + "\n")):
        assert (r.exit_code, r.stderr) == (
            6,
            "error: the database is not migrated: run `epic-events db migrate`\n",
        )

    r = cli("db", "migrate")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines() == [f"applied {m}" for m in MIGRATIONS]
    assert migration_states(cli) == [f"applied  {m}" for m in MIGRATIONS]
    # The rebuilt database works end to end.
    assert bootstrap(cli).exit_code == 0
    assert cli("login", "--email", BOSS, "--password-stdin", input=BOSS_PASSWORD + "\n").exit_code == 0
    assert cli.json("whoami")["department"] == "management"
