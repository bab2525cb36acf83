"""SPEC "Default rights" and "Commands" for events, through the CLI."""

import json
from datetime import UTC, datetime

import pytest

from epic_events import queries
from epic_events.cli.event import list_parameters
from tests.cli.conftest import admin_one

RECORD_KEYS = [
    "id",
    "contract_id",
    "client_id",
    "client_name",
    "name",
    "support_contact_id",
    "support_contact_name",
    "starts_at",
    "ends_at",
    "location",
    "attendees",
    "notes",
    "created_at",
    "updated_at",
]
DETAIL_KEYS = (
    RECORD_KEYS[:4]
    + ["client_email", "client_phone", "sales_contact_id", "sales_contact_name"]
    + RECORD_KEYS[4:]
)
NEW = (
    "--name",
    "John Quick Wedding",
    "--start",
    "04/06/2027 13:00",
    "--end",
    "05/06/2027 02:00",
    "--location",
    "Château de Candé",
    "--attendees",
    "75",
)


def stored(cli, key_or_id):
    """The event as the database holds it (read as the admin)."""
    event_id = cli.world.ids.get(key_or_id, key_or_id)
    return admin_one(
        cli.world,
        "select name, starts_at, ends_at, location, attendees, notes,"
        " support_contact_id, updated_at from epic_events.event where id = %s",
        (event_id,),
    )


def count_events(cli):
    return admin_one(cli.world, "select count(*) from epic_events.event")[0]


def local(*args) -> datetime:
    """A wall-clock time here, as the CLI reads dd/mm/yyyy HH:MM."""
    return datetime(*args).astimezone()


# -- reading ----------------------------------------------------------------------
def test_everyone_reads_every_event(cli):
    ids = cli.world.ids
    for who in ("manager", "sales", "support"):
        cli.login(who)
        assert {e["id"] for e in cli.json("event", "list")} == {
            ids["event"],
            ids["event2"],
            ids["event_unassigned"],
        }


def test_view_reads_the_client_through_the_contract(cli):
    ids = cli.world.ids
    cli.login("sales2")
    shown = cli.json("event", "view", ids["event"])
    assert (shown["client_name"], shown["client_email"], shown["client_phone"]) == (
        "Client of sales",
        "client@client.test",
        "+33612345678",
    )
    assert shown["support_contact_name"] == "Suzy Support"
    assert shown["sales_contact_name"] == "Sam Sales"
    # Never copied: a change to the client shows at once.
    admin_one(
        cli.world,
        "update epic_events.client set email = 'new@client.test' where id = %s returning id",
        (ids["client"],),
    )
    assert cli.json("event", "view", ids["event"])["client_email"] == "new@client.test"


def test_view_as_a_card(cli):
    cli.login("support")
    r = cli("event", "view", cli.world.ids["event"], "--format", "table")
    assert r.exit_code == 0, r.stderr
    assert "client@client.test" in r.stdout and "Suzy Support" in r.stdout


def test_view_of_a_missing_event_is_not_found(cli):
    cli.login("support")
    r = cli("event", "view", "999999")
    assert r.exit_code == 4 and "event 999999: not found" in r.stderr


# -- create -----------------------------------------------------------------------
def test_sales_create_an_event_on_their_clients_signed_contract(cli):
    cli.login("sales")
    created = cli.json(
        "event",
        "create",
        "--contract",
        cli.world.ids["signed"],
        *NEW,
        "--notes",
        "Wedding starts at 3PM, by the river.",
    )
    assert created["contract_id"] == cli.world.ids["signed"]
    assert created["client_name"] == "Client of sales"
    assert created["support_contact_id"] is None
    name, starts_at, ends_at, location, attendees, notes = stored(cli, created["id"])[:6]
    assert (name, location, attendees) == ("John Quick Wedding", "Château de Candé", 75)
    assert (starts_at, ends_at) == (local(2027, 6, 4, 13, 0), local(2027, 6, 5, 2, 0))
    assert notes == "Wedding starts at 3PM, by the river."


def test_sales_cannot_create_an_event_on_an_unsigned_contract(cli):
    cli.login("sales")
    before = count_events(cli)
    r = cli("event", "create", "--contract", cli.world.ids["contract"], *NEW)
    assert r.exit_code == 1
    assert r.stderr.startswith("error: --contract:") and "is not signed" in r.stderr
    assert count_events(cli) == before


def test_sales_cannot_create_an_event_on_another_sales_contract(cli):
    cli.login("sales")
    before = count_events(cli)
    r = cli("event", "create", "--contract", cli.world.ids["contract2"], *NEW)
    assert r.exit_code == 3
    assert "event:create:own_client" in r.stderr
    assert count_events(cli) == before


@pytest.mark.parametrize("who", ["manager", "support"])
def test_management_and_support_do_not_create_events(cli, who):
    cli.login(who)
    before = count_events(cli)
    r = cli("event", "create", "--contract", cli.world.ids["signed"], *NEW)
    assert r.exit_code == 3 and "event:create" in r.stderr
    assert count_events(cli) == before


def test_an_event_on_a_missing_contract_is_not_found(cli):
    cli.login("sales")
    r = cli("event", "create", "--contract", "999999", *NEW)
    assert r.exit_code == 4 and r.stderr.startswith("error: --contract: no such record")
    assert count_events(cli) == 3


@pytest.mark.parametrize(
    "start, end",
    [
        ("04/06/2027", "05/06/2027"),
        ("04/06/2027 13:00", "04/06/2027 23:30"),
        ("2027-06-04T13:00:00+02:00", "2027-06-04T23:30:00Z"),
    ],
)
def test_dates_are_read_in_three_formats(cli, start, end):
    cli.login("sales")
    created = cli.json(
        "event",
        "create",
        "--contract",
        cli.world.ids["signed"],
        "--name",
        "Gala",
        "--start",
        start,
        "--end",
        end,
        "--location",
        "Lyon",
        "--attendees",
        "10",
    )
    got = stored(cli, created["id"])[1:3]
    if "T" in start:
        assert got == (datetime(2027, 6, 4, 11, 0, tzinfo=UTC), datetime(2027, 6, 4, 23, 30, tzinfo=UTC))
    else:
        assert got[0] == local(
            *[int(x) for x in reversed(start[:10].split("/"))], *([13, 0] if ":" in start else [])
        )


@pytest.mark.parametrize(
    "change, message",
    [
        (("--end", "04/06/2027 12:00"), "--end: must be after the start"),
        (("--end", "04/06/2027 13:00"), "--end: must be after the start"),
        (("--start", "31/02/2027"), "--start: not a date"),
        (("--start", "tomorrow"), "--start: not a date"),
        (("--attendees", "-1"), "--attendees: must not be negative"),
        (("--attendees", "many"), "--attendees: not a whole number"),
        (("--name", "  "), "--name: must not be blank"),
        (("--location", "x" * 501), "--location: at most 500 characters"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(cli, change, message):
    cli.login("sales")
    before = count_events(cli)
    options = dict(zip(NEW[::2], NEW[1::2], strict=True))
    options[change[0]] = change[1]
    r = cli(
        "event", "create", "--contract", cli.world.ids["signed"], *[x for kv in options.items() for x in kv]
    )
    assert r.exit_code == 1
    assert r.stderr.startswith(f"error: {message}")
    assert count_events(cli) == before


def test_missing_option_without_a_terminal_is_an_error_not_a_prompt(cli):
    cli.login("sales")
    r = cli("event", "create", "--contract", cli.world.ids["signed"], "--name", "Gala")
    assert r.exit_code == 1 and "--start" in r.stderr


def test_missing_options_are_asked_on_a_terminal(cli):
    cli.login("sales")
    cli.as_terminal()
    answers = [
        str(cli.world.ids["signed"]),
        "Gala",
        "04/06/2027 20:00",
        "04/06/2027 19:00",
        "05/06/2027 01:00",
        "Lyon",
        "-3",
        "120",
        "",
    ]
    r = cli("event", "create", "--format", "json", input="\n".join(answers) + "\n")
    assert r.exit_code == 0, r.stderr
    assert "--end: must be after the start" in r.stderr
    assert "--attendees: must not be negative" in r.stderr
    assert '"attendees": 120' in r.stdout and '"notes": null' in r.stdout


# -- update -----------------------------------------------------------------------
def test_support_update_the_events_they_are_assigned_to_only(cli):
    cli.login("support")
    updated = cli.json(
        "event", "update", cli.world.ids["event"], "--attendees", "80", "--notes", "Band confirmed."
    )
    assert (updated["attendees"], updated["notes"]) == (80, "Band confirmed.")
    for other in ("event2", "event_unassigned"):
        before = stored(cli, other)
        r = cli("event", "update", cli.world.ids[other], "--attendees", "1")
        assert r.exit_code == 3
        assert "event:update:assigned" in r.stderr
        assert stored(cli, other) == before


def test_sales_cannot_update_events(cli):
    cli.login("sales")
    before = stored(cli, "event")
    r = cli("event", "update", cli.world.ids["event"], "--attendees", "1")
    assert r.exit_code == 3 and "event:update" in r.stderr
    assert stored(cli, "event") == before


def test_management_updates_any_event(cli):
    cli.login("manager")
    updated = cli.json(
        "event",
        "update",
        cli.world.ids["event2"],
        "--name",
        "Renamed",
        "--start",
        "2027-06-01T17:00:00Z",
        "--end",
        "2027-06-02T01:00:00Z",
        "--location",
        "Paris",
    )
    assert (updated["name"], updated["location"]) == ("Renamed", "Paris")
    assert stored(cli, "event2")[1:3] == (
        datetime(2027, 6, 1, 17, tzinfo=UTC),
        datetime(2027, 6, 2, 1, tzinfo=UTC),
    )


@pytest.mark.parametrize("blank", ["", "   ", "\n\t "])
def test_notes_are_cleared_with_an_empty_or_blank_value(cli, blank):
    admin_one(
        cli.world,
        "update epic_events.event set notes = 'old' where id = %s returning id",
        (cli.world.ids["event"],),
    )
    cli.login("support")
    assert cli.json("event", "update", cli.world.ids["event"], "--notes", blank)["notes"] is None


def test_an_end_before_the_stored_start_is_refused_by_the_database(cli):
    cli.login("support")
    before = stored(cli, "event")
    r = cli("event", "update", cli.world.ids["event"], "--end", "2027-06-01T17:00:00Z")
    assert r.exit_code == 1
    assert r.stderr.startswith("error: --end: must be after the start")
    assert stored(cli, "event") == before


@pytest.mark.parametrize(
    "change, message",
    [
        (("--start", "02/06/2027 10:00", "--end", "01/06/2027 10:00"), "--end: must be after the start"),
        (("--start", "32/01/2027"), "--start: not a date"),
        (("--attendees", "-5"), "--attendees: must not be negative"),
        (("--name", ""), "--name: must not be blank"),
    ],
)
def test_bad_updates_are_refused_and_change_nothing(cli, change, message):
    cli.login("support")
    before = stored(cli, "event")
    r = cli("event", "update", cli.world.ids["event"], *change)
    assert r.exit_code == 1
    assert r.stderr.startswith(f"error: {message}")
    assert stored(cli, "event") == before


def test_an_update_with_nothing_to_change_is_an_error_without_a_terminal(cli):
    cli.login("support")
    r = cli("event", "update", cli.world.ids["event"])
    assert r.exit_code == 1 and "nothing to update" in r.stderr


def test_update_asks_each_field_with_its_current_value_on_a_terminal(cli):
    cli.login("support")
    cli.as_terminal()
    r = cli("event", "update", cli.world.ids["event"], "--format", "json", input="\n\n\nMarseille\n\n\n")
    assert r.exit_code == 0, r.stderr
    name, starts_at, ends_at, location, attendees, notes = stored(cli, "event")[:6]
    assert (name, location, attendees, notes) == ("Event event", "Marseille", 50, None)
    assert starts_at == datetime(2027, 6, 1, 18, tzinfo=UTC)


def test_a_stale_update_is_a_conflict_and_changes_nothing(cli):
    cli.login("support")
    seen = cli.json("event", "view", cli.world.ids["event"])["updated_at"]
    cli.json("event", "update", cli.world.ids["event"], "--attendees", "60")
    r = cli("event", "update", cli.world.ids["event"], "--attendees", "70", "--if-updated-at", seen)
    assert r.exit_code == 5 and "changed by someone else" in r.stderr
    assert stored(cli, "event")[4] == 60


def test_update_of_a_missing_event_is_not_found(cli):
    cli.login("manager")
    r = cli("event", "update", "999999", "--attendees", "1")
    assert r.exit_code == 4 and "not found" in r.stderr


# -- assign-support ---------------------------------------------------------------
def test_management_assigns_and_removes_the_support_contact(cli):
    ids = cli.world.ids
    cli.login("manager")
    assigned = cli.json("event", "assign-support", ids["event_unassigned"], ids["support2"])
    assert assigned["support_contact_name"] == "Stan Support"
    assert stored(cli, "event_unassigned")[6] == ids["support2"]
    assert (
        cli.json("event", "assign-support", ids["event_unassigned"], "--none")["support_contact_id"] is None
    )
    assert stored(cli, "event_unassigned")[6] is None


@pytest.mark.parametrize("who", ["sales", "manager", "inactive support", "nobody"])
def test_the_support_contact_must_be_an_active_support_employee(cli, who):
    ids = cli.world.ids
    if who == "inactive support":
        admin_one(
            cli.world,
            "update epic_events.employee set is_active = false where id = %s returning id",
            (ids["support2"],),
        )
    employee_id = {"inactive support": ids["support2"], "nobody": 999999}.get(who, ids.get(who))
    cli.login("manager")
    r = cli("event", "assign-support", ids["event"], employee_id)
    if who == "nobody":
        assert (r.exit_code, r.stderr) == (4, "error: employee 999999: not found\n")
    else:
        assert r.exit_code == 1
        assert "support_contact_id" in r.stderr and "not an active support employee" in r.stderr
    assert stored(cli, "event")[6] == ids["support"]


@pytest.mark.parametrize("who", ["support", "sales"])
def test_only_management_assigns_support(cli, who):
    ids = cli.world.ids
    cli.login(who)
    r = cli("event", "assign-support", ids["event"], ids["support2"])
    assert r.exit_code == 3 and "event:update" in r.stderr
    assert stored(cli, "event")[6] == ids["support"]


@pytest.mark.parametrize("arguments", [(), ("--none",)])
def test_assign_support_takes_an_employee_or_none(cli, arguments):
    ids = cli.world.ids
    cli.login("manager")
    extra = (ids["support2"],) if arguments else ()
    r = cli("event", "assign-support", ids["event"], *extra, *arguments)
    assert r.exit_code == 1 and "EMPLOYEE_ID or --none" in r.stderr
    assert stored(cli, "event")[6] == ids["support"]


# -- delete -----------------------------------------------------------------------
def test_management_deletes_events(cli):
    cli.login("manager")
    assert cli("event", "delete", cli.world.ids["event"], "--yes").exit_code == 0
    assert stored(cli, "event") is None
    r = cli("event", "delete", cli.world.ids["event"], "--yes")
    assert r.exit_code == 4 and "not found" in r.stderr


@pytest.mark.parametrize("who", ["sales", "support"])
def test_only_management_deletes_events(cli, who):
    cli.login(who)
    r = cli("event", "delete", cli.world.ids["event"], "--yes")
    assert r.exit_code == 3 and "event:delete" in r.stderr
    assert stored(cli, "event") is not None


def test_delete_needs_yes_without_a_terminal(cli):
    cli.login("manager")
    r = cli("event", "delete", cli.world.ids["event"])
    assert r.exit_code == 1 and "--yes" in r.stderr
    assert stored(cli, "event") is not None


# -- filters, paging, shapes ------------------------------------------------------
def listed(cli, *options):
    return [e["id"] for e in cli.json("event", "list", *options)]


def test_no_support_filter(cli):
    cli.login("support")
    assert listed(cli, "--no-support") == [cli.world.ids["event_unassigned"]]


def test_mine_for_support_is_the_events_assigned_to_them(cli):
    cli.login("support")
    assert listed(cli, "--mine") == [cli.world.ids["event"]]
    cli.login("support2")
    assert listed(cli, "--mine") == [cli.world.ids["event2"]]


def test_mine_for_sales_is_the_events_of_their_contracts(cli):
    ids = cli.world.ids
    cli.login("sales")
    assert listed(cli, "--mine") == [ids["event"], ids["event_unassigned"]]
    assert listed(cli, "--mine", "--no-support") == [ids["event_unassigned"]]
    cli.login("sales2")
    assert listed(cli, "--mine") == [ids["event2"]]


def test_mine_is_refused_to_management(cli):
    cli.login("manager")
    r = cli("event", "list", "--mine")
    assert r.exit_code == 1 and r.stderr.startswith("error: --mine: management has no events")


def test_from_and_to_filter_on_the_start(cli):
    ids = cli.world.ids
    for key, moment in (
        ("event2", local(2027, 7, 15, 10, 0)),
        ("event_unassigned", local(2027, 6, 30, 20, 0)),
    ):
        admin_one(
            cli.world,
            "update epic_events.event set starts_at = %s, ends_at = %s + interval"
            " '1 hour' where id = %s returning id",
            (moment, moment, ids[key]),
        )
    cli.login("support")
    assert listed(cli, "--from", "01/07/2027") == [ids["event2"]]
    assert listed(cli, "--to", "30/06/2027") == [ids["event"], ids["event_unassigned"]]  # whole day
    assert listed(cli, "--to", "30/06/2027 19:59") == [ids["event"]]
    assert listed(cli, "--from", "2027-06-02T00:00:00Z", "--to", "2027-06-30") == [ids["event_unassigned"]]


@pytest.mark.parametrize(
    "options, message",
    [
        (("--from", "soon"), "--from: not a date"),
        (("--to", "32/13/2027"), "--to: not a date"),
        (("--from", "02/06/2027", "--to", "01/06/2027"), "--to: before --from"),
    ],
)
def test_bad_dates_in_filters_are_refused(cli, options, message):
    cli.login("support")
    r = cli("event", "list", *options)
    assert r.exit_code == 1 and r.stderr.startswith(f"error: {message}")


def test_contract_filter(cli):
    ids = cli.world.ids
    cli.login("sales")
    assert listed(cli, "--contract", ids["signed"]) == [ids["event"], ids["event_unassigned"]]
    assert listed(cli, "--contract", ids["contract"]) == []


def test_list_pages_and_sorts_soonest_first(cli):
    ids = cli.world.ids
    admin_one(
        cli.world,
        "update epic_events.event set starts_at = starts_at - interval '1 day',"
        " ends_at = ends_at - interval '1 day' where id = %s returning id",
        (ids["event2"],),
    )
    cli.login("manager")
    assert listed(cli) == [ids["event2"], ids["event"], ids["event_unassigned"]]
    assert listed(cli, "--desc") == [ids["event_unassigned"], ids["event"], ids["event2"]]
    assert (
        listed(cli, "--sort", "id", "--desc")
        == sorted(ids[k] for k in ("event", "event2", "event_unassigned"))[::-1]
    )
    assert [e["name"] for e in cli.json("event", "list", "--sort", "name")] == [
        "Event event",
        "Event event2",
        "Event event_unassigned",
    ]
    assert listed(cli, "--limit", "2", "--page", "2") == [ids["event_unassigned"]]
    r = cli("event", "list", "--limit", "2", "--format", "table")
    assert r.exit_code == 0 and "more with --offset 2" in r.stdout


def test_json_keys_are_the_data_model_columns(cli):
    cli.login("support")
    assert all(list(e) == RECORD_KEYS for e in cli.json("event", "list"))
    assert list(cli.json("event", "view", cli.world.ids["event"])) == DETAIL_KEYS


def test_csv_shape(cli):
    cli.login("support")
    lines = cli("event", "list", "--format", "csv").stdout.splitlines()
    assert lines[0] == ",".join(RECORD_KEYS)
    assert len(lines) == 4


# -- the plans behind the filters -------------------------------------------------
# A realistic spread: 200 support and 200 sales employees, 6,000 events over
# three years on 1,500 contracts, one in thirty without support. With a handful
# of rows the planner rightly reads the whole table; here it must pick the index.
BULK = """
insert into epic_events.employee (full_name, email, department, password_salt, password_verifier)
select 'Extra ' || d || ' ' || g, 'extra-' || d || '-' || g || '@epic.test', d, '$2b$04$' || repeat('x', 22), sha256('x')
  from generate_series(1, 200) g, unnest(array['sales', 'support']) d;
insert into epic_events.client (full_name, email, sales_contact_id)
select 'Bulk client ' || g, 'bulk' || g || '@client.test', s.id
  from generate_series(0, 399) g
  join (select id, row_number() over (order by id) - 1 as n, count(*) over () as total
          from epic_events.employee
         where department = 'sales') s on s.n = g % s.total;
insert into epic_events.contract (client_id, total_amount, is_signed)
select c.id, 1000, true
  from generate_series(0, 1499) g
  join (select id, row_number() over (order by id) - 1 as n
          from epic_events.client
         where full_name like 'Bulk client %') c on c.n = g % 400;
insert into epic_events.event (contract_id, name, support_contact_id, starts_at, ends_at, location, attendees)
select k.id, 'Bulk event ' || g, case when g % 30 = 0 then null else s.id end,
       timestamptz '2026-01-01' + g * interval '4 hours',
       timestamptz '2026-01-01' + g * interval '4 hours' + interval '2 hours', 'Paris', 10
  from generate_series(0, 5999) g
  join (select id, row_number() over (order by id) - 1 as n
          from epic_events.contract
         where is_signed) k on k.n = g % 1500
  join (select id, row_number() over (order by id) - 1 as n, count(*) over () as total
          from epic_events.employee
         where department = 'support') s on s.n = g % s.total;
analyze epic_events.employee, epic_events.client, epic_events.contract, epic_events.event;
"""


def indexes_used(actor, dotted: str, params: dict) -> set[str]:
    """Run EXPLAIN of a named query as this employee (their role, RLS and all)."""
    plan = actor.one("explain (format json) " + queries.get(dotted).sql, params)["QUERY PLAN"]
    found, todo = set(), [plan[0]["Plan"]]
    while todo:
        node = todo.pop()
        if "Index Name" in node:
            found.add(node["Index Name"])
        todo.extend(node.get("Plans", []))
    return found


def test_event_list_filters_are_served_by_their_indexes(world):
    with world.db.admin() as conn:
        conn.execute(BULK)
    june = {
        "starts_from": datetime(2027, 6, 1, tzinfo=UTC),
        "starts_until": datetime(2027, 6, 30, 23, 59, tzinfo=UTC),
    }
    cases = [
        ("manager", {}, "event_starts_idx"),
        ("manager", {"desc": True}, "event_starts_idx"),
        ("sales", june, "event_starts_idx"),
        # Unstaffed, or staffed by a leaver: start order, filtered (sql/queries/event.sql).
        ("manager", {"no_support": True}, "event_starts_idx"),
        ("support", {"assigned_to_me": True}, "event_support_contact_idx"),
        ("support", {"contract_id": world.ids["signed"]}, "event_contract_idx"),
    ]
    for who, filters, index in cases:
        used = indexes_used(world.as_(who), "event.list_events", list_parameters(**filters))
        assert index in used, f"{who} {filters}: expected {index}, the plan used {used}"


def test_assigning_an_employee_who_does_not_exist_is_not_found(cli):
    cli.login("manager")
    r = cli("event", "assign-support", cli.world.ids["event"], "999999")
    assert (r.exit_code, r.stderr) == (4, "error: employee 999999: not found\n")
    r = cli("event", "assign-support", cli.world.ids["event"], cli.world.ids["sales"])
    assert r.exit_code == 1 and "not an active support employee" in r.stderr


def test_on_a_terminal_the_contract_is_checked_at_its_prompt_before_the_other_questions(cli):
    cli.login("sales")
    cli.as_terminal()
    ids = cli.world.ids
    answers = [
        str(ids["contract"]),
        "999999",
        str(ids["signed"]),
        "Gala",
        "04/06/2027 13:00",
        "05/06/2027 02:00",
        "Lyon",
        "75",
        "",
    ]
    r = cli("event", "create", "--format", "json", input="\n".join(answers) + "\n")
    assert r.exit_code == 0, r.stderr
    unsigned = r.stderr.index(f"--contract: contract {ids['contract']} is not signed yet")
    unknown = r.stderr.index("--contract: contract 999999 not found")
    assert unsigned < unknown < r.stderr.index("Event name")
    assert json.loads(r.stdout)["contract_id"] == ids["signed"]


def test_on_a_terminal_an_unsigned_contract_given_as_option_fails_before_any_question(cli):
    cli.login("sales")
    cli.as_terminal()
    r = cli("event", "create", "--contract", cli.world.ids["contract"], input="Gala\n")
    assert r.exit_code == 1
    assert "is not signed yet" in r.stderr and "Event name" not in r.stderr
    r = cli("event", "create", "--contract", "999999", input="Gala\n")
    assert r.exit_code == 4 and "Event name" not in r.stderr
