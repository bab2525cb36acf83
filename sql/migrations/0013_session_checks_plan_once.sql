-- The RLS helpers plan their lookup once per session, and run it cheaper.
-- depends: 0012_contact_checks_take_turns
--
-- Every CLI command is a new connection, and every policy calls
-- current_employee_id() in an InitPlan of its own: a list joining three
-- tables calls it three times, after begin_request's first call. PL/pgSQL
-- plans the lookup inside it with the plan cache, which builds a new custom
-- plan for each of the first five calls of a session (its parameters are the
-- function's variables): that cost 0.1-0.3 ms per call, i.e. most of what RLS
-- added to a command's server time. The lookup is a key lookup whatever the
-- values, so one generic plan, made at the first call (begin_request), serves
-- every later call: plan_cache_mode = force_generic_plan for the function.
-- Reading the row with SELECT INTO instead of returning a scalar subquery also
-- spares an executor layer per call (about a third of a warm call's cost).
-- has_permission() (write policies, contract-state) plans the same way.
--
-- Same checks, same results, same signature, grants and comment: only how
-- the lookup is planned and run changes (tests/perf/bench.py measures it).

-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
set local role epic_owner;

create or replace function epic_events.current_employee_id() returns bigint
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

alter function epic_events.has_permission(text) set plan_cache_mode = force_generic_plan;
