-- A hint after a failed login: does this database hold any account at all?
-- depends: 0019_client_notes
--
-- A colleague whose embedded database is empty got "unknown email or wrong
-- password" and no clue that nobody exists yet. After a failed login (only
-- then), the CLI asks auth_has_accounts() and, when it is false, says to run
-- `make demo` or `epic-events db bootstrap`.
--
-- What it tells the shared DSN: one bit, whether the employee table is empty.
-- Anyone can learn as much from a bootstrap that succeeds; an empty database
-- has nothing to protect. It names nobody, counts nobody, and reads through
-- the owner's employee_read_by_definer policy (0005), like the login functions.

-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
set local role epic_owner;

create function epic_events.auth_has_accounts() returns boolean
    language sql stable security definer
    set search_path = pg_catalog, epic_events, pg_temp
as $$
    select exists (select from epic_events.employee)
$$;
comment on function epic_events.auth_has_accounts() is
    'True once any employee exists: the CLI''s hint after a failed login on an empty database.';

revoke execute on function epic_events.auth_has_accounts() from public;
grant execute on function epic_events.auth_has_accounts() to epic_authenticator;
