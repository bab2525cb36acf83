"""company list | view | create | update | delete."""

from __future__ import annotations

import click

from .. import errors, validate
from ..render import Column, emit
from . import options  # options.stdin_is_terminal: tests play a terminal through it
from .options import (
    ID,
    ask,
    complete_ids,
    delete_record,
    emit_list,
    expect_option,
    like_pattern,
    no_row_error,
    output_option,
    paging,
    paging_options,
    parse_expected,
)

LIST = [
    Column("id", "Id", "id"),
    Column("name", "Name"),
    Column("client_count", "Clients", "number"),
    Column("created_at", "Created", "datetime"),
]
# JSON/CSV carry the data model's columns, plus the count of clients.
RECORD = [
    Column("id", "Id", "id"),
    Column("name", "Name"),
    Column("client_count", "Clients", "number"),
    Column("created_at", "Created", "datetime"),
    Column("updated_at", "Updated", "datetime"),
]
RULE_CREATE = "creating a company needs company:create (management, sales)"
RULE_UPDATE = "renaming a company needs company:update (management)"
RULE_DELETE = "deleting a company needs company:delete (management)"


@click.group()
def company():
    """Companies: everyone reads them; management and sales add them; management manages them."""


@company.command("list")
@click.option("--search", metavar="TEXT", help="Part of the name.")
@paging_options(("id", "name", "created_at"))
@output_option
@click.pass_obj
def list_(app, search, limit, offset, page, sort, desc, all_rows, fmt):
    """List companies with their number of clients, a page at a time.

    \b
    Examples:
      epic-events company list --search startup
      epic-events company list --sort name --page 2
      epic-events company list --format csv > companies.csv
    """
    if search is not None:
        search = validate.search("--search", search)
    window = paging(limit, offset, page, all_rows)
    emit_list(
        app,
        "company.list_companies",
        {"search": search, "pattern": like_pattern(search), "sort": sort, "desc": desc, **window},
        window,
        limit,
        fmt,
        "Companies",
        LIST,
        RECORD,
    )


@company.command()
@click.argument("company_id", type=ID, shell_complete=complete_ids("completion.companies"))
@output_option
@click.pass_obj
def view(app, company_id, fmt):
    """Show one company with its clients.

    \b
    Example:
      epic-events company view 3
    """
    row = app.run(lambda tx: tx.run("company.get_company", {"id": company_id}))
    if row is None:
        raise errors.NotFound(f"company {company_id}: not found")
    fmt = app.format(fmt)
    if fmt == "json":
        emit(row, fmt, RECORD + [Column("clients", "")])
        return
    emit(
        row,
        fmt,
        RECORD,
        title=f"Company {row['id']} · {row['name']}",
        extra=_clients_table(row) if fmt == "table" else None,
    )


@company.command()
@click.option("--name", help="Company name (unique, whatever its case).")
@output_option
@click.pass_obj
def create(app, name, fmt):
    """Create a company (management and sales).

    \b
    Example:
      epic-events company create --name "Cool Startup LLC"
    """
    name = ask(name, "name", "--name", validate.text, "Company name")

    def work(tx):
        new_id = tx.run("company.create_company", {"name": name})
        return tx.run("company.get_company", {"id": new_id})

    row = app.run(work, rule=RULE_CREATE, fields={"name": "--name"})
    emit(row, app.format(fmt), RECORD, title=f"Created company {row['id']}")


@company.command()
@click.argument("company_id", type=ID, shell_complete=complete_ids("completion.companies"))
@click.option("--name", help="The new name.")
@expect_option
@output_option
@click.pass_obj
def update(app, company_id, name, if_updated_at, fmt):
    """Rename a company (management).

    Without --name on a terminal, the name is asked with its current value.

    \b
    Example:
      epic-events company update 3 --name "Cool Startup SAS"
    """
    expected = parse_expected(if_updated_at)
    if name is None and options.stdin_is_terminal():
        current = app.run(lambda tx: tx.run("company.get_company", {"id": company_id}))
        if current is None:
            raise errors.NotFound(f"company {company_id}: not found")
        expected = expected or current["updated_at"]
        name = ask(None, "name", "--name", validate.text, "Company name", default=current["name"])
    else:
        name = ask(name, "name", "--name", validate.text, "Company name")

    def work(tx):
        before = tx.run("company.company_state", {"id": company_id})
        if before is None:
            raise errors.NotFound(f"company {company_id}: not found")
        seen = expected if expected is not None else before["updated_at"]
        if (
            tx.run("company.update_company", {"id": company_id, "name": name, "expected_updated_at": seen})
            is None
        ):
            raise no_row_error(
                tx.run("company.company_state", {"id": company_id}),
                f"company {company_id}",
                seen,
                RULE_UPDATE,
            )
        return tx.run("company.get_company", {"id": company_id})

    row = app.run(work, rule=RULE_UPDATE, fields={"name": "--name"})
    emit(row, app.format(fmt), RECORD, title=f"Updated company {row['id']}")


@company.command()
@click.argument("company_id", type=ID, shell_complete=complete_ids("completion.companies"))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def delete(app, company_id, yes):
    """Delete a company no client works for (management).

    \b
    Example:
      epic-events company delete 3 --yes
    """
    delete_record(
        app, "company", "company.delete_company", "company.company_state", company_id, RULE_DELETE, yes
    )


# -- helpers ----------------------------------------------------------------------
def _clients_table(row: dict):
    from ..render import table

    if not row["clients"]:
        return []
    columns = [
        Column("id", "Client", "id"),
        Column("full_name", "Name"),
        Column("email", "Email"),
        Column("sales_contact_name", "Sales contact"),
    ]
    return [table(row["clients"], columns, title="Clients")]
