"""`epic-events --help` and `--version` start without the database driver.

The bench (tests/perf/bench.py) holds --help to 2x `python -c "import click"`;
psycopg alone costs more than click does, so neither help nor the version may
load it, nor PyJWT. Checked in fresh interpreters: this session has long
imported everything.
"""

from __future__ import annotations

import pytest

from tests.unit.test_imports import loaded_after

DRIVER = {"psycopg", "psycopg_binary", "jwt", "cryptography"}


@pytest.mark.parametrize(
    "argv", [["--help"], ["--version"], ["client", "--help"], ["client", "list", "--help"]]
)
def test_help_and_version_load_neither_the_driver_nor_pyjwt(argv):
    code = (
        "import contextlib, io\n"
        "from epic_events.cli.main import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        cli.main({argv!r})\n"
        "    except SystemExit as exit:\n"
        "        assert exit.code == 0, exit.code\n"
    )
    assert loaded_after(code) & DRIVER == set()


def test_observability_compiles_its_patterns_only_when_scrubbing():
    code = (
        "import re\n"
        "compiled = []\n"
        "original = re.compile\n"
        "re.compile = lambda *a, **k: compiled.append(a[0]) or original(*a, **k)\n"
        "import epic_events.observability as o\n"
        "assert compiled == [], compiled\n"
        "assert o.scrub_text('token=abc123 and eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl') == "
        "'token=[Filtered] and [Filtered]'\n"
    )
    loaded_after(code)
