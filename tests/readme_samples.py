"""README.md's samples, from real runs on the demo data: they cannot drift.

    make readme                              # rewrite README.md's marked blocks
    python -m tests.readme_samples --check   # exit 1 with a diff if README.md is stale

README.md marks two kinds of block, each naming the demo person it runs as:

    <!-- sample as sam -->        the `$ epic-events …` lines are run and their
    ```                           output written below each, in place of what
    $ epic-events client list     was there (a table, as on a terminal)
    ```
    <!-- /sample -->

    <!-- example as mona -->      every `epic-events …` command is run as
    ```sh                         written, as a script would (what a person
    epic-events client list       answers at the prompts given as --yes and
    ```                           --password-stdin) and must succeed; the text
    <!-- /example -->             is left as it is

Samples run first, on the freshly loaded demo, then the examples, in README
order (they change the data). Each run loads the demo afresh into an embedded
server of its own (tests/cli/test_readme.py does the same through
tests/cli/test_demo.py's fixture).

Deterministic output: a fixed time zone and width; the demo is loaded with its
clock at noon of the real day, and printed dates are then moved to REF_DAY (the
demo's dates are relative to the day it is loaded); a timestamp the database
wrote with now() during the run (created_at, updated_at) reads REF_DAY at noon.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
REF_DAY = date(2026, 11, 24)
NOON = (12, 0)
ENV = {"TZ": "Europe/Paris", "COLUMNS": "120", "NO_COLOR": "1", "TERM": "dumb"}
BLOCK = re.compile(r"(<!-- (sample|example) as (\w+) -->\n```\w*\n)(.*?)(```\n<!-- /\2 -->)", re.S)
STAMP = re.compile(r"\b(\d{2})/(\d{2})/(\d{4})(?: (\d{2}):(\d{2}))?\b")
# Not run, and why: it would change the demo password every later login uses.
SKIP = {("password",): "changes the demo password"}


def email(who: str) -> str:
    return f"{who}@epic-events.demo"


@contextlib.contextmanager
def fixed_zone():
    """This process in ENV's time zone (the demo's dates are written in local time)."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = ENV["TZ"]
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()


def load_demo() -> None:
    """demo.load() with its clock at noon today: the times it derives are the same every run."""
    from epic_events import demo

    class Noon(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.combine(date.today(), datetime.min.time().replace(hour=NOON[0], minute=NOON[1]))

    real = demo.datetime
    demo.datetime = Noon
    try:
        with fixed_zone():
            assert demo.load(), "the demo must be loaded into an empty database"
    finally:
        demo.datetime = real


class Runner:
    """Runs epic-events as a demo person, in a token store of its own."""

    def __init__(self, state_dir: str):
        exe = Path(sys.executable).with_name("epic-events")
        self.exe = str(exe)
        self.env = {
            **os.environ,
            **ENV,
            "XDG_STATE_HOME": state_dir,
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        }
        for var in ("DATABASE_URL", "EPIC_EVENTS_ADMIN_DSN", "EPIC_EVENTS_CONFIG"):
            self.env.pop(var, None)

    def run(self, args: list[str], answer: str = "") -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.exe, *args],
            input=answer + "\n",
            text=True,
            capture_output=True,
            env=self.env,
            check=False,
            timeout=60,
        )

    def login(self, who: str) -> None:
        from epic_events.demo import PASSWORD

        done = self.run(["login", "--email", email(who), "--password-stdin"], answer=PASSWORD)
        if done.returncode:
            raise SystemExit(f"readme: cannot log in as {who}: {done.stderr.strip()}")


def normalise(text: str, today: date, window: tuple[datetime, datetime]) -> str:
    shift = REF_DAY - today

    def moved(m: re.Match) -> str:
        day = date(int(m[3]), int(m[2]), int(m[1]))
        if m[4] is None:
            return f"{day + shift:%d/%m/%Y}"
        at = datetime(day.year, day.month, day.day, int(m[4]), int(m[5]))
        if window[0] <= at <= window[1]:  # the database's now(): when this run happened
            return f"{REF_DAY:%d/%m/%Y} {NOON[0]:02d}:{NOON[1]:02d}"
        return f"{day + shift:%d/%m/%Y} {m[4]}:{m[5]}"

    return "\n".join(line.rstrip() for line in STAMP.sub(moved, text).splitlines())


def sample(runner: Runner, who: str, body: str, today: date, window) -> str:
    runner.login(who)
    commands = [
        line[len("$ epic-events") :].strip() for line in body.splitlines() if line.startswith("$ epic-events")
    ]
    if not commands:
        raise SystemExit(f"readme: a sample as {who} holds no `$ epic-events` line")
    parts = []
    for command in commands:
        args = shlex.split(command)
        done = runner.run(args if "--format" in args else [*args, "--format", "table"])
        if done.returncode:
            raise SystemExit(
                f"readme: `epic-events {command}` as {who} failed ({done.returncode}): {done.stderr.strip()}"
            )
        parts.append(f"$ epic-events {command}\n{normalise(done.stdout, today, window)}".rstrip())
    return "\n\n".join(parts) + "\n"


def commands_of(body: str) -> list[list[str]]:
    """The `epic-events …` commands of a shell block: continuations joined, comments dropped."""
    out = []
    for line in body.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if words[:1] == ["epic-events"]:
            out.append(words[1:])
    return out


def script_form(args: list[str]) -> tuple[list[str], bool]:
    """The command as a script runs it: what a person answers at the terminal, as options.

    A confirmation is --yes, a password prompt --password-stdin (then the demo
    password is its input); any other option left out is an error, as in a script.
    """
    import click

    from epic_events.cli.main import cli as root

    command, ctx = root, click.Context(root)
    for word in args:
        found = command.get_command(ctx, word) if isinstance(command, click.Group) else None
        if found is None:
            break
        command = found
    options = {o for p in command.params for o in p.opts}
    extra = [o for o in ("--yes", "--password-stdin") if o in options and o not in args]
    return [*args, *extra], "--password-stdin" in options


def example(runner: Runner, who: str, body: str) -> list[str]:
    """Run an example block as who; the failures, one line each."""
    from epic_events.demo import PASSWORD

    runner.login(who)
    failures = []
    for args in commands_of(body):
        if tuple(args[:1]) in SKIP:
            continue
        scripted, needs_password = script_form(args)
        done = runner.run(scripted, answer=PASSWORD if needs_password else "")
        if done.returncode:
            failures.append(
                f"`epic-events {shlex.join(args)}` as {who}: exit {done.returncode}: {done.stderr.strip()}"
            )
    return failures


def render(readme: str, state_dir: str, started: datetime) -> str:
    """README with its samples regenerated; raises SystemExit if an example fails.

    The demo must have been loaded by load_demo() on the embedded server in use,
    started after `started` (local time, ENV's zone).
    """
    runner = Runner(state_dir)
    blocks = list(BLOCK.finditer(readme))
    new, last, failures = [], 0, []
    outputs = {}
    with fixed_zone():
        today = date.today()
        # The database's now() during the load and the samples (read-only: they end soon).
        window = (started.replace(second=0, microsecond=0), datetime.now() + timedelta(minutes=5))
        for m in blocks:
            if m[2] == "sample":
                outputs[m.start()] = sample(runner, m[3], m[4], today, window)
    for m in blocks:
        if m[2] == "example":
            failures += example(runner, m[3], m[4])
    if failures:
        raise SystemExit("readme: examples that fail on the demo data:\n  " + "\n  ".join(failures))
    for m in blocks:
        new.append(readme[last : m.start()])
        new.append(m[1] + outputs.get(m.start(), m[4]) + m[5])
        last = m.end()
    new.append(readme[last:])
    return "".join(new)


def generate(readme: str) -> str:
    """A fresh embedded server and demo load of its own, then render()."""
    from epic_events import embedded

    base = tempfile.mkdtemp(prefix="epic-readme-")
    os.chmod(base, 0o755)  # see tests/cli/test_embedded.py
    saved = {
        var: os.environ.get(var)
        for var in (
            "XDG_DATA_HOME",
            "XDG_STATE_HOME",
            "PYTHON_KEYRING_BACKEND",
            "DATABASE_URL",
            "EPIC_EVENTS_ADMIN_DSN",
        )
    }
    os.environ.update(
        {
            "XDG_DATA_HOME": f"{base}/data",
            "XDG_STATE_HOME": f"{base}/state",
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        }
    )
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("EPIC_EVENTS_ADMIN_DSN", None)
    try:
        with fixed_zone():
            started = datetime.now()
        embedded.start()
        try:
            load_demo()
            return render(readme, f"{base}/runner", started)
        finally:
            embedded.stop()
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
        import shutil

        shutil.rmtree(base, ignore_errors=True)


def main(argv: list[str]) -> int:
    current = README.read_text()
    fresh = generate(current)
    if "--check" in argv:
        if fresh != current:
            sys.stdout.writelines(
                difflib.unified_diff(
                    current.splitlines(True), fresh.splitlines(True), "README.md", "generated"
                )
            )
            return 1
        return 0
    if fresh != current:
        README.write_text(fresh)
        print("README.md: samples rewritten", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
