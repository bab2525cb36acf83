"""SPEC "Default rights": management widens or narrows a department's rights at
run time (`role grant/revoke`), effective at once, audited; through the CLI."""

import psycopg
import pytest

from epic_events import errors
from tests.cli.conftest import admin_one

SALES_DEFAULTS = [
    "client:create:own",
    "client:update:own",
    "client_note:create:own",
    "company:create",
    "contract:sign:own",
    "contract:update:own",
    "event:create:own_client",
    "payment:create:own",
]


def held(cli, department) -> list[str]:
    return admin_one(
        cli.world,
        "select coalesce(array_agg(permission_code order by permission_code),"
        " '{}') from epic_events.department_permission where department = %s",
        (department,),
    )[0]


# -- reading ------------------------------------------------------------------------
@pytest.mark.parametrize("who", ["manager", "sales", "support"])
def test_everyone_lists_each_department_and_its_permissions(cli, who):
    cli.login(who)
    listed = cli.json("role", "list")
    assert [r["department"] for r in listed] == ["management", "sales", "support"]
    assert list(listed[0]) == ["department", "role_name", "permissions"]
    by_department = {r["department"]: r["permissions"] for r in listed}
    assert by_department["sales"] == SALES_DEFAULTS
    assert by_department["support"] == ["event:update:assigned"]
    assert "employee:create" in by_department["management"]


def test_list_csv_separates_codes_with_spaces(cli):
    cli.login("support")
    lines = cli("role", "list", "--format", "csv").stdout.splitlines()
    assert lines[0] == "department,role_name,permissions"
    assert lines[2] == "sales,epic_sales," + " ".join(SALES_DEFAULTS)


@pytest.mark.parametrize("who", ["manager", "sales", "support"])
def test_everyone_views_the_whole_catalog_held_or_not_for_a_department(cli, who):
    cli.login(who)
    shown = cli.json("role", "view", "Support")
    assert shown["department"] == "support"
    catalog = admin_one(cli.world, "select count(*) from epic_events.permission")[0]
    assert len(shown["permissions"]) == catalog
    assert list(shown["permissions"][0]) == [
        "code",
        "description",
        "held",
        "granted_at",
        "within_ceiling",
        "needs",
    ]
    by_code = {p["code"]: p for p in shown["permissions"]}
    assert by_code["event:update:assigned"]["held"] is True
    assert by_code["event:update:assigned"]["granted_at"] is not None
    assert by_code["event:update"] == {
        "code": "event:update",
        "held": False,
        "granted_at": None,
        "description": "update any event and assign its support contact",
        "within_ceiling": False,
        "needs": "UPDATE (support_contact_id) on event",
    }
    assert by_code["event:update:assigned"]["within_ceiling"] is True


def test_view_csv_is_one_row_per_code(cli):
    cli.login("sales")
    lines = cli("role", "view", "sales", "--format", "csv").stdout.splitlines()
    assert lines[0] == "department,code,description,held,granted_at,within_ceiling,needs"
    assert "sales,client:update:own,update the clients one is the sales contact of,true," in "\n".join(lines)


def test_view_of_an_unknown_department_names_the_valid_ones(cli):
    cli.login("sales")
    r = cli("role", "view", "marketing")
    assert r.exit_code == 1
    assert "department: unknown 'marketing'; one of management, sales, support" in r.stderr


# -- grant / revoke: management only ------------------------------------------------
@pytest.mark.parametrize("who", ["sales", "support"])
def test_only_management_grants_and_revokes(cli, who):
    cli.login(who)
    r = cli("role", "grant", who, "client:delete")
    assert r.exit_code == 3 and "management's" in r.stderr
    r = cli("role", "revoke", "sales", "client:update:own")
    assert r.exit_code == 3 and "management's" in r.stderr
    assert held(cli, who) == (SALES_DEFAULTS if who == "sales" else ["event:update:assigned"])
    assert held(cli, "sales") == SALES_DEFAULTS
    assert admin_one(
        cli.world, "select count(*) from epic_events.audit_log where table_name = 'department_permission'"
    ) == (0,)


def test_a_revoke_then_a_grant_take_effect_on_the_next_command_without_a_new_login(cli, desk):
    client = cli.world.ids["client"]
    desk("sales").login("sales")
    assert cli("client", "update", client, "--name", "Before").exit_code == 0
    desk("manager").login("manager")
    r = cli("role", "revoke", "sales", "client:update:own")
    assert r.exit_code == 0 and "Revoked client:update:own from sales" in r.stderr

    desk("sales")  # same login, same tokens
    r = cli("client", "update", client, "--name", "During")
    assert r.exit_code == 3 and "client:update:own" in r.stderr
    assert admin_one(cli.world, "select full_name from epic_events.client where id = %s", (client,)) == (
        "Before",
    )

    desk("manager")
    r = cli("role", "grant", "sales", "client:update:own")
    assert r.exit_code == 0 and "Granted client:update:own to sales" in r.stderr
    desk("sales")
    assert cli.json("client", "update", client, "--name", "After")["full_name"] == "After"

    desk("manager")
    trail = admin_one(
        cli.world,
        """
        select array_agg(action || ' ' || row_id || ' by ' || employee_id order by id)
          from epic_events.audit_log where table_name = 'department_permission'""",
    )[0]
    mona = cli.world.ids["manager"]
    assert trail == [f"delete sales/client:update:own by {mona}", f"insert sales/client:update:own by {mona}"]


def test_a_grant_beyond_the_sql_grants_is_refused_with_the_reason(cli):
    cli.login("manager")
    # Support holds no UPDATE of event.support_contact_id: event:update could not take effect.
    r = cli("role", "grant", "support", "event:update")
    assert r.exit_code == 1
    assert r.stderr == (
        "error: permission event:update: beyond the SQL grants of department "
        "support (it needs UPDATE (support_contact_id) on event, which only a "
        "migration grants): nothing changed\n"
    )
    assert "event:update" not in held(cli, "support")
    r = cli("role", "grant", "support", "company:create")
    assert r.exit_code == 1 and "INSERT on company" in r.stderr
    # Within the ceiling a grant goes through: sales may insert any event.
    assert cli("role", "grant", "sales", "event:create").exit_code == 0
    assert "event:create" in held(cli, "sales")


def test_role_view_shows_which_codes_the_grants_allow(cli):
    cli.login("support")
    r = cli("role", "view", "support", "--format", "table")
    assert r.exit_code == 0
    line = next(x for x in r.stdout.splitlines() if "│ event:update " in x)
    assert "│ no: needs" in line


def test_granting_a_code_already_held_changes_nothing(cli):
    cli.login("manager")
    r = cli("role", "grant", "sales", "client:update:own")
    assert r.exit_code == 5 and "sales already holds client:update:own: nothing changed" in r.stderr
    assert held(cli, "sales") == SALES_DEFAULTS
    assert admin_one(
        cli.world, "select count(*) from epic_events.audit_log where table_name = 'department_permission'"
    ) == (0,)


def test_revoking_a_code_not_held_changes_nothing(cli):
    cli.login("manager")
    r = cli("role", "revoke", "sales", "client:delete")
    assert r.exit_code == 5 and "sales does not hold client:delete: nothing changed" in r.stderr
    assert held(cli, "sales") == SALES_DEFAULTS


@pytest.mark.parametrize("command", ["grant", "revoke"])
def test_an_unknown_code_or_department_is_refused_naming_the_valid_ones(cli, command):
    cli.login("manager")
    r = cli("role", command, "sales", "client:update:mine")
    assert r.exit_code == 1
    assert "permission: unknown code 'client:update:mine'; did you mean client:update:own?" in r.stderr
    assert "valid codes: client:create, client:create:own," in r.stderr
    r = cli("role", command, "marketing", "client:update:own")
    assert r.exit_code == 1
    assert "department: unknown 'marketing'; one of management, sales, support" in r.stderr
    assert held(cli, "sales") == SALES_DEFAULTS


@pytest.mark.parametrize(
    "department, code, field",
    [
        ("marketing", "client:delete", "department"),
        ("sales", "client:purge", "permission"),
    ],
)
def test_the_database_refusal_of_an_unknown_code_or_department_reads_as_invalid_input(
    cli, department, code, field
):
    """Should the catalog change between the CLI's check and the insert: the foreign keys."""
    with pytest.raises(psycopg.errors.ForeignKeyViolation) as caught:
        cli.world.as_("manager").run(
            "insert into epic_events.department_permission (department, permission_code) values (%s, %s)",
            (department, code),
        )
    error = errors.from_database(caught.value)
    assert isinstance(error, errors.InvalidInput) and error.message.startswith(f"{field}: unknown")
