"""Races through the real CLI: several `epic-events` processes (or the refresh code
path in threads) at once on the same record or the same refresh token.

- One refresh token handed in by several machines at once (its copies): exactly
  one exchange wins; the replay revokes the whole login (family), the winner's
  new tokens included; every loser is told so in one line (exit 2).
- Optimistic updates started together from the same `--if-updated-at`: exactly
  one is written, every other process exits 5 with one line saying so.
- Payments recorded together: all count (the database subtracts each from the
  row as it is), and each leaves one audit row.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from epic_events import auth, errors
from epic_events.tokens import TokenStore
from tests.budget import WORKERS
from tests.cli.conftest import admin_one

pytestmark = pytest.mark.slow

COMMAND = [sys.executable, "-c", "from epic_events.cli.main import main; main()"]


def token_store(directory: Path | None = None) -> TokenStore:
    store = auth.token_store(os.environ["DATABASE_URL"])
    return store if directory is None else TokenStore(store.target, directory)


def copies_of_the_login(tmp_path: Path, count: int) -> list[Path]:
    """`count` state directories, each holding a copy of this login's token files."""
    here = Path(os.environ["XDG_STATE_HOME"])
    homes = []
    for i in range(count):
        home = tmp_path / f"machine{i}"
        shutil.copytree(here, home)  # copy2: the 0600/0700 modes come along
        homes.append(home)
    return homes


def run_together(commands: list[tuple[list[str], dict]]) -> list[tuple[int, str, str]]:
    """Start every process, then wait for all: (exit code, stdout, stderr) each."""
    running = [
        subprocess.Popen(
            COMMAND + args,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args, env in commands
    ]
    results = []
    for p in running:
        out, err = p.communicate(timeout=120)
        results.append((p.returncode, out, err))
    return results


def session_of(world, key: str):
    return admin_one(
        world,
        "select revoked_at is not null, revoked_reason from epic_events.session where employee_id = %s",
        (world.ids[key],),
    )


def test_one_refresh_token_refreshed_on_many_machines_at_once_wins_once_and_the_replay_revokes_the_login(
    cli, tmp_path
):
    cli.login("sales")
    stores = [token_store(home / "epic-events") for home in copies_of_the_login(tmp_path, WORKERS)]
    handed_in = stores[0].load()["refresh"]
    gate = threading.Barrier(len(stores))
    results: list = [None] * len(stores)

    def refresh(i: int) -> None:
        with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
            gate.wait()
            try:
                results[i] = auth.refresh(conn, stores[i])
            except errors.AppError as exc:
                results[i] = exc

    threads = [threading.Thread(target=refresh, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    winners = [r for r in results if isinstance(r, auth.Claims)]
    losers = [r for r in results if isinstance(r, errors.AppError)]
    assert len(winners) == 1 and len(losers) == len(stores) - 1, results
    assert all(isinstance(r, errors.NotLoggedIn) for r in losers)
    # The first loser is the replay; later ones may find the login already revoked by it.
    assert any("already used" in r.message for r in losers)
    assert all("already used" in r.message or "was closed" in r.message for r in losers)
    assert session_of(cli.world, "sales") == (True, "refresh_token_replayed")
    # The replay revoked the family: the winner's new tokens are refused too.
    [winner] = [s for s, r in zip(stores, results, strict=True) if isinstance(r, auth.Claims)]
    assert winner.load()["refresh"] != handed_in
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn, pytest.raises(errors.NotLoggedIn) as refused:
        auth._rotate(conn, winner, winner.load())
    assert "was closed" in refused.value.message
    # Losers forgot their tokens: the next command asks for a login, not a traceback.
    assert all(s.load() is None for s, r in zip(stores, results, strict=True) if r is not winners[0])


def test_the_cli_refreshing_one_login_on_many_machines_at_once(cli, tmp_path):
    cli.login("sales")
    homes = copies_of_the_login(tmp_path, WORKERS)
    results = run_together([(["refresh"], {**os.environ, "XDG_STATE_HOME": str(h)}) for h in homes])
    codes = sorted(code for code, _, _ in results)
    assert codes == [0] + [2] * (len(homes) - 1), results
    for code, out, err in results:
        assert out == "" and len(err.splitlines()) == 1 and "Traceback" not in err
        if code == 2:
            assert err.startswith("error: ") and "epic-events login" in err
    assert sum("already used" in err for _, _, err in results) >= 1
    assert session_of(cli.world, "sales") == (True, "refresh_token_replayed")
    # The winner rewrote its token file: private still; the losers' are gone.
    [winner] = [h for h, (code, _, _) in zip(homes, results, strict=True) if code == 0]
    [rewritten] = list(winner.rglob("tokens-*.json"))
    assert stat.S_IMODE(rewritten.stat().st_mode) == 0o600
    assert all(not list(h.rglob("tokens-*.json")) for h in homes if h != winner)
    # Every machine, the winner included, must log in again.
    again = run_together([(["whoami"], {**os.environ, "XDG_STATE_HOME": str(h)}) for h in homes])
    assert [code for code, _, _ in again] == [2] * len(homes)


def test_updates_started_together_from_the_same_version_one_wins_the_others_exit_5(cli):
    cli.login("sales")
    client_id = cli.world.ids["client"]
    seen = cli.json("client", "view", client_id)["updated_at"]
    names = [f"Racer Number {i}" for i in range(WORKERS)]
    results = run_together(
        [
            (
                [
                    "client",
                    "update",
                    str(client_id),
                    "--name",
                    name,
                    "--if-updated-at",
                    seen,
                    "--format",
                    "json",
                ],
                dict(os.environ),
            )
            for name in names
        ]
    )
    codes = [code for code, _, _ in results]
    assert sorted(codes) == [0] + [5] * (WORKERS - 1), results
    winner = names[codes.index(0)]
    for code, out, err in results:
        if code == 5:
            assert out == "" and err == (
                f"error: client {client_id} was changed by someone else meanwhile; view it again and retry\n"
            )
    assert admin_one(cli.world, "select full_name from epic_events.client where id = %s", (client_id,)) == (
        winner,
    )
    assert admin_one(
        cli.world,
        "select count(*) from epic_events.audit_log where table_name = 'client'"
        " and row_id = %s and action = 'update'",
        (str(client_id),),
    ) == (1,)


def test_payments_recorded_together_all_count_once(cli):
    cli.login("sales")
    contract_id = cli.world.ids["contract"]  # due 400
    amounts = [Decimal(10 + i) + Decimal("0.25") for i in range(WORKERS)]
    results = run_together(
        [
            (["contract", "update", str(contract_id), "--pay", str(a), "--format", "json"], dict(os.environ))
            for a in amounts
        ]
    )
    assert [(code, err) for code, _, err in results] == [(0, "")] * WORKERS
    (due,) = admin_one(cli.world, "select amount_due from epic_events.contract where id = %s", (contract_id,))
    assert due == Decimal("400.00") - sum(amounts)
    assert admin_one(
        cli.world,
        "select count(*) from epic_events.audit_log where table_name = 'contract'"
        " and row_id = %s and action = 'update'",
        (str(contract_id),),
    ) == (WORKERS,)


def test_a_command_reading_the_tokens_while_another_saves_them_never_finds_them_missing(cli):
    """A refresh rewrites the token file and its marker; commands starting meanwhile
    must find the old tokens or the new ones, never nothing ("not logged in")."""
    import time

    cli.login("sales")
    tokens = token_store().load()
    stop = time.monotonic() + 0.5
    missing = []

    def save():
        store = token_store()
        while time.monotonic() < stop:
            store.save(tokens)

    def load():
        store = token_store()
        while time.monotonic() < stop:
            if store.load() is None:
                missing.append(1)

    threads = [threading.Thread(target=save)] + [threading.Thread(target=load) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not missing, f"the tokens looked missing {len(missing)} times while being saved"


def test_saves_at_the_same_instant_never_collide_and_leave_no_temporary_file(cli):
    """Two logins on one machine may save at the same instant: each writes its own
    temporary file and renames it over; the file always holds one whole save."""
    import time

    cli.login("sales")
    tokens = token_store().load()
    stop = time.monotonic() + 0.5
    failures = []

    def save():
        store = token_store()
        while time.monotonic() < stop:
            try:
                store.save(tokens)
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                failures.append(repr(exc))

    threads = [threading.Thread(target=save) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not failures, failures[:3]
    store = token_store()
    assert store.load() == tokens
    assert not list(store.file.parent.glob("*.tmp"))
