-- The session is checked in full once per request, not once per table read.
-- depends: 0013_session_checks_plan_once
--
-- Why: every policy calls current_employee_id() in an InitPlan of its own, so
-- a query reading three tables (client list: client, company, employee) made
-- the full check (session x employee x department) three times. On the CLI's
-- queries of 0.15-0.3 ms that was a third of the server time
-- (tests/perf/bench.py, "RLS against no RLS").
--
-- How: the CLI's first statement (session.begin_request) calls
-- check_request(). It makes the full check and, when the session is live,
-- records in three registers what it found: the employee, the role in use, and
-- a deadline one second later. Until that deadline current_employee_id()
-- answers from the registers when the claims name that same employee and role;
-- any other claim, or any call after the deadline, gets the full check as
-- before (live_session_employee(), the body of 0013).
--
-- Why the registers cannot be forged: they are sequences. setval() sets what
-- currval() answers in this database session only, and only their owner may
-- call either: no department role and not the authenticator (no grant; see
-- tests/db/test_request_check.py). The claims stay the caller's to set, but a
-- claim the registers do not hold is checked in full. The session-level
-- setting epic.request_checked only says "the registers were set in this
-- session" (currval() raises before the first setval()); forging it gains
-- nothing: it makes currval() raise, or compares with what a real check found.
--
-- What changes for revocation: a logout, a deactivation or a department move
-- reaches a connection that passed check_request() at most one second later
-- (before: at its next statement). The CLI opens one connection per command and
-- checks at its start, so the next command is refused at once, as before. A
-- failed check clears the registers' deadline.
--
-- The registers are UNLOGGED: setval() writes no WAL, and a crash that empties
-- them only means the next statement is checked in full. The second is read
-- from clock_timestamp(): a server clock set back lengthens it by as much. In a read-only
-- transaction (a hot standby) check_request() cannot setval(), so it only
-- checks: every statement is then checked in full.

-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
set local role epic_owner;

create unlogged sequence epic_events.checked_employee minvalue 0;
create unlogged sequence epic_events.checked_role minvalue 0;
create unlogged sequence epic_events.checked_until minvalue 0;
comment on sequence epic_events.checked_employee is
    'Register (currval, this session only): the employee check_request() found live.';
comment on sequence epic_events.checked_role is
    'Register (currval, this session only): the OID of the role that check was made in.';
comment on sequence epic_events.checked_until is
    'Register (currval, this session only): until when (Unix time, microseconds) that check holds; 0 = not at all.';
-- NOTE: sequences grant nothing to PUBLIC; only epic_owner (the functions
-- below) may setval() or currval() them.

-- The full check: the body of 0013's current_employee_id(), unchanged.
create function epic_events.live_session_employee() returns bigint
    language plpgsql stable security definer
    set search_path = pg_catalog, epic_events
    set plan_cache_mode = force_generic_plan
as $$
declare
    claimed_session  text := current_setting('epic.session_id', true);
    claimed_employee text := current_setting('epic.employee_id', true);
    live_employee    bigint;
begin
    -- Malformed claims are "nobody", not an error: casts would raise otherwise.
    if claimed_session is null
       or claimed_session !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
       or claimed_employee is null
       or claimed_employee !~ '^[0-9]{1,18}$' then
        return null;
    end if;
    -- current_setting('role') is the role the caller SET; inside this
    -- SECURITY DEFINER function current_user is the owner, so it cannot serve.
    -- At most one row (session.id is the key); none leaves live_employee null.
    select s.employee_id
      into live_employee
      from epic_events.session s
      join epic_events.employee e on e.id = s.employee_id
      join epic_events.department d on d.name = e.department
     where s.id = claimed_session::uuid
       and s.employee_id = claimed_employee::bigint
       and s.revoked_at is null
       and s.expires_at > now()
       and e.is_active
       and d.role_name = current_setting('role');
    return live_employee;
end
$$;
comment on function epic_events.live_session_employee() is
    'The full session check: the claimed employee if their session is live and the role matches their department; else NULL.';
-- NOTE: no grant: only the owner's functions below call it.

create function epic_events.check_request() returns bigint
    language plpgsql volatile security definer
    set search_path = pg_catalog, epic_events
as $$
declare
    live_employee bigint := epic_events.live_session_employee();
begin
    if current_setting('transaction_read_only') = 'on' then
        return live_employee;  -- setval() is refused; every statement is checked in full
    end if;
    if live_employee is null then
        perform setval('epic_events.checked_until'::regclass, 0);
        return null;
    end if;
    perform setval('epic_events.checked_employee'::regclass, live_employee),
            setval('epic_events.checked_role'::regclass,
                   to_regrole(current_setting('role'))::oid::bigint),
            setval('epic_events.checked_until'::regclass,
                   (extract(epoch from clock_timestamp()) * 1000000)::bigint + 1000000);
    -- Session-level (not local): a SET clause would undo a local setting at
    -- the function's exit.
    perform set_config('epic.request_checked', 'on', false);
    return live_employee;
end
$$;
comment on function epic_events.check_request() is
    'The CLI''s first statement: check the session in full and let current_employee_id() trust that check for one second.';

create or replace function epic_events.current_employee_id() returns bigint
    language plpgsql stable security definer
    set search_path = pg_catalog, epic_events
as $$
begin
    -- Nested IFs: currval() raises until check_request() has set the registers
    -- in this session, so it is only reached once it has.
    if current_setting('epic.request_checked', true) = 'on' then
        if currval('epic_events.checked_employee'::regclass)::text
               = current_setting('epic.employee_id', true)
           and currval('epic_events.checked_role'::regclass)
               = to_regrole(current_setting('role'))::oid::bigint
           and currval('epic_events.checked_until'::regclass)
               > (extract(epoch from clock_timestamp()) * 1000000)::bigint then
            return currval('epic_events.checked_employee'::regclass);
        end if;
    end if;
    return epic_events.live_session_employee();
end
$$;

grant execute on function epic_events.check_request()
    to epic_authenticator, epic_management, epic_sales, epic_support;
-- EXECUTE is checked before begin_request's set_config('role', ...) runs, i.e.
-- as the authenticator (as for current_employee_id(), 0002).
