"""Everything that can go wrong, as one line and a documented exit code.

| code | meaning                                                   |
| ---- | --------------------------------------------------------- |
| 0    | success                                                   |
| 1    | invalid input or usage (the message names the field)      |
| 2    | not logged in, session expired or revoked, bad credentials |
| 3    | permission denied (the message names the rule)            |
| 4    | not found                                                 |
| 5    | conflict: concurrent change, duplicate, still referenced  |
| 6    | database unreachable, or not configured                   |
| 70   | internal error (a bug: run again with --debug)            |
| 130  | interrupted (Ctrl-C, or end of input at a prompt)         |

A confirmation answered "no" is exit 1 (`Declined`): nothing was done, and a
script's `&&` must not go on as if it had been.
"""

from __future__ import annotations

INVALID, AUTH, DENIED, NOT_FOUND, CONFLICT, UNREACHABLE, INTERNAL = 1, 2, 3, 4, 5, 6, 70
INTERRUPTED = 130


class AppError(Exception):
    exit_code = INTERNAL

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def line(self) -> str:
        """The one line printed on stderr."""
        return f"error: {self.message}"


class InvalidInput(AppError):
    exit_code = INVALID


class Declined(AppError):
    """A confirmation answered "no": nothing was done."""

    exit_code = INVALID

    def line(self) -> str:
        return f"aborted: {self.message}"


class NotLoggedIn(AppError):
    exit_code = AUTH


class PermissionDenied(AppError):
    exit_code = DENIED


class NotFound(AppError):
    exit_code = NOT_FOUND


class Conflict(AppError):
    exit_code = CONFLICT


class Unreachable(AppError):
    exit_code = UNREACHABLE


_CLEAN = "no spaces at either end, no control characters"

# Constraint name -> (error class, message). Named in the migrations.
CONSTRAINTS: dict[str, tuple[type[AppError], str]] = {
    "employee_email_key": (Conflict, "email: an employee with this email already exists"),
    "employee_full_name_valid": (InvalidInput, "full_name: must be 1-200 characters, no control characters"),
    "employee_email_valid": (InvalidInput, "email: not a valid email address"),
    "employee_phone_valid": (InvalidInput, "phone: not a valid phone number"),
    "employee_contacts_keep_department": (
        Conflict,
        "department: this employee is still a contact of clients, contracts or events; reassign them first",
    ),
    "employee_keep_one_manager": (Conflict, "cannot deactivate, move or delete the last active manager"),
    "employee_bootstrap_once": (
        Conflict,
        "a management account already exists: use `epic-events employee create`",
    ),
    "company_name_key": (Conflict, "name: a company with this name already exists"),
    "company_name_valid": (InvalidInput, "name: must be 1-200 characters, no control characters"),
    "client_full_name_valid": (InvalidInput, "full_name: must be 1-200 characters, no control characters"),
    "client_email_valid": (InvalidInput, "email: not a valid email address"),
    "client_phone_valid": (InvalidInput, "phone: not a valid phone number"),
    "contract_total_amount_not_negative": (InvalidInput, "total_amount: must not be negative"),
    "contract_amount_due_range": (InvalidInput, "amount_due: the amount due must be between 0 and the total"),
    "contract_signature_is_final": (Conflict, "is_signed: a signed contract cannot be unsigned"),
    "payment_reference_valid": (InvalidInput, "reference: must be 1-200 characters, no control characters"),
    "payment_method_valid": (InvalidInput, "method: one of transfer, card, cheque, cash, other"),
    "payment_amount_not_zero": (InvalidInput, "amount: must not be 0"),
    "payment_paid_on_plausible": (InvalidInput, "paid_on: must be in 2000 or later"),
    "client_note_body_valid": (
        InvalidInput,
        "body: 1-10000 characters, no control characters but tab and newline",
    ),
    "client_note_kind_valid": (InvalidInput, "kind: one of call, email, meeting, other"),
    "event_name_valid": (InvalidInput, "name: must be 1-200 characters, no control characters"),
    "event_location_valid": (InvalidInput, "location: must be 1-500 characters"),
    "event_attendees_not_negative": (InvalidInput, "attendees: must not be negative"),
    "event_notes_length": (InvalidInput, "notes: at most 10000 characters"),
    "event_ends_after_start": (InvalidInput, "ends_at: must be after the start"),
    # 0016: text as typed, trimmed (the CLI trims; these speak to other clients),
    # one client per email, nobody removes themself.
    "employee_employee_number_clean": (InvalidInput, "employee_number: " + _CLEAN),
    "employee_full_name_clean": (InvalidInput, "--name: " + _CLEAN),
    "employee_email_clean": (InvalidInput, "--email: " + _CLEAN),
    "company_name_clean": (InvalidInput, "--name: " + _CLEAN),
    "client_full_name_clean": (InvalidInput, "--name: " + _CLEAN),
    "client_email_clean": (InvalidInput, "--email: " + _CLEAN),
    "client_email_key": (
        Conflict,
        "--email: a client with this email already exists (emails are compared ignoring case)",
    ),
    "event_name_clean": (InvalidInput, "--name: " + _CLEAN),
    "event_location_clean": (InvalidInput, "--location: " + _CLEAN),
    "event_notes_clean": (
        InvalidInput,
        "--notes: no spaces or line breaks at either end, "
        "no control characters other than tabs and line breaks",
    ),
    "permission_description_clean": (InvalidInput, "description: " + _CLEAN),
    "employee_not_self": (
        PermissionDenied,
        "you cannot deactivate, delete or move yourself to another department: ask another manager",
    ),
    "department_permission_pkey": (Conflict, "the department already holds this permission"),
    "department_permission_department_fkey": (
        InvalidInput,
        "department: unknown; one of management, sales, support",
    ),
    "department_permission_permission_code_fkey": (
        InvalidInput,
        "permission: unknown code; see `epic-events role view DEPARTMENT` for the catalog",
    ),
}

# Foreign keys refused on DELETE: what still refers, and what to do instead.
STILL_REFERENCED = {
    "employee": "deactivate the employee instead (`employee deactivate`)",
    "company": "move or delete its clients first",
    "client": "delete its contracts first",
    "contract": "delete its events first",
}


def renamed(exc: AppError, fields: dict[str, str]) -> AppError:
    """The same error, its leading "column:" replaced by the option the user typed."""
    field, colon, rest = exc.message.partition(":")
    if not colon or field not in fields:
        return exc
    return type(exc)(fields[field] + colon + rest)


def from_database(exc: Exception) -> AppError:
    """Translate a psycopg error into one clear line (never with parameters or secrets)."""
    import psycopg
    from psycopg import errors as pgerr

    if isinstance(exc, psycopg.OperationalError) and not isinstance(exc, pgerr.QueryCanceled):
        return Unreachable("database unreachable: " + _first_line(str(exc)))
    diag = getattr(exc, "diag", None)
    constraint = diag.constraint_name if diag else None
    table = diag.table_name if diag else None
    column = diag.column_name if diag else None
    primary = _first_line(diag.message_primary if diag and diag.message_primary else str(exc))

    if constraint in CONSTRAINTS:
        cls, message = CONSTRAINTS[constraint]
        return cls(message)
    if isinstance(exc, pgerr.ForeignKeyViolation | pgerr.RestrictViolation):
        if primary.startswith("update or delete on table"):
            import re

            deleted = re.search(r'^update or delete on table "(\w+)"', primary).group(1)
            referrer = re.search(r'on table "(\w+)"$', primary)
            by = f" by {referrer.group(1)} rows" if referrer else ""
            hint = STILL_REFERENCED.get(deleted, "remove what refers to it first")
            return Conflict(f"this {deleted} is still referenced{by}: {hint}")
        field = (constraint or "").removeprefix(f"{table}_").removesuffix("_fkey")
        return NotFound(f"{field or 'reference'}: no such record")
    if isinstance(exc, pgerr.InsufficientPrivilege):
        return PermissionDenied("permission denied: " + primary)
    if isinstance(exc, pgerr.CheckViolation | pgerr.RaiseException):
        return InvalidInput(primary)
    if isinstance(exc, pgerr.NotNullViolation):
        return InvalidInput(f"{column or 'value'}: required")
    if isinstance(exc, pgerr.UniqueViolation):
        return Conflict(f"{column or 'value'}: already exists")
    if isinstance(exc, pgerr.SerializationFailure | pgerr.DeadlockDetected | pgerr.LockNotAvailable):
        return Conflict("conflict: someone else changed this record at the same time; try again")
    if isinstance(exc, pgerr.DataError):
        return InvalidInput("invalid value: " + primary)
    if isinstance(exc, pgerr.QueryCanceled):
        return Unreachable("database did not answer in time")
    return AppError("database error: " + primary)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text
