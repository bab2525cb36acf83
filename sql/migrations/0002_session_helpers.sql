-- Who is calling: the helpers every RLS policy consults.
-- depends: 0001_roles_and_schema
--
-- The CLI runs each command in one transaction that starts with
--   set_config('role', 'epic_<department>', true)
--   set_config('epic.employee_id', <id>, true)
--   set_config('epic.session_id', <uuid>, true)
-- Those settings are only claims. current_employee_id() accepts them only if
-- the session is live (not revoked, not expired), belongs to that employee,
-- the employee is active, and the role in use is the employee's department.
-- Otherwise it returns NULL and every policy denies: logging out, deactivating
-- an employee or moving them to another department cuts access at once, even
-- with an unexpired access token.
--
-- Policies call these as (select epic_events.f()) so PostgreSQL evaluates them
-- once per statement (an InitPlan), not once per row.
--
-- DECISION (FORCE ROW LEVEL SECURITY and the owner): these helpers, the auth
-- functions (0006) and the audit trigger (0003) are SECURITY DEFINER, owned by
-- epic_owner. Under FORCE RLS the owner is bound by policies too, so each table
-- these functions read or write has an explicit, narrow policy "... to
-- epic_owner" next to its other policies. No role bypasses RLS.
--
-- They are PL/pgSQL because they read tables created by later migrations
-- (PL/pgSQL resolves names when it runs, SQL functions when they are created).

-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
set local role epic_owner;

create function epic_events.current_employee_id() returns bigint
    language plpgsql stable security definer
    set search_path = pg_catalog, epic_events
as $$
declare
    claimed_session  text := current_setting('epic.session_id', true);
    claimed_employee text := current_setting('epic.employee_id', true);
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
    return (
        select s.employee_id
          from epic_events.session s
          join epic_events.employee e on e.id = s.employee_id
          join epic_events.department d on d.name = e.department
         where s.id = claimed_session::uuid
           and s.employee_id = claimed_employee::bigint
           and s.revoked_at is null
           and s.expires_at > now()
           and e.is_active
           and d.role_name = current_setting('role')
    );
end
$$;
comment on function epic_events.current_employee_id() is
    'The calling employee if their session is live and the role matches their department; else NULL.';

create function epic_events.has_permission(code text) returns boolean
    language plpgsql stable security definer
    set search_path = pg_catalog, epic_events
as $$
begin
    return exists (
        select
          from epic_events.employee e
          join epic_events.department_permission dp on dp.department = e.department
         where e.id = epic_events.current_employee_id()
           and dp.permission_code = code
    );
end
$$;
comment on function epic_events.has_permission(text) is
    'Does the calling employee''s department hold this permission code right now? (role grant/revoke)';

grant execute on function epic_events.current_employee_id(), epic_events.has_permission(text)
    to epic_management, epic_sales, epic_support;
-- The CLI's first statement sets the role and asks current_employee_id() in one
-- round trip; EXECUTE is checked before set_config() runs, i.e. as the
-- authenticator. Harmless: without a department role it always answers NULL.
grant execute on function epic_events.current_employee_id() to epic_authenticator;
