"""README.md cannot drift: its samples are what the demo data prints, its examples run.

tests/readme_samples.py (`make readme`) writes the samples; here the same
script runs on a fresh demo load and must give back README.md unchanged.
"""

from __future__ import annotations

import difflib
import re
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from epic_events import embedded
from tests import readme_samples
from tests.cli.test_demo import demo_server  # noqa: F401  (the fixture)

SOURCE = Path(readme_samples.__file__).resolve().parent.parent / "epic_events"


def test_the_readme_samples_are_what_the_demo_prints_and_its_examples_run(demo_server, tmp_path):  # noqa: F811
    readme = readme_samples.README.read_text()
    assert len(readme_samples.BLOCK.findall(readme)) >= 8, "the marked blocks are found"
    # The run began when the fixture's server did (it migrated then: the grants' timestamps).
    with psycopg.connect(embedded.admin_dsn()) as conn:
        began = conn.execute("select pg_postmaster_start_time()").fetchone()[0]
    with readme_samples.fixed_zone():
        started = began.astimezone().replace(tzinfo=None)
    readme_samples.load_demo()
    fresh = readme_samples.render(readme, str(tmp_path / "state"), started)
    diff = "".join(
        difflib.unified_diff(readme.splitlines(True), fresh.splitlines(True), "README.md", "generated")
    )
    assert not diff, f"README.md is stale: run `make readme`\n{diff}"

    # An example that does not run on the demo data is reported (issue 13's: contract 31 is
    # not sam's; employee 5 is sales, not support).
    broken = (
        "<!-- example as sam -->\n```sh\nepic-events contract sign 31\n```\n"
        "<!-- /example -->\n<!-- example as mona -->\n```sh\nepic-events event assign-support 12 5\n"
        "```\n<!-- /example -->\n"
    )
    with pytest.raises(
        SystemExit,
        match=r"(?s)contract sign 31` as sam: exit 3.*"
        r"assign-support 12 5` as mona: exit 1",
    ):
        readme_samples.render(broken, str(tmp_path / "state"), started)


def test_a_sample_shows_commands_as_typed_and_timestamps_of_the_run_as_the_reference_day():
    window = (datetime(2026, 11, 30, 13, 5), datetime(2026, 11, 30, 13, 20))
    text = "│ 30/11/2026 13:06 │ 06/12/2026 14:00 │ 29/11/2026 │   \n"
    assert (
        readme_samples.normalise(text, datetime(2026, 11, 30).date(), window)
        == "│ 24/11/2026 12:00 │ 30/11/2026 14:00 │ 23/11/2026 │"
    )
    assert readme_samples.commands_of(
        'source x\nepic-events a --b "c d" \\\n    --e f   # note\n# epic-events no\nepic-events\n'
    ) == [["a", "--b", "c d", "--e", "f"], []]
    assert readme_samples.script_form(["contract", "sign", "6"]) == (
        ["contract", "sign", "6", "--yes"],
        False,
    )
    assert readme_samples.script_form(["login", "--email", "x@y.z"]) == (
        ["login", "--email", "x@y.z", "--password-stdin"],
        True,
    )
    assert readme_samples.script_form(["client", "list"]) == (["client", "list"], False)


def test_troubleshooting_quotes_messages_the_cli_prints(monkeypatch):
    # The one message built from a variable's name: printed for real, by a command that
    # reads the token store before connecting (it crashed with exit 70 until issue 13).
    from click.testing import CliRunner

    from epic_events.cli.main import cli

    monkeypatch.setenv("DATABASE_URL", "host=x port=notaport =")
    broken = CliRunner().invoke(cli, ["whoami"])
    assert broken.exit_code == 6, broken.output
    readme = readme_samples.README.read_text()
    section = readme.split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]
    quoted = [m[2].strip() for m in re.finditer(r"^- (``?)(.+?)\1 —", section, re.M)]
    assert len(quoted) >= 9
    source = "\n".join(p.read_text() for p in SOURCE.rglob("*.py")) + broken.stderr
    for message in quoted:
        for part in message.split("…"):
            assert part.strip() in source, (
                f"Troubleshooting quotes {message!r}: the CLI never prints {part!r}"
            )
