"""client import FILE.csv: many clients at once, checked as `client create` checks one.

The file's first line names its columns: `full_name` (or `name`), `email`,
`phone`, `company` (or `company_name`), and `sales_contact` (an employee id or
email; for sales, empty or their own; management names a sales employee on
every row). Each row is parsed and normalised
as `client create` does (validate.py), then checked against the database's
state (emails already taken, whatever their case; sales contacts that exist),
before anything is written. Then, in ONE transaction: the companies named that
do not exist yet, and the clients, in batches of one INSERT … SELECT FROM
unnest(…) each (sql/queries/client.sql, import-clients): COPY FROM is refused
on a table with row-level security, and INSERT lets every rule of the database
apply to every row (RLS: a sales employee imports their own clients only).

All or nothing by default: one bad row and nothing is written (exit 1), every
bad row reported with its line. --skip-invalid writes the good rows and reports
the others; a row the database itself refuses is found again by a savepoint
per row of its batch, and reported with the database's reason. --dry-run does
all of it, the inserts included, and rolls back.
"""

from __future__ import annotations

import sys

import click

from .. import errors, validate
from .options import optional, output_option

BATCH = 5000
#: A request's identity lasts 5 minutes of its transaction (0015): a batch started
#: later would be nobody's, refused row by row. Stop before, and roll back.
DEADLINE_S = 280
COLUMNS = {
    "full_name": "full_name",
    "name": "full_name",
    "email": "email",
    "phone": "phone",
    "company": "company",
    "company_name": "company",
    "sales_contact": "sales_contact",
    "sales_contact_id": "sales_contact",
    "sales_contact_email": "sales_contact",
}
RULE = "importing clients needs client:create, or client:create:own for clients of your own (sales)"


class _DryRun(Exception):
    """Raised at the end of a dry run so that the transaction rolls back."""

    def __init__(self, report):
        super().__init__("dry run")
        self.report = report


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--dry-run", is_flag=True, help="Check every row, write nothing.")
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Write the valid rows and report the others (default: all or nothing).",
)
@output_option
@click.pass_obj
def import_(app, file, dry_run, skip_invalid, fmt):
    """Import clients from a CSV file (a header line, then one client a line).

    Columns: full_name (or name), email, phone, company (created if new), and
    sales_contact (an active sales employee's id or email: management names
    one on every row; sales leave it empty or name themselves: they import
    clients of their own). Every row is checked before anything is
    written, and the import is all or nothing unless --skip-invalid.

    \b
    Examples:
      epic-events client import clients.csv --dry-run
      epic-events client import clients.csv --skip-invalid --format json > report.json
    """
    rows = _read(file)
    progress = _Progress(len(rows))
    try:
        report = app.run(lambda tx: _import(app, tx, rows, dry_run, skip_invalid, progress), rule=RULE)
    except _DryRun as done:
        report = done.report
    finally:
        progress.stop()
    try:
        _emit(app, report, fmt)
    except KeyboardInterrupt:
        if report["created"] and not report["dry_run"]:
            # Committed before the report began: say so, or a second run refuses every row.
            click.echo(
                f"interrupted while writing the report: the import was committed "
                f"({len(report['created'])} client(s) created)",
                err=True,
            )
        raise
    if report["skipped"] and not skip_invalid:
        raise errors.InvalidInput(
            f"{len(report['skipped'])} invalid row(s) of {len(rows)}: nothing was imported "
            "(fix them, or pass --skip-invalid to import the others)"
        )


def _read(file: str) -> list[tuple[int, dict]]:
    """(line, {column: text}) for each record; the header's columns checked."""
    import csv

    try:
        stream = (
            open(file, encoding="utf-8-sig", newline="")
            if file != "-"
            else open(sys.stdin.fileno(), encoding="utf-8-sig", newline="", closefd=False)
        )
    except OSError as exc:
        raise errors.InvalidInput(f"FILE: cannot read {file}: {exc.strerror}") from None
    rows = []
    with stream:
        start = 1
        try:
            # strict: a quote never closed is an error, not the rest of the file in one cell.
            reader = csv.reader(stream, strict=True)
            header = next(reader, None)
            if header is None:
                raise errors.InvalidInput("FILE: empty (a header line is needed: full_name,email,…)")
            keys = [COLUMNS.get(h.strip().lower()) for h in header]
            unknown = [h for h, k in zip(header, keys, strict=True) if k is None]
            if unknown:
                raise errors.InvalidInput(
                    f"FILE: unknown column(s) {', '.join(map(repr, unknown))}; expected "
                    "full_name, email, phone, company, sales_contact"
                )
            for key in dict.fromkeys(keys):  # in the header's order
                given = [h for h, k in zip(header, keys, strict=True) if k == key]
                if len(given) > 1:
                    raise errors.InvalidInput(
                        f"FILE: columns {', '.join(map(repr, given))} all give {key}: keep one"
                    )
            for needed in ("full_name", "email"):
                if needed not in keys:
                    raise errors.InvalidInput(f"FILE: no {needed} column")
            last = reader.line_num
            start = last + 1  # where the next record begins, if it fails
            for record in reader:
                line, last = last + 1, reader.line_num
                start = last + 1  # where the next record begins, if it fails
                if not any(cell.strip() for cell in record):
                    continue  # blank lines
                if len(record) != len(keys):
                    rows.append((line, {"_error": f"{len(record)} cell(s), the header has {len(keys)}"}))
                    continue
                rows.append((line, dict(zip(keys, record, strict=False))))
        except UnicodeDecodeError:
            raise errors.InvalidInput("FILE: not UTF-8 text") from None
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                raise errors.InvalidInput(
                    f'FILE: line {start}: a quoted cell is never closed (a " missing?)'
                ) from None
            raise errors.InvalidInput(f"FILE: line {reader.line_num}: {exc}") from None
    return rows


def _parse(row: dict) -> dict:
    """One row as `client create` reads its options (the same parsers)."""
    if "_error" in row:
        raise errors.InvalidInput(row["_error"])
    company = row.get("company", "")
    return {
        "full_name": validate.text("full_name", row["full_name"]),
        "email": validate.email("email", row["email"]),
        "phone": optional(validate.phone)("phone", row.get("phone", "")),
        "company": optional(validate.text)("company", company),
        "sales_contact": row.get("sales_contact", "").strip() or None,
    }


def _import(app, tx, rows, dry_run, skip_invalid, progress) -> dict:
    import time

    started = time.monotonic()
    me, department = app.claims.employee_id, app.claims.department
    if not tx.run("client.may_import_clients"):
        raise errors.PermissionDenied(f"permission denied: {RULE}")
    skipped: list[dict] = []
    good: list[tuple[int, dict]] = []
    for line, row in rows:
        try:
            good.append((line, _parse(row)))
        except errors.AppError as exc:
            skipped.append({"line": line, "reason": exc.message})
        progress.checked()
    good = _check_against_database(tx, good, skipped, me, department)
    if skipped and not skip_invalid:
        return _report([], skipped, dry_run)  # nothing written
    good = _with_companies(tx, good, skipped)
    created = []
    for start in range(0, len(good), BATCH):
        if time.monotonic() - started > DEADLINE_S:
            raise errors.InvalidInput(
                f"the import of {len(rows)} rows takes longer than the 5 minutes a request "
                "lasts: nothing was written; split the file"
            )
        batch = good[start : start + BATCH]
        created += _insert(tx, batch, skipped, skip_invalid)
        progress.written(len(batch))
    if skipped and not skip_invalid:
        raise _Refused(_report([], skipped, dry_run))
    report = _report(created, skipped, dry_run)
    if dry_run:
        raise _DryRun(report)
    return report


class _Refused(_DryRun):
    """The database refused rows of an all-or-nothing import: roll back, report them."""


def _check_against_database(tx, good, skipped, me, department):
    """Duplicate emails (in the file, or a client's already, whatever the case) and
    sales contacts that name nobody: known before anything is written."""
    staff = tx.run("client.import_staff")
    by_id = {s["id"]: s for s in staff}
    by_email = {s["email"].lower(): s for s in staff}  # both sides lowered by Python
    # Each email's key as the unique index sees it (lower(), the database's).
    key_of: dict[str, str] = {}
    taken: dict[str, int] = {}
    for e in tx.run("client.existing_client_emails", {"emails": [r["email"] for _, r in good]}):
        key_of[e["email"]] = e["key"]
        if e["id"] is not None:
            taken[e["key"]] = e["id"]
    seen: dict[str, int] = {}
    kept = []
    for line, r in good:
        key = r["key"] = key_of[r["email"]]
        reason = None
        if key in taken:
            reason = f"email: client {taken[key]} already has this email (whatever its case)"
        elif key in seen:
            reason = f"email: the same as line {seen[key]} (whatever its case)"
        else:
            seen[key] = line
            reason = _resolve_contact(r, by_id, by_email, me, department)
        if reason:
            skipped.append({"line": line, "reason": reason})
        else:
            kept.append((line, r))
    return kept


def _resolve_contact(r: dict, by_id, by_email, me, department) -> str | None:
    named = r.pop("sales_contact")
    if named is None:
        if department == "management":
            # Empty is the importer, who is no sales employee: the database would refuse it.
            return "sales_contact: empty (you), and clients belong to a sales employee: name one"
        r["sales_contact_id"] = None
        return None
    who = by_id.get(int(named)) if named.isascii() and named.isdigit() else by_email.get(named.lower())
    if who is None:
        return f"sales_contact: no employee {named}"
    if who["department"] != "sales" or not who["is_active"]:
        return f"sales_contact: {named} is not an active sales employee"
    if department != "management" and who["id"] != me:
        # The database refuses it too (RLS, client:create:own); said per line here.
        return "sales_contact: sales import clients of their own only (client:create:own)"
    r["sales_contact_id"] = who["id"]
    return None


def _with_companies(tx, good, skipped):
    """Company ids for the names of the file, creating the new ones (one statement;
    if the database refuses it, one name at a time, to say which)."""
    import psycopg

    given = list(dict.fromkeys(r["company"] for _, r in good if r["company"]))
    key_of: dict[str, str] = {}  # each name as written -> its key, the database's lower()
    names: dict[str, str] = {}  # key -> the first name written for it
    ids: dict[str, int] = {}
    for c in tx.run("company.find_companies_by_names", {"names": given}) if given else []:
        key_of[c["name"]] = c["key"]
        if c["id"] is not None:
            ids[c["key"]] = c["id"]
    for name in given:  # in the file's order: a new company is spelt as its first line has it
        names.setdefault(key_of[name], name)
    new = [name for key, name in names.items() if key not in ids]
    refused: dict[str, str] = {}
    if new:
        try:
            with tx.conn.transaction():
                ids.update({c["key"]: c["id"] for c in tx.run("company.create_companies", {"names": new})})
        except psycopg.Error:
            for name in new:
                try:
                    with tx.conn.transaction():
                        ids[key_of[name]] = tx.run("company.create_company", {"name": name})
                except psycopg.Error as exc:
                    refused[key_of[name]] = _reason(exc, "company")
    kept = []
    for line, r in good:
        key = key_of[r["company"]] if r["company"] else None
        if key in refused:
            skipped.append({"line": line, "reason": refused[key]})
            continue
        r["company_id"] = ids.get(key) if key else None
        kept.append((line, r))
    return kept


def _insert(tx, batch, skipped, skip_invalid) -> list[dict]:
    """One statement for the batch; if the database refuses it, a savepoint per row
    finds the rows it refuses and why."""
    import psycopg

    try:
        with tx.conn.transaction():
            return _pair(batch, tx.run("client.import_clients", _arrays(batch)))
    except psycopg.Error as exc:
        if isinstance(exc, psycopg.errors.InsufficientPrivilege) and "row-level security" not in str(exc):
            raise  # no right to insert clients at all: the whole import is refused
        if isinstance(exc, psycopg.OperationalError):
            raise
    created = []
    for line, r in batch:
        try:
            with tx.conn.transaction():
                created += _pair([(line, r)], tx.run("client.import_clients", _arrays([(line, r)])))
        except psycopg.Error as exc:
            if isinstance(exc, psycopg.OperationalError):
                raise
            skipped.append({"line": line, "reason": _reason(exc, None)})
    return created


def _reason(exc, prefix: str | None) -> str:
    message = errors.from_database(exc).message
    if "row-level security" in message:
        message = f"permission denied: {RULE}"
    if prefix:  # the company rule's "--name: …" is the company cell's
        message = f"{prefix}:" + message.partition(":")[2] if ":" in message else message
    return message.replace("--name:", "full_name:").replace("--email:", "email:")


def _arrays(batch) -> dict:
    return {
        "full_names": [r["full_name"] for _, r in batch],
        "emails": [r["email"] for _, r in batch],
        "phones": [r["phone"] for _, r in batch],
        "company_ids": [r["company_id"] for _, r in batch],
        "sales_contact_ids": [r["sales_contact_id"] for _, r in batch],
    }


def _pair(batch, returned) -> list[dict]:
    ids = {r["email"]: r["id"] for r in returned}  # keyed by lower(email), the database's
    return [{"line": line, "id": ids[r["key"]], "email": r["email"]} for line, r in batch]


def _report(created, skipped, dry_run) -> dict:
    return {"dry_run": dry_run, "created": created, "skipped": sorted(skipped, key=lambda s: s["line"])}


def _emit(app, report: dict, fmt: str | None) -> None:
    from ..render import Column, emit

    fmt = app.format(fmt)
    verb = "would be created" if report["dry_run"] else "created"
    summary = f"{len(report['created'])} client(s) {verb}, {len(report['skipped'])} row(s) skipped"
    if fmt == "json":
        import json

        sys.stdout.write(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    elif fmt == "csv":
        rows = [
            {"line": c["line"], "status": verb, "id": c["id"], "reason": ""} for c in report["created"]
        ] + [
            {"line": s["line"], "status": "skipped", "id": None, "reason": s["reason"]}
            for s in report["skipped"]
        ]
        emit(
            sorted(rows, key=lambda r: r["line"]),
            "csv",
            [
                Column("line", "Line"),
                Column("status", "Status"),
                Column("id", "Id"),
                Column("reason", "Reason"),
            ],
        )
    elif report["skipped"]:
        emit(
            report["skipped"],
            "table",
            [Column("line", "Line", "number"), Column("reason", "Reason")],
            title="Skipped rows",
        )
    click.echo(summary + (" (dry run: nothing written)" if report["dry_run"] else "") + ".", err=True)


class _Progress:
    """A Rich progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, total: int):
        self.bar = None
        if total and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import Progress

            self.bar = Progress(console=Console(stderr=True), transient=True)
            self.bar.start()
            self.check = self.bar.add_task("checking", total=total)
            self.write = self.bar.add_task("writing", total=total)

    def checked(self) -> None:
        if self.bar is not None:
            self.bar.advance(self.check)

    def written(self, n: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.write, n)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
