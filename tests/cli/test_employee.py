"""SPEC "Default rights" and "Commands" for employees, through the CLI."""

import json

import pytest

from epic_events import observability
from tests.cli.conftest import admin_one
from tests.world import PASSWORD, STAFF

NEW_PASSWORD = "a brand new passphrase"
HOLDINGS = ["holds_clients", "holds_contracts", "holds_future_events"]
COLUMNS = [
    "id",
    "employee_number",
    "full_name",
    "email",
    "phone",
    "department",
    "is_active",
    "created_at",
    "updated_at",
]


@pytest.fixture
def events(monkeypatch):
    """The business events sent to Sentry (when on), captured instead."""
    seen = []
    monkeypatch.setattr(observability, "event", lambda message, **data: seen.append((message, data)))
    return seen


def employees(cli) -> int:
    return admin_one(cli.world, "select count(*) from epic_events.employee")[0]


def create(cli, *extra, email="nina@epic.test", department="sales", password=NEW_PASSWORD):
    return cli(
        "employee",
        "create",
        "--name",
        "Nina New",
        "--email",
        email,
        "--department",
        department,
        "--password-stdin",
        "--format",
        "json",
        *extra,
        input=password + "\n",
    )


def printed(r) -> dict:
    """The JSON record after the prompts (Click prompts on stdout)."""
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout[r.stdout.index("{") :])


def can_log_in(cli, email, password) -> bool:
    return cli("login", "--email", email, "--password-stdin", input=password + "\n").exit_code == 0


# -- reading: the staff directory is everyone's, the hashes nobody's --------------
@pytest.mark.parametrize("who", ["manager", "sales", "support"])
def test_everyone_lists_and_views_the_staff_directory_without_password_hashes(cli, who):
    cli.login(who)
    listed = cli.json("employee", "list")
    assert {e["id"] for e in listed} == {cli.world.ids[k] for k, *_ in STAFF}
    assert list(listed[0]) == COLUMNS
    shown = cli("employee", "view", cli.world.ids["manager"], "--format", "json")
    assert shown.json["full_name"] == "Mona Manager" and list(shown.json) == COLUMNS + HOLDINGS
    assert "password" not in shown.stdout and "$2b$" not in shown.stdout


def test_csv_shape(cli):
    cli.login("support")
    r = cli("employee", "list", "--format", "csv")
    lines = r.stdout.splitlines()
    assert lines[0] == ",".join(COLUMNS)
    assert len(lines) == 1 + len(STAFF)


def test_view_of_a_missing_employee_is_not_found(cli):
    cli.login("sales")
    r = cli("employee", "view", "999999")
    assert r.exit_code == 4 and "employee 999999: not found" in r.stderr


def test_department_filter(cli):
    cli.login("sales")
    listed = cli.json("employee", "list", "--department", "support")
    assert [e["id"] for e in listed] == [cli.world.ids["support"], cli.world.ids["support2"]]
    r = cli("employee", "list", "--department", "marketing")
    assert r.exit_code == 1 and "--department" in r.stderr


def test_active_and_inactive_filters(cli):
    cli.login("manager")
    cli.json("employee", "deactivate", cli.world.ids["sales2"], "--yes")
    assert [e["id"] for e in cli.json("employee", "list", "--inactive")] == [cli.world.ids["sales2"]]
    active = {e["id"] for e in cli.json("employee", "list", "--active")}
    assert cli.world.ids["sales2"] not in active and len(active) == len(STAFF) - 1
    assert len(cli.json("employee", "list")) == len(STAFF)


def test_list_pages_and_sorts(cli):
    cli.login("support")
    first = cli.json("employee", "list", "--limit", "4", "--sort", "name")
    second = cli.json("employee", "list", "--limit", "4", "--page", "2", "--sort", "name")
    names = [e["full_name"] for e in first + second]
    assert len(first) == 4 and len(names) == len(STAFF)
    assert names == sorted(names, key=str.lower)
    by_department = [e["department"] for e in cli.json("employee", "list", "--sort", "department", "--desc")]
    assert by_department == sorted(by_department, reverse=True)
    assert cli.json("employee", "list", "--limit", "1", "--desc")[0]["id"] == cli.world.ids["support2"]


# -- create -------------------------------------------------------------------------
def test_management_creates_an_employee_with_the_password_from_stdin(cli, events):
    cli.login("manager")
    r = create(cli, "--phone", "06 12 34 56 78")
    assert r.exit_code == 0, r.stderr
    made = r.json
    assert list(made) == COLUMNS and "password" not in r.stdout
    assert made["department"] == "sales" and made["phone"] == "+33612345678" and made["is_active"]
    assert made["employee_number"].startswith("EE")  # numbered by the database
    assert events == [("employee created", {"employee_id": made["id"], "department": "sales"})]
    assert can_log_in(cli, "nina@epic.test", NEW_PASSWORD)
    assert cli.json("whoami")["id"] == made["id"]


def test_employee_create_asks_the_password_twice_on_a_terminal(cli):
    cli.login("manager")
    cli.as_terminal()
    r = cli(
        "employee",
        "create",
        "--name",
        "Nina New",
        "--email",
        "nina@epic.test",
        "--department",
        "support",
        "--format",
        "json",
        input=f"\nshort\nshort\n{NEW_PASSWORD}\n{NEW_PASSWORD}\n",
    )
    assert "password: at least 8 characters" in r.stderr
    assert NEW_PASSWORD not in r.stdout + r.stderr
    assert printed(r)["department"] == "support" and printed(r)["phone"] is None
    assert can_log_in(cli, "nina@epic.test", NEW_PASSWORD)


def test_missing_options_are_asked_on_a_terminal(cli):
    cli.login("manager")
    cli.as_terminal()
    r = cli(
        "employee",
        "create",
        "--format",
        "json",
        input=f"Nina New\nnina@epic.test\nmarketing\nSupport\n+44 20 7946 0958\n"
        f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n",
    )
    assert "department: must be one of management, sales, support" in r.stderr
    assert (printed(r)["department"], printed(r)["phone"]) == ("support", "+442079460958")


def test_missing_option_or_password_without_a_terminal_is_an_error(cli):
    cli.login("manager")
    before = employees(cli)
    r = cli("employee", "create", "--name", "Nina", "--email", "nina@epic.test")
    assert r.exit_code == 1 and "--department" in r.stderr
    r = cli("employee", "create", "--name", "Nina", "--email", "nina@epic.test", "--department", "sales")
    assert r.exit_code == 1 and "--password-stdin" in r.stderr
    assert employees(cli) == before


@pytest.mark.parametrize("who", ["sales", "support"])
def test_only_management_creates_employees(cli, who):
    cli.login(who)
    before = employees(cli)
    r = create(cli)
    assert r.exit_code == 3
    assert "employee:create" in r.stderr
    assert employees(cli) == before


@pytest.mark.parametrize(
    "option, value, field",
    [
        ("--email", "not-an-email", "--email"),
        ("--phone", "12", "--phone"),
        ("--department", "marketing", "--department"),
        ("--name", " ", "--name"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(cli, option, value, field):
    cli.login("manager")
    before = employees(cli)
    options = {"--name": "Nina New", "--email": "nina@epic.test", "--department": "sales"}
    options[option] = value
    r = cli(
        "employee",
        "create",
        *[x for kv in options.items() for x in kv],
        "--password-stdin",
        input=NEW_PASSWORD + "\n",
    )
    assert r.exit_code == 1, r.stderr
    assert r.stderr.startswith(f"error: {field}:")
    assert employees(cli) == before


def test_a_short_password_is_refused(cli):
    cli.login("manager")
    before = employees(cli)
    r = create(cli, password="short")
    assert r.exit_code == 1 and "password: at least 8 characters" in r.stderr
    assert employees(cli) == before


def test_a_duplicate_email_is_a_conflict_whatever_its_case(cli):
    cli.login("manager")
    before = employees(cli)
    r = create(cli, email="SAM@Epic.Test")
    assert r.exit_code == 5
    assert "email: an employee with this email already exists" in r.stderr
    assert employees(cli) == before


# -- update -------------------------------------------------------------------------
def test_management_updates_an_employee(cli, events):
    cli.login("manager")
    sam = cli.world.ids["sales"]
    updated = cli.json(
        "employee",
        "update",
        sam,
        "--name",
        "Samuel Sales",
        "--phone",
        "+44 20 7946 0958",
        "--email",
        "samuel@epic.test",
    )
    assert (updated["full_name"], updated["phone"], updated["email"]) == (
        "Samuel Sales",
        "+442079460958",
        "samuel@epic.test",
    )
    assert events == [("employee updated", {"employee_id": sam, "fields": ["full_name", "email", "phone"]})]
    cleared = cli.json("employee", "update", sam, "--phone", "")
    assert cleared["phone"] is None and cleared["full_name"] == "Samuel Sales"


def test_moving_an_employee_changes_their_rights_at_their_next_command(cli, desk):
    desk("support").login("support")
    desk("manager").login("manager")
    # Suzy runs an event: hand it over first (a contact keeps their department).
    cli.json("event", "assign-support", cli.world.ids["event"], cli.world.ids["support2"])
    moved = cli.json("employee", "update", cli.world.ids["support"], "--department", "sales")
    assert moved["department"] == "sales"
    desk("support")
    created = cli.json("client", "create", "--name", "Ada", "--email", "ada@x.io")
    assert created["sales_contact_id"] == cli.world.ids["support"]


def test_a_password_reset_from_stdin(cli, events):
    cli.login("manager")
    sam = cli.world.ids["sales"]
    r = cli(
        "employee",
        "update",
        sam,
        "--reset-password",
        "--password-stdin",
        "--format",
        "json",
        input=NEW_PASSWORD + "\n",
    )
    assert r.exit_code == 0, r.stderr
    assert "password" not in r.stdout
    assert events == [("employee updated", {"employee_id": sam, "fields": ["password"]})]
    assert not can_log_in(cli, "sam@epic.test", PASSWORD)
    assert can_log_in(cli, "sam@epic.test", NEW_PASSWORD)


def test_a_password_reset_asks_twice_on_a_terminal(cli):
    cli.login("manager")
    cli.as_terminal()
    r = cli(
        "employee",
        "update",
        cli.world.ids["sales"],
        "--reset-password",
        "--format",
        "json",
        input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n",
    )
    assert printed(r)["id"] == cli.world.ids["sales"]
    assert can_log_in(cli, "sam@epic.test", NEW_PASSWORD)


def test_password_stdin_is_only_for_a_reset(cli):
    cli.login("manager")
    r = cli("employee", "update", cli.world.ids["sales"], "--password-stdin", input="x\n")
    assert r.exit_code == 1 and "--reset-password" in r.stderr


@pytest.mark.parametrize("who", ["sales", "support"])
def test_only_management_updates_employees(cli, who):
    cli.login(who)
    target = cli.world.ids["sales2"]
    r = cli("employee", "update", target, "--name", "Hacked")
    assert r.exit_code == 3 and "employee:update" in r.stderr
    r = cli("employee", "update", target, "--reset-password", "--password-stdin", input=NEW_PASSWORD + "\n")
    assert r.exit_code == 3 and "employee:update" in r.stderr
    assert admin_one(cli.world, "select full_name from epic_events.employee where id = %s", (target,)) == (
        "Sara Sales",
    )
    assert can_log_in(cli, "sara@epic.test", PASSWORD)


def test_update_validation_changes_nothing(cli):
    cli.login("manager")
    sam = cli.world.ids["sales"]
    for option, value, code, message in (
        ("--email", "nope", 1, "email: not a valid email address"),
        ("--phone", "12", 1, "phone: not a valid phone number"),
        ("--department", "marketing", 1, "department: must be one of"),
        ("--email", "MAX@epic.test", 5, "email: an employee with this email already exists"),
    ):
        r = cli("employee", "update", sam, option, value)
        assert r.exit_code == code, (option, r.stderr)
        assert message in r.stderr
    assert admin_one(
        cli.world, "select email, phone, department from epic_events.employee where id = %s", (sam,)
    ) == ("sam@epic.test", None, "sales")


def test_a_stale_update_is_a_conflict_and_changes_nothing(cli):
    cli.login("manager")
    sam = cli.world.ids["sales"]
    seen = cli.json("employee", "view", sam)["updated_at"]
    cli.json("employee", "update", sam, "--name", "First Writer")
    for extra in (("--name", "Second Writer"), ("--reset-password", "--password-stdin")):
        r = cli("employee", "update", sam, *extra, "--if-updated-at", seen, input=NEW_PASSWORD + "\n")
        assert r.exit_code == 5 and "changed by someone else" in r.stderr
    assert admin_one(cli.world, "select full_name from epic_events.employee where id = %s", (sam,)) == (
        "First Writer",
    )
    assert can_log_in(cli, "sam@epic.test", PASSWORD)


def test_update_asks_each_field_with_its_current_value_on_a_terminal(cli):
    cli.login("manager")
    cli.as_terminal()
    r = cli(
        "employee",
        "update",
        cli.world.ids["sales"],
        "--format",
        "json",
        input="\nsamuel@epic.test\n0611223344\n\n",
    )
    assert "[Sam Sales]" in r.stderr and "[sales]" in r.stderr  # prompts go to stderr
    assert (printed(r)["full_name"], printed(r)["email"], printed(r)["phone"]) == (
        "Sam Sales",
        "samuel@epic.test",
        "+33611223344",
    )


def test_nothing_to_update_without_a_terminal(cli):
    cli.login("manager")
    r = cli("employee", "update", cli.world.ids["sales"])
    assert r.exit_code == 1 and "nothing to update" in r.stderr


# -- deactivate / reactivate --------------------------------------------------------
def test_management_deactivates_and_reactivates_an_employee(cli, events):
    cli.login("manager")
    sara = cli.world.ids["sales2"]
    assert cli.json("employee", "deactivate", sara, "--yes")["is_active"] is False
    r = cli("employee", "deactivate", sara)
    assert r.exit_code == 0 and "already deactivated; nothing changed" in r.stderr
    assert not can_log_in(cli, "sara@epic.test", PASSWORD)
    cli.login("manager")
    assert cli.json("employee", "reactivate", sara)["is_active"] is True
    assert events == [
        ("employee deactivated", {"employee_id": sara}),
        ("employee reactivated", {"employee_id": sara}),
    ]
    assert can_log_in(cli, "sara@epic.test", PASSWORD)


def test_a_deactivated_employee_is_refused_at_once_though_logged_in(cli, desk):
    desk("sales").login("sales")
    assert cli("employee", "list").exit_code == 0
    desk("manager").login("manager")
    cli.json("employee", "deactivate", cli.world.ids["sales"], "--yes")
    desk("sales")  # Sam's access token has not expired
    r = cli("client", "list")
    assert r.exit_code == 2
    assert "run `epic-events login`" in r.stderr


@pytest.mark.parametrize("who", ["sales", "support"])
def test_only_management_deactivates_and_reactivates(cli, who):
    with cli.world.db.admin() as c:
        c.execute(
            "update epic_events.employee set is_active = false where id = %s", (cli.world.ids["support2"],)
        )
    cli.login(who)
    r = cli("employee", "deactivate", cli.world.ids["sales2"], "--yes")
    assert r.exit_code == 3 and "employee:update" in r.stderr
    r = cli("employee", "deactivate", cli.world.ids["sales2"], "--reassign-to", cli.world.ids["sales"])
    assert r.exit_code == 3 and "employee:update" in r.stderr
    r = cli("employee", "reactivate", cli.world.ids["support2"])
    assert r.exit_code == 3 and "employee:update" in r.stderr
    assert admin_one(
        cli.world,
        "select array_agg(is_active order by id) from epic_events.employee where id in (%s, %s)",
        (cli.world.ids["sales2"], cli.world.ids["support2"]),
    ) == ([True, False],)


def test_the_last_active_manager_cannot_be_deactivated_or_moved(cli):
    cli.login("manager")
    cli.json("employee", "deactivate", cli.world.ids["manager2"])
    mona = cli.world.ids["manager"]
    r = cli("employee", "deactivate", mona)
    assert r.exit_code == 5 and "last active manager" in r.stderr
    r = cli("employee", "update", mona, "--department", "sales")
    assert r.exit_code == 5 and "last active manager" in r.stderr
    assert admin_one(
        cli.world, "select department, is_active from epic_events.employee where id = %s", (mona,)
    ) == ("management", True)


def test_deactivate_of_a_missing_employee_is_not_found(cli):
    cli.login("manager")
    r = cli("employee", "deactivate", "999999")
    assert r.exit_code == 4 and "not found" in r.stderr


# -- delete -------------------------------------------------------------------------
def test_management_deletes_an_employee_nothing_refers_to(cli, events):
    cli.login("manager")
    nina = create(cli).json["id"]
    assert can_log_in(cli, "nina@epic.test", NEW_PASSWORD)  # a session refers to her: it goes too
    cli.login("manager")
    r = cli("employee", "delete", nina, "--yes")
    assert r.exit_code == 0, r.stderr
    assert events[-1] == ("employee deleted", {"employee_id": nina})
    assert admin_one(cli.world, "select count(*) from epic_events.employee where id = %s", (nina,)) == (0,)


def test_deleting_a_referenced_employee_is_refused_and_suggests_deactivation(cli):
    cli.login("manager")
    before = employees(cli)
    for key in ("sales", "support"):  # a client's sales contact; an event's support contact
        r = cli("employee", "delete", cli.world.ids[key], "--yes")
        assert r.exit_code == 5, r.stderr
        assert "still referenced" in r.stderr and "employee deactivate" in r.stderr
    assert employees(cli) == before


def test_delete_needs_yes_without_a_terminal_and_asks_on_one(cli):
    cli.login("manager")
    nina = create(cli).json["id"]
    r = cli("employee", "delete", nina)
    assert r.exit_code == 1 and "--yes" in r.stderr
    cli.as_terminal()
    r = cli("employee", "delete", nina, input="n\n")
    assert r.exit_code != 0
    assert employees(cli) == len(STAFF) + 1
    assert cli("employee", "delete", nina, input="y\n").exit_code == 0
    assert employees(cli) == len(STAFF)


@pytest.mark.parametrize("who", ["sales", "support"])
def test_only_management_deletes_employees(cli, who):
    with cli.world.db.admin() as c:
        lone = c.execute(
            "insert into epic_events.employee (full_name, email, department, password_salt, password_verifier)"
            " values ('Lone', 'lone@epic.test', 'support', '$2b$04$' || repeat('x', 22), sha256('x'))"
            " returning id"
        ).fetchone()[0]
    cli.login(who)
    r = cli("employee", "delete", lone, "--yes")
    assert r.exit_code == 3 and "employee:delete" in r.stderr
    assert admin_one(cli.world, "select count(*) from epic_events.employee where id = %s", (lone,)) == (1,)


def test_a_contact_cannot_be_moved_out_of_their_department(cli):
    cli.login("manager")
    for key, department in (("sales", "support"), ("support", "sales")):
        r = cli("employee", "update", cli.world.ids[key], "--department", department)
        assert r.exit_code == 5, r.stderr
        assert "still a contact" in r.stderr and "reassign them first" in r.stderr
    assert admin_one(
        cli.world, "select department from epic_events.employee where id = %s", (cli.world.ids["sales"],)
    ) == ("sales",)
