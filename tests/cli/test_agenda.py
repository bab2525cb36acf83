"""Issue 14, item 3: the support agenda, and events as an iCalendar file."""

import time
from datetime import UTC, datetime

import pytest
from icalendar import Calendar

from tests.cli.conftest import admin_one


@pytest.fixture
def paris(monkeypatch):
    """The CLI's local time is the machine's: Paris, UTC+2 in June."""
    monkeypatch.setenv("TZ", "Europe/Paris")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def ics_events(result) -> dict[str, object]:
    """The VEVENTs of an iCalendar output, parsed back by icalendar, by UID."""
    assert result.exit_code == 0, result.stderr
    cal = Calendar.from_ical(result.stdout)
    assert str(cal["version"]) == "2.0" and cal["prodid"]
    return {str(e["uid"]): e for e in cal.walk("VEVENT")}


def truth(world) -> list[dict]:
    """Every event and its client's contact, as the admin reads them."""
    with world.db.admin() as conn:
        domain = conn.execute("select current_database()").fetchone()[0] + ".epic-events"
        cur = conn.execute(
            "select v.id, v.name, v.starts_at, v.ends_at, v.location, v.attendees, v.created_at,"
            "       v.updated_at, c.full_name, c.email, c.phone, s.full_name as support"
            "  from epic_events.event v join epic_events.contract k on k.id = v.contract_id"
            "  join epic_events.client c on c.id = k.client_id"
            "  left join epic_events.employee s on s.id = v.support_contact_id order by v.id"
        )
        names = [d.name for d in cur.description]
        return [{**dict(zip(names, row, strict=True)), "uid": f"event-{row[0]}@{domain}"} for row in cur]


def test_event_list_as_ics_matches_the_database(cli):
    cli.login("support")
    before = datetime.now(UTC).replace(microsecond=0)
    found = ics_events(cli("event", "list", "--format", "ics"))
    rows = truth(cli.world)
    assert set(found) == {r["uid"] for r in rows}
    for r in rows:
        e = found[r["uid"]]
        # Times in UTC (a trailing Z), the database's moments to the second.
        assert e.to_ical().decode().count("DTSTART:") == 1
        assert f"DTSTART:{r['starts_at'].astimezone(UTC):%Y%m%dT%H%M%SZ}" in e.to_ical().decode()
        assert e.decoded("dtstart") == r["starts_at"].replace(microsecond=0)
        assert e.decoded("dtend") == r["ends_at"].replace(microsecond=0)
        assert e.decoded("last-modified") == r["updated_at"].replace(microsecond=0)
        assert e.decoded("dtstamp") >= before
        assert str(e["location"]) == r["location"]
        assert str(e["summary"]) == f"{r['name']} · {r['full_name']}"
        description = str(e["description"])
        for part in (
            r["full_name"],
            r["email"],
            r["phone"],
            f"Attendees: {r['attendees']}",
            f"Support: {r['support'] or 'none yet'}",
        ):
            assert part in description


def test_a_newer_export_keeps_each_uid_and_says_it_is_newer(cli):
    """Re-imported, the file updates the calendar's events instead of adding copies."""
    ids = cli.world.ids
    with cli.world.db.admin() as conn:  # created an hour ago, last changed half an hour ago
        conn.execute("set session_replication_role = replica")
        conn.execute(
            "update epic_events.event set created_at = now() - interval '1 hour',"
            " updated_at = now() - interval '30 minutes' where id = %s",
            (ids["event"],),
        )
    cli.login("support")
    first = ics_events(cli("event", "list", "--format", "ics"))
    assert cli("event", "update", ids["event"], "--location", "Annecy").exit_code == 0
    second = ics_events(cli("event", "list", "--format", "ics"))
    assert set(second) == set(first)
    uid = next(u for u in second if u.startswith(f"event-{ids['event']}@"))
    assert str(second[uid]["location"]) == "Annecy"
    assert second[uid].decoded("last-modified") > first[uid].decoded("last-modified")
    assert second[uid].decoded("sequence") > first[uid].decoded("sequence")


def test_agenda_mine_as_ics_holds_only_ones_own_events(cli):
    ids = cli.world.ids
    cli.login("support")
    found = ics_events(cli("event", "agenda", "--day", "01/06/2027", "--mine", "--format", "ics"))
    assert [u.split("@")[0] for u in found] == [f"event-{ids['event']}"]


@pytest.mark.parametrize(
    "args",
    [
        ("client", "list", "--format", "ics"),
        ("contract", "list", "--format", "ics"),
        ("event", "view", "1", "--format", "ics"),
        ("--format", "ics", "client", "list"),
        ("--format", "ics", "employee", "list"),
    ],
)
def test_ics_elsewhere_is_a_clear_error(cli, args):
    cli.login("manager")
    r = cli(*args)
    assert r.exit_code == 1, (r.exit_code, r.stderr)
    assert "ics is only for `event list` and `event agenda`" in r.stderr
    assert r.stdout == ""


def test_the_root_format_ics_reaches_event_list(cli):
    cli.login("manager")
    assert len(ics_events(cli("--format", "ics", "event", "list"))) == 3


def test_agenda_week_in_json_holds_the_week_and_the_clients_contact(cli):
    ids = cli.world.ids
    cli.login("manager")
    # The World's events start on Tuesday 1 June 2027, 18:00 UTC.
    for week in ("31/05/2027", "06/06/2027", "2027-06-01"):
        rows = cli.json("event", "agenda", "--week", week)
        assert [r["id"] for r in rows] == sorted([ids["event"], ids["event2"], ids["event_unassigned"]])
        assert rows[0]["client_email"] and rows[0]["client_phone"]
    assert cli.json("event", "agenda", "--week", "07/06/2027") == []
    assert cli.json("event", "agenda", "--day", "02/06/2027") == []


def test_agenda_defaults_to_this_week(cli):
    ids = cli.world.ids
    cli.login("manager")
    assert cli.json("event", "agenda") == []
    admin_one(
        cli.world,
        "update epic_events.event set starts_at = now() + interval '1 minute',"
        " ends_at = now() + interval '2 hours' where id = %s returning id",
        (ids["event"],),
    )
    shown = [r["id"] for r in cli.json("event", "agenda")]
    # Unless now is the last minute of Sunday, the event is this week's.
    assert shown == [ids["event"]] or datetime.now().astimezone().weekday() == 6


def test_agenda_mine_follows_the_department(cli):
    ids = cli.world.ids
    cli.login("sales2")
    assert [r["id"] for r in cli.json("event", "agenda", "--week", "01/06/2027", "--mine")] == [ids["event2"]]
    cli.login("manager")
    r = cli("event", "agenda", "--mine")
    assert r.exit_code == 1 and "management has no events of its own" in r.stderr
    r = cli("event", "agenda", "--week", "01/06/2027", "--day", "01/06/2027")
    assert r.exit_code == 1 and "--week and --day" in r.stderr


def test_agenda_on_a_terminal_is_day_by_day_in_local_time(cli, paris):
    ids = cli.world.ids
    cli.login("support")
    r = cli("event", "agenda", "--week", "01/06/2027", "--format", "table")
    assert r.exit_code == 0, r.stderr
    out = r.stdout
    assert "week of 31/05/2027 to 06/06/2027" in out
    days = ["Monday 31/05/2027", "Tuesday 01/06/2027", "Wednesday 02/06/2027", "Sunday 06/06/2027"]
    assert all(d in out for d in days)
    assert [out.index(d) for d in days] == sorted(out.index(d) for d in days)
    # 18:00 UTC is 20:00 in Paris in June; the events fall on Tuesday.
    tuesday = out[out.index(days[1]) : out.index(days[2])]
    assert tuesday.count("20:00–02/06 01:00") == 3  # five hours: past midnight
    for text in (
        f"#{ids['event']} Event event",
        "Client of sales",
        "+33612345678",
        "client@client.test",
        "client2@client.test",
        "Lyon",
        "50 attendees",
        "Support: Suzy Support",
        "Support: Stan Support",
        "Support: none yet",
    ):
        assert text in tuesday
    assert "nothing" in out[out.index(days[0]) : out.index(days[1])]
    assert "3 events" in out


def test_event_list_as_ics_holds_the_page_and_says_when_there_is_more(cli):
    cli.login("manager")
    r = cli("event", "list", "--limit", "2", "--format", "ics")
    assert len(ics_events(r)) == 2
    assert "note: the file holds rows 1–2; more with --offset 2" in r.stderr
    r = cli("event", "list", "--limit", "2", "--offset", "2", "--format", "ics")
    assert len(ics_events(r)) == 1 and r.stderr == ""
