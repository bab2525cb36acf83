"""Hostile input: every text option of every create/update command, and every search,
fed arbitrary Unicode (quotes, backslashes, `%s`, `$$`, NUL, control and
format characters, right-to-left marks, emoji, SQL fragments, lone surrogates
as Click carries undecodable bytes, very long strings).

Each value is either
  - stored and read back byte-for-byte: in the command's own JSON, in
    `view --format json`, and as the admin reads the row (text is stored
    trimmed, notes' Windows line ends as newlines, phones in E.164: those
    normalisations are the documented ones); or
  - refused with exit 1 and one `error:` line naming the field, nothing written
    (exit 5 too for the unique fields, naming the field, when an earlier example
    already took the value).
Never an internal error (exit 70) or an SQL error, never a hang. Numbers,
dates and ids, malformed, get errors naming their field as well.

The number of examples per property comes from tests/hypothesis_profiles.py.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st
from psycopg import sql

from epic_events import validate
from tests.cli.conftest import admin_one
from tests.world import PASSWORD

pytestmark = pytest.mark.slow

# Fragments an attacker, or a clumsy paste, would try.
NASTY = [
    "'",
    "''",
    '"',
    "\\",
    "\\'",
    "`",
    "%s",
    "%(id)s",
    "%",
    "_",
    "%%",
    "$$",
    "$1",
    "$tag$",
    ":name",
    "::text",
    "--",
    "/*",
    "*/",
    ";",
    "'; drop table epic_events.client; --",
    "' or '1'='1",
    '") or ("1"="1',
    "\x00",
    "\n",
    "\r\n",
    "\t",
    "\x1b[31m",
    "\x1b]0;owned\x07",
    "\x7f",
    "\x85",
    "\x9b",
    "\u2028",
    "\u2029",
    "\u202e",
    "\u200f",
    "\u200b",
    "\ufeff",
    "\u00a0",
    "\u3000",
    "שלום",
    "مرحبا",
    "😀",
    "👩‍👩‍👧",
    "\U0001f3f3\ufe0f\u200d\U0001f308",
    "ß",
    "İ",
    "ǅ",
    "e\u0301",
    "[bold]",
    "[/]",
    "[link=x]",
    "{}",
    "{0}",
    "null",
    "NULL",
    "\\N",
    "e'\\x00'",
    " ",
    "\ud800",
    "\udcff",
    "\udfff",
    "<script>",
    "&amp;",
    "..",
    "../",
]

any_character = st.characters(exclude_categories=())  # every code point, surrogates included
hostile = st.one_of(
    st.text(any_character, max_size=40),
    st.lists(
        st.one_of(
            st.sampled_from(NASTY),
            st.text(any_character, max_size=3),
            st.characters(categories=["Cs", "Cc", "Cf", "Zl", "Zp"]),
        ),
        min_size=1,
        max_size=8,
    ).map("".join),
    st.text(any_character, min_size=195, max_size=205),  # around the 200-character limit
    st.integers(490, 510).map(lambda n: "ü" * n),  # around location's 500
    st.integers(9995, 10005).map(lambda n: "n" * n),  # around notes' 10000
    st.integers(10**5, 2 * 10**5).map(lambda n: "x" * n),  # far beyond any limit
)

# Printable but nasty: what a validation that looks only for control characters lets
# through, so that plenty of examples are stored and must read back exactly.
printable = st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp"))
PRINTABLE_NASTY = [
    f for f in NASTY if not any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in f)
]
nasty_printable = st.lists(
    st.one_of(st.sampled_from(PRINTABLE_NASTY), st.text(printable, min_size=1, max_size=4)),
    min_size=1,
    max_size=8,
).map("".join)
text_values = st.one_of(
    hostile, nasty_printable, nasty_printable, st.text(printable, min_size=1, max_size=60)
)

email_part = st.text(
    st.characters(exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp"), exclude_characters="@"),
    min_size=1,
    max_size=16,
)
emails = st.one_of(
    hostile,
    st.builds(
        "{}{}@{}.{}{}".format,
        st.sampled_from(["", " ", "\t", "\u3000"]),
        email_part,
        email_part,
        email_part,
        st.sampled_from(["", " ", "\n"]),
    ),
    st.builds(
        "{}@{}.test".format,
        nasty_printable.filter(lambda s: "@" not in s and not any(c.isspace() for c in s)),
        st.sampled_from(["example", "xn--bcher-kva", "dom-ain"]),
    ),
)
phones = st.one_of(
    hostile,
    st.sampled_from(
        [
            "06 12 34 56 78",
            "+33 6 12 34 56 78",
            "+33612345678",
            "(06) 12-34-56-78",
            "0612345678",
            "+44 20 7946 0958",
            "+1 (415) 555-2671",
            "\uff10\uff16\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18",
            "06.12.34.56.78",
            "+33 6 12 34 56 78 ext. 12",
            "+33 (0)6 12 34 56 78",
            " ",
            "",
        ]
    ),
    st.integers(600000000, 799999999).map(lambda n: f"0{n}"),
)


class Hung(Exception):
    pass


@contextlib.contextmanager
def no_hang(seconds: int = 20):
    """A command that waits for input it will never get fails here instead of hanging."""

    def expire(signum, frame):
        raise Hung(f"the command did not finish within {seconds}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def nonce() -> str:
    return uuid.uuid4().hex[:12]


def assert_refused(result, *names: str, codes=(1,)) -> None:
    """Exit 1 (or one of `codes`), nothing on stdout, one `error:` line naming the field."""
    assert result.exit_code in codes, (result.exit_code, result.stdout[:500], result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert any(name and name in lines[0] for name in names), f"{lines[0]!r} names none of {names}"
    assert "Traceback" not in result.stderr


# --- text options of create and update commands -----------------------------------------------


@dataclass
class Case:
    """One text option of one command, and how to check what it stored."""

    who: str
    command: Callable[[dict, str], list[str]]  # (world ids, value) -> argv
    key: str  # the JSON key (data model column) that shows it
    names: tuple[str, ...]  # what a refusal may call the field
    table: str  # where the admin reads it
    stored: Callable[[str], object] = str.strip  # what is stored for an accepted value
    unique: bool = False
    stdin: str | None = None
    record_id: Callable[[dict, dict], int] = field(default=lambda ids, out: out["id"])

    @property
    def values(self):
        return {"email": emails, "phone": phones}.get(self.key, text_values)


def _client_create(option):
    return lambda ids, v: [
        "client",
        "create",
        "--name",
        "Hostile Client",
        "--email",
        f"{nonce()}@hostile.test",
        option,
        v,
    ]


def _employee_create(option):
    return lambda ids, v: [
        "employee",
        "create",
        "--name",
        "Hostile Staff",
        "--email",
        f"{nonce()}@hostile.test",
        "--department",
        "support",
        "--password-stdin",
        option,
        v,
    ]


def _event_create(option):
    return lambda ids, v: [
        "event",
        "create",
        "--contract",
        str(ids["signed"]),
        "--name",
        "Hostile Gala",
        "--start",
        "01/07/2027 18:00",
        "--end",
        "01/07/2027 23:00",
        "--location",
        "Lyon",
        "--attendees",
        "20",
        option,
        v,
    ]


def _blank_is_none(value: str):
    return None if value.strip() == "" else value.strip()


def _notes(value: str):
    value = value.replace("\r\n", "\n").strip()
    return value or None


def _phone(value: str):
    return None if value.strip() == "" else validate.phone("phone", value)


def _existing(key):
    return lambda ids, out: ids[key]


CASES = {
    "client create --name": Case(
        "sales",
        lambda ids, v: ["client", "create", "--name", v, "--email", f"{nonce()}@hostile.test"],
        "full_name",
        ("full_name",),
        "client",
    ),
    "client create --email": Case(
        "sales",
        lambda ids, v: ["client", "create", "--name", "Hostile Client", "--email", v],
        "email",
        ("email",),
        "client",
        unique=True,
    ),
    "client create --phone": Case(
        "sales", _client_create("--phone"), "phone", ("phone",), "client", stored=_phone
    ),
    "client create --company": Case(
        "sales",
        _client_create("--company"),
        "company_name",
        ("company", "name"),
        "client",
        stored=_blank_is_none,
    ),
    "client update --name": Case(
        "sales",
        lambda ids, v: ["client", "update", str(ids["client"]), "--name", v],
        "full_name",
        ("full_name",),
        "client",
        record_id=_existing("client"),
    ),
    "client update --email": Case(
        "sales",
        lambda ids, v: ["client", "update", str(ids["client"]), "--email", v],
        "email",
        ("email",),
        "client",
        unique=True,
        record_id=_existing("client"),
    ),
    "client update --phone": Case(
        "sales",
        lambda ids, v: ["client", "update", str(ids["client"]), "--phone", v],
        "phone",
        ("phone",),
        "client",
        stored=_phone,
        record_id=_existing("client"),
    ),
    "client update --company": Case(
        "sales",
        lambda ids, v: ["client", "update", str(ids["client"]), "--company", v],
        "company_name",
        ("company", "name"),
        "client",
        stored=_blank_is_none,
        record_id=_existing("client"),
    ),
    "company create --name": Case(
        "sales", lambda ids, v: ["company", "create", "--name", v], "name", ("name",), "company", unique=True
    ),
    "company update --name": Case(
        "manager",
        lambda ids, v: ["company", "update", str(ids["company"]), "--name", v],
        "name",
        ("name",),
        "company",
        unique=True,
        record_id=_existing("company"),
    ),
    "employee create --name": Case(
        "manager",
        lambda ids, v: [
            "employee",
            "create",
            "--name",
            v,
            "--email",
            f"{nonce()}@hostile.test",
            "--department",
            "support",
            "--password-stdin",
        ],
        "full_name",
        ("full_name",),
        "employee",
        stdin="a fine long password\n",
    ),
    "employee create --email": Case(
        "manager",
        lambda ids, v: [
            "employee",
            "create",
            "--name",
            "Hostile Staff",
            "--email",
            v,
            "--department",
            "support",
            "--password-stdin",
        ],
        "email",
        ("email",),
        "employee",
        stored=str.strip,
        unique=True,
        stdin="a fine long password\n",
    ),
    "employee create --phone": Case(
        "manager",
        _employee_create("--phone"),
        "phone",
        ("phone",),
        "employee",
        stored=_phone,
        stdin="a fine long password\n",
    ),
    "employee update --name": Case(
        "manager",
        lambda ids, v: ["employee", "update", str(ids["support2"]), "--name", v],
        "full_name",
        ("full_name",),
        "employee",
        record_id=_existing("support2"),
    ),
    "employee update --email": Case(
        "manager",
        lambda ids, v: ["employee", "update", str(ids["support2"]), "--email", v],
        "email",
        ("email",),
        "employee",
        stored=str.strip,
        unique=True,
        record_id=_existing("support2"),
    ),
    "employee update --phone": Case(
        "manager",
        lambda ids, v: ["employee", "update", str(ids["support2"]), "--phone", v],
        "phone",
        ("phone",),
        "employee",
        stored=_phone,
        record_id=_existing("support2"),
    ),
    "event create --name": Case(
        "sales",
        lambda ids, v: [
            "event",
            "create",
            "--contract",
            str(ids["signed"]),
            "--name",
            v,
            "--start",
            "01/07/2027 18:00",
            "--end",
            "01/07/2027 23:00",
            "--location",
            "Lyon",
            "--attendees",
            "20",
        ],
        "name",
        ("name",),
        "event",
    ),
    "event create --location": Case(
        "sales",
        lambda ids, v: [
            "event",
            "create",
            "--contract",
            str(ids["signed"]),
            "--name",
            "Hostile Gala",
            "--start",
            "01/07/2027 18:00",
            "--end",
            "01/07/2027 23:00",
            "--location",
            v,
            "--attendees",
            "20",
        ],
        "location",
        ("location",),
        "event",
    ),
    "event create --notes": Case(
        "sales", _event_create("--notes"), "notes", ("notes",), "event", stored=_notes
    ),
    "event update --name": Case(
        "manager",
        lambda ids, v: ["event", "update", str(ids["event"]), "--name", v],
        "name",
        ("name",),
        "event",
        record_id=_existing("event"),
    ),
    "event update --location": Case(
        "manager",
        lambda ids, v: ["event", "update", str(ids["event"]), "--location", v],
        "location",
        ("location",),
        "event",
        record_id=_existing("event"),
    ),
    "event update --notes": Case(
        "support",
        lambda ids, v: ["event", "update", str(ids["event"]), "--notes", v],
        "notes",
        ("notes",),
        "event",
        stored=_notes,
        record_id=_existing("event"),
    ),
}
VIEW = {"client": "client", "company": "company", "employee": "employee", "event": "event"}


def check_case(cli, case: Case, value: str) -> None:
    ids = cli.world.ids
    with no_hang():
        r = cli(*case.command(ids, value), "--format", "json", input=case.stdin)
    event(f"exit {r.exit_code}")  # shown by --hypothesis-show-statistics
    if r.exit_code != 0:
        # The option typed (--name), or what the database calls the column.
        words = case.command(ids, value)
        option = words[words.index(value) - 1] if value in words[1:] else None
        assert_refused(r, option, *case.names, codes=(1, 5) if case.unique else (1,))
        if r.exit_code == 5:
            assert "already exists" in r.stderr
        return
    assert r.stderr == "" or r.stderr.startswith(("Created", "Updated")), r.stderr
    out = json.loads(r.stdout)
    record = case.record_id(ids, out)
    expected = case.stored(value)
    if case.key == "company_name":  # linked to the company of that name, whatever its case
        got = out["company_name"]
        assert (got is None) == (expected is None)
        if expected is not None:
            assert admin_one(
                cli.world,
                "select lower(name) = lower(%s) from epic_events.company where id = %s",
                (expected, out["company_id"]),
            ) == (True,)
        return
    assert out[case.key] == expected
    with no_hang():
        viewed = cli(VIEW[case.table], "view", str(record), "--format", "json")
    assert viewed.exit_code == 0, viewed.stderr
    assert json.loads(viewed.stdout)[case.key] == expected
    (stored,) = admin_one(
        cli.world,
        sql.SQL("select {} from epic_events.{} where id = %s").format(
            sql.Identifier(case.key), sql.Identifier(case.table)
        ),
        (record,),
    )
    assert stored == expected


EXAMPLES = [
    "'; drop table epic_events.client; --",
    "\udcff\udcfe not UTF-8",
    "a\x00b",
    "%s %(id)s $$ :name \\",
    'O\'Brien "Bob" \\ 😀 \u202eevil',
    "x" * 200,
    "x" * 201,
]


@pytest.mark.parametrize("name", list(CASES))
@given(data=st.data())
def test_a_text_option_is_stored_exactly_or_refused_by_name(cli, name, data):
    case = CASES[name]
    value = data.draw(st.one_of(st.sampled_from(EXAMPLES), case.values), label="value")
    if not getattr(cli, "logged_in_as", None) == case.who:
        cli.login(case.who)
        cli.logged_in_as = case.who
    check_case(cli, case, value)


# --- searches -----------------------------------------------------------------------------------

SEARCHES = {
    "client list --search": (["client", "list", "--search"], "sales", ("full_name", "email", "company_name")),
    "company list --search": (["company", "list", "--search"], "sales", ("name",)),
}


@pytest.mark.parametrize("name", list(SEARCHES))
@given(value=text_values)
@example(value="%")
@example(value="_")
@example(value="\\")
@example(value="\udcff")
def test_a_search_finds_the_text_literally_or_is_refused_by_name(cli, name, value):
    args, who, keys = SEARCHES[name]
    if not getattr(cli, "logged_in_as", None) == who:
        cli.login(who)
        cli.logged_in_as = who
    with no_hang():
        r = cli(*args, value, "--format", "json", "--limit", "1000")
    event(f"exit {r.exit_code}")
    if r.exit_code != 0:
        assert_refused(r, "search")
        return
    rows = json.loads(r.stdout)
    assert isinstance(rows, list)
    if value.lower() == value.upper():  # no letter whose case folding could differ from PostgreSQL's
        # Wildcards are literal: "%" finds rows holding a "%", not every row.
        for row in rows:
            assert any(value in (row[k] or "") for k in keys), (value, row)


def test_a_search_for_a_wildcard_matches_it_literally(cli):
    cli.login("sales")
    cli("client", "create", "--name", "Fifty % Off", "--email", "pct@hostile.test")
    cli("client", "create", "--name", "Under_score", "--email", "us@hostile.test")
    assert [c["full_name"] for c in cli.json("client", "list", "--search", "%")] == ["Fifty % Off"]
    assert [c["full_name"] for c in cli.json("client", "list", "--search", "_")] == ["Under_score"]
    assert cli.json("client", "list", "--search", "\\") == []


# --- numbers, dates, ids, and text that only a known value passes -----------------------------

numbers = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.floats().map(repr),
    st.integers().map(str),
    st.sampled_from(
        [
            "",
            " ",
            "1,5",
            "1.234",
            "-0",
            "1e3",
            "1E400",
            "NaN",
            "Infinity",
            "0x10",
            "1_000",
            "١٢٣",
            "10000000000",
            "9999999999.99",
            "9999999999.999",
            "12 345,50",
            "€100",
            "100€",
            "--1",
            "1/2",
            "\u00bd",
            "\udcff",
            "1\x00",
            "1 000 000",
        ]
    ),
    st.text(any_character, max_size=12),
)
dates = st.one_of(
    st.datetimes().map(lambda d: d.strftime("%d/%m/%Y %H:%M")),
    st.datetimes().map(lambda d: d.isoformat()),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.sampled_from(
        [
            "31/02/2027",
            "00/01/2027",
            "01/13/2027",
            "29/02/2027 25:00",
            "2027-02-30",
            "0001-01-01",
            "9999-12-31T23:59:59-14:00",
            "0001-01-01T00:00:00+14:00",
            "10000-01-01",
            "today",
            "now",
            "1/1/1",
            "2027-06-01T18:00:00Z",
            "2027-06-01 18:00:00+99:00",
            "\udcff",
            "",
        ]
    ),
    st.text(any_character, max_size=25),
)
ids = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(any_character, max_size=12),
    st.sampled_from(
        ["0", "-1", "1.0", "1e3", "0x1", " 1 ", "9223372036854775807", "9223372036854775808", "\udcff", ""]
    ),
)

# (who, argv builder, names a refusal may use, exit codes allowed besides 0 and 1[, stdin])
MALFORMED = {
    "contract create --total": (
        "manager",
        lambda i, v: ["contract", "create", "--client", str(i["client"]), "--total", v],
        ("total_amount",),
        (),
    ),
    "contract create --due": (
        "manager",
        lambda i, v: ["contract", "create", "--client", str(i["client"]), "--total", "1000", "--due", v],
        ("amount_due",),
        (),
    ),
    "contract create --client": (
        "manager",
        lambda i, v: ["contract", "create", "--client", v, "--total", "10"],
        ("client_id", "client"),
        (4,),
    ),
    "contract update --pay": (
        "sales",
        lambda i, v: ["contract", "update", str(i["contract"]), "--pay", v],
        ("pay", "amount"),
        (),
    ),
    "contract pay --amount": (
        "sales",
        lambda i, v: ["contract", "pay", str(i["contract"]), "--amount", v, "--method", "cash"],
        ("amount", "payment:correct"),
        (3,),
    ),  # e.g. -1: a correction, not sales's to record
    "contract pay --on": (
        "sales",
        lambda i, v: ["contract", "pay", str(i["contract"]), "--amount", "1", "--method", "cash", "--on", v],
        ("on", "paid_on"),
        (),
    ),
    "client note --at": (
        "sales",
        lambda i, v: ["client", "note", str(i["client"]), "--kind", "call", "--text", "Hostile", "--at", v],
        ("noted_at",),
        (),
    ),
    "client note --text": (
        "sales",
        lambda i, v: ["client", "note", str(i["client"]), "--kind", "call", "--text", v],
        ("body",),
        (),
    ),
    "contract pay --reference": (
        "sales",
        lambda i, v: [
            "contract",
            "pay",
            str(i["contract"]),
            "--amount",
            "1",
            "--method",
            "cash",
            "--reference",
            v,
        ],
        ("reference",),
        (),
    ),
    "contract update --total": (
        "sales",
        lambda i, v: ["contract", "update", str(i["contract"]), "--total", v],
        ("total_amount", "amount_due"),
        (),
    ),
    "event create --start": (
        "sales",
        lambda i, v: [
            "event",
            "create",
            "--contract",
            str(i["signed"]),
            "--name",
            "Dated",
            "--start",
            v,
            "--end",
            "31/12/2099 23:00",
            "--location",
            "Lyon",
            "--attendees",
            "5",
        ],
        ("starts_at", "ends_at", "--end"),
        (),
    ),
    "event create --attendees": (
        "sales",
        lambda i, v: [
            "event",
            "create",
            "--contract",
            str(i["signed"]),
            "--name",
            "Counted",
            "--start",
            "01/07/2027 18:00",
            "--end",
            "01/07/2027 23:00",
            "--location",
            "Lyon",
            "--attendees",
            v,
        ],
        ("attendees",),
        (),
    ),
    "event create --contract": (
        "sales",
        lambda i, v: [
            "event",
            "create",
            "--contract",
            v,
            "--name",
            "Where",
            "--start",
            "01/07/2027 18:00",
            "--end",
            "01/07/2027 23:00",
            "--location",
            "Lyon",
            "--attendees",
            "5",
        ],
        ("contract_id", "contract"),
        (3, 4),
    ),
    "event update --end": (
        "manager",
        lambda i, v: ["event", "update", str(i["event"]), "--end", v],
        ("ends_at",),
        (),
    ),
    "event list --from": ("support", lambda i, v: ["event", "list", "--from", v], ("from",), ()),
    "event list --to": ("support", lambda i, v: ["event", "list", "--to", v], ("to",), ()),
    "client update --last-contact": (
        "sales",
        lambda i, v: ["client", "update", str(i["client"]), "--last-contact", v],
        ("last_contact_at",),
        (),
    ),
    "client update --if-updated-at": (
        "sales",
        lambda i, v: ["client", "update", str(i["client"]), "--name", "Checked", "--if-updated-at", v],
        ("if-updated-at", "changed by someone else"),
        (5,),
    ),
    "client view ID": ("sales", lambda i, v: ["client", "view", v], ("CLIENT_ID", "client"), (4,)),
    "event assign-support ID ID": (
        "manager",
        lambda i, v: ["event", "assign-support", str(i["event"]), v],
        ("EMPLOYEE_ID", "support_contact", "employee"),
        (4,),
    ),
    # Free text that only a known value passes.
    "login --email": (
        None,
        lambda i, v: ["login", "--email", v, "--password-stdin"],
        ("email", "login failed"),
        (2,),
        PASSWORD + "\n",
    ),
    "employee create --department": (
        "manager",
        lambda i, v: [
            "employee",
            "create",
            "--name",
            "Dept Less",
            "--email",
            f"{nonce()}@hostile.test",
            "--department",
            v,
            "--password-stdin",
        ],
        ("department",),
        (),
        "a fine long password\n",
    ),
    "role grant DEPARTMENT": (
        "manager",
        lambda i, v: ["role", "grant", v, "event:delete"],
        ("department",),
        (5,),
    ),
    "role grant PERMISSION": ("manager", lambda i, v: ["role", "grant", "sales", v], ("permission",), (5,)),
}
STRATEGY = {
    "--total": numbers,
    "--due": numbers,
    "--pay": numbers,
    "--attendees": numbers,
    "--start": dates,
    "--end": dates,
    "--from": dates,
    "--to": dates,
    "--last-contact": dates,
    "--if-updated-at": dates,
    "--email": emails,
    "--department": text_values,
    "DEPARTMENT": text_values,
    "PERMISSION": text_values,
    "--amount": numbers,
    "--on": dates,
    "--at": dates,
    "--reference": text_values,
    "--text": text_values,
}


def _strategy(name: str):
    return STRATEGY.get(name.split()[-1], ids)


@pytest.mark.parametrize("name", list(MALFORMED))
@given(data=st.data())
def test_a_malformed_number_date_or_id_is_refused_by_name(cli, name, data):
    who, argv, names, also, *stdin = MALFORMED[name]
    value = data.draw(_strategy(name), label="value")
    if who and not getattr(cli, "logged_in_as", None) == who:
        cli.login(who)
        cli.logged_in_as = who
    fmt = () if name.startswith("login") or name.startswith("role") else ("--format", "json")
    with no_hang():
        r = cli(*argv(cli.world.ids, value), *fmt, input=stdin[0] if stdin else None)
    event(f"exit {r.exit_code}")
    if r.exit_code == 0:
        if fmt:
            json.loads(r.stdout)  # accepted: a record or a list, as JSON
        return
    # Click's own refusal of a non-integer argument names the argument (e.g. CLIENT_ID),
    # or, for something that looks like an option ("-1"), the token itself.
    assert_refused(r, name.split()[-1], *names, "No such option", codes=(1,) + also)


# --- table output and the terminal ------------------------------------------------------------


def test_control_characters_in_notes_are_refused_and_tabs_and_line_breaks_kept(cli):
    """An ESC sequence in notes would clear or retitle the reader's terminal: the CLI
    refuses it (and the database, 0016); tabs and line breaks are kept, and a table
    shows them without passing any other control character through."""
    cli.login("support")
    event_id = cli.world.ids["event"]
    r = cli("event", "update", event_id, "--notes", "ok\x1b[2J\x1b]0;owned\x07", "--format", "json")
    assert_refused(r, "notes")
    notes = "ok\r\nend\nnext line\ttab"
    assert cli("event", "update", event_id, "--notes", notes, "--format", "json").exit_code == 0
    assert cli.json("event", "view", event_id)["notes"] == "ok\nend\nnext line\ttab"
    table = cli("event", "view", event_id, "--format", "table")
    assert table.exit_code == 0
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", table.stdout), repr(table.stdout)
    assert "next line" in table.stdout


def test_undecodable_password_bytes_are_refused_not_a_crash(cli):
    """A password piped in with bytes that are not UTF-8 (the real process, its real stdin)."""
    import os
    import subprocess
    import sys

    command = [
        sys.executable,
        "-c",
        "from epic_events.cli.main import main; main()",
        "login",
        "--email",
        "sam@epic.test",
        "--password-stdin",
    ]
    for decoding in ("utf-8:surrogateescape", "utf-8:strict"):
        done = subprocess.run(
            command,
            input=b"correct horse \xff\xfe staple\n",
            capture_output=True,
            env={**os.environ, "PYTHONIOENCODING": decoding},
            timeout=60,
        )
        err = done.stderr.decode()
        assert done.returncode in (1, 2), err
        assert len(err.splitlines()) == 1 and "Traceback" not in err
        assert "password" in err or "login failed" in err
