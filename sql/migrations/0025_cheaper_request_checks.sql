-- Cheaper request checks: the same rules, less work per command.
-- depends: 0024_schema_version
--
-- The load benchmark (issue 15, tests/perf/concurrency.py, bench-results/
-- load.md) measured what the rules cost per command against the same
-- statements as the owner with no rules. Three costs came from how the rules
-- were written, not from what they decide; this migration removes them:
--
--   1. verify_access_token() called four small helpers per request
--      (base64url_decode three times, hmac_sha256), each a function with its
--      own SET clause, so none was inlined, and check_request() joined the
--      department table to map a department to its role. The same
--      expressions, written in place, and the mapping as a CASE.
--      base64url_decode() has no caller left: dropped. hmac_sha256() still
--      signs (sign_access_token(), once per login or refresh).
--   2. Every read policy (`<table>_read`, audit_log_read) asked
--      (select current_employee_id()) is not null. The restrictive policy
--      `<table>_checked_for_<department>` (0015, 0017, 0019) on the same
--      table already demands a request checked in this transaction for this
--      role, which implies it: a second InitPlan and function call per table
--      in every statement, for nothing. They read `true` now; the restrictive
--      policy decides. (tests/security/test_attacks.py checks that every
--      table a department touches has that restrictive policy.)
--   3. has_permission() found the caller's department by reading their
--      employee row (current_employee_id(), then a join); the department
--      check_request() verified is in the registers already
--      (caller_department()), and it is the one the employee had then.
--
-- Same results for every caller: tests/db and tests/security run unchanged.
-- What the benchmark showed before and after is in bench-results/load.md.

-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
set local role epic_owner;

-- The claims of a genuine, unexpired access token; NULL for anything else.
-- 0015's checks, in 0015's order; the helpers' expressions written in place.
create or replace function epic_events.verify_access_token(p_token text) returns jsonb
    language plpgsql stable
    set search_path = pg_catalog, epic_events, pg_temp
as $$
declare
    parts   text[] := string_to_array(p_token, '.');
    kid     text;
    header  jsonb;
    payload jsonb;
    now_s   numeric;
begin
    -- Shape first: nothing below may raise on hostile input. (Plain string
    -- tests, no bounded repetitions: PostgreSQL's regex engine is slow on those.)
    if p_token is null or length(p_token) > 1000 or cardinality(parts) <> 3
       or length(parts[3]) <> 43 or p_token ~ '[^A-Za-z0-9_.-]' then
        return null;
    end if;
    -- The signature decides before anything in the token is parsed; every key
    -- still valid is tried (one, or two during a rotation). hmac_sha256()'s
    -- expression, written in place; a 43-character base64url signature is
    -- 32 bytes.
    select k.kid into kid
      from epic_events.signing_key k
     where (k.superseded_at is null or k.superseded_at > now() - interval '31 minutes')
       and sha256(k.opad || sha256(k.ipad || convert_to(parts[1] || '.' || parts[2], 'UTF8')))
           = decode(translate(parts[3], '-_', '+/') || '=', 'base64')
     limit 1;
    if kid is null then
        return null;
    end if;
    -- Signed by us: the header and payload are our own JSON (base64url, unpadded).
    header := convert_from(decode(rpad(translate(parts[1], '-_', '+/'),
                                       (length(parts[1]) + 3) / 4 * 4, '='), 'base64'), 'UTF8')::jsonb;
    payload := convert_from(decode(rpad(translate(parts[2], '-_', '+/'),
                                        (length(parts[2]) + 3) / 4 * 4, '='), 'base64'), 'UTF8')::jsonb;
    now_s := extract(epoch from now());
    if header ->> 'alg' is distinct from 'HS256' or header ->> 'kid' is distinct from kid
       or payload ->> 'iss' is distinct from 'epic-events'
       or payload ->> 'typ' is distinct from 'access'
       or (payload ->> 'exp')::numeric <= now_s
       or (payload ->> 'nbf')::numeric > now_s + 60 then
        return null;
    end if;
    return payload;
end
$$;

-- The request's first statement (0015): verify the token and the session,
-- then record the caller in the registers for this transaction. Same checks,
-- same registers, same answers; see 0015 for why each one is there.
create or replace function epic_events.check_request(p_access_token text) returns bigint
    language plpgsql volatile security definer
    set search_path = pg_catalog, epic_events, pg_temp
as $$
declare
    -- current_setting('role') is the role the caller SET; inside this
    -- SECURITY DEFINER function current_user is the owner, so it cannot serve.
    role_in_use text := current_setting('role');
    claims      jsonb;
    caller      bigint;
    session_no  bigint;
begin
    perform epic_events.require_read_committed();
    if current_setting('transaction_read_only') = 'on' then
        raise exception 'check_request() needs a read-write transaction (it records the caller)'
            using errcode = 'read_only_sql_transaction';
    end if;
    claims := epic_events.verify_access_token(p_access_token);
    -- The claims are our own (the signature held): only their types are checked.
    if claims is not null
       and claims ->> 'sub' !~ '[^0-9]' and length(claims ->> 'sub') between 1 and 18
       and claims ->> 'sid' !~ '[^0-9a-f-]' and length(claims ->> 'sid') = 36 then
        select s.employee_id, s.number into caller, session_no
          from epic_events.session s
          join epic_events.employee e on e.id = s.employee_id
         where s.id = (claims ->> 'sid')::uuid
           and s.employee_id = (claims ->> 'sub')::bigint
           and s.revoked_at is null
           and s.expires_at > now()
           and e.is_active
           and e.department = claims ->> 'dept'
           -- department.role_name as 0004 seeded it (no grant writes that table;
           -- the stamp below names the same three roles).
           and role_in_use = case e.department when 'management' then 'epic_management'
                                               when 'sales' then 'epic_sales'
                                               when 'support' then 'epic_support' end;
    end if;
    if caller is null then
        -- A failed check ends whatever an earlier one in this backend recorded.
        perform setval('epic_events.request_stamp'::regclass, 0, true),
                set_config('epic.request_checked', 'on', false);
        return null;
    end if;
    -- The stamp, 4 x now() (µs) + the role, as current_employee_id() and
    -- caller_department() compute it (0015). The flag is session-level (a SET
    -- clause would undo a transaction-local one at this function's exit).
    perform setval('epic_events.request_employee'::regclass, caller, true),
            setval('epic_events.request_session'::regclass, session_no, true),
            setval('epic_events.request_stamp'::regclass,
                   (extract(epoch from now()) * 1000000)::bigint * 4
                   + case role_in_use when 'epic_management' then 1
                                      when 'epic_sales' then 2
                                      when 'epic_support' then 3 else 0 end, true),
            set_config('epic.request_checked', 'on', false);
    return caller;
end
$$;

-- Does the caller's department hold this permission code right now? The
-- department is the one check_request() verified in this transaction (NULL
-- outside one: then no code is held), as for everything else in the request:
-- a department move bites at the employee's next request (their token names
-- the old department), not inside a transaction already checked.
-- department_permission is read live: `role grant|revoke` bites at the next
-- statement.
create or replace function epic_events.has_permission(code text) returns boolean
    language plpgsql stable security definer
    set search_path = pg_catalog, epic_events, pg_temp
    set plan_cache_mode = force_generic_plan
as $$
begin
    return exists (
        select
          from epic_events.department_permission dp
         where dp.department = epic_events.caller_department()
           and dp.permission_code = code
    );
end
$$;
comment on function epic_events.has_permission(text) is
    'Does the department check_request() verified in this transaction hold this permission code? Read live: role grant/revoke bites at the next statement.';

-- verify_access_token() above was its last caller; owner-only, so no client
-- can be calling it.
-- squawk-ignore ban-drop-function
drop function epic_events.base64url_decode(text);

-- Reads: the restrictive `<table>_checked_for_<department>` policy of each
-- table is the check (a request verified in this transaction, for this role).
alter policy audit_log_read on epic_events.audit_log using (true);
alter policy client_read on epic_events.client using (true);
alter policy client_note_read on epic_events.client_note using (true);
alter policy company_read on epic_events.company using (true);
alter policy contract_read on epic_events.contract using (true);
alter policy department_read on epic_events.department using (true);
alter policy department_permission_read on epic_events.department_permission using (true);
alter policy employee_read on epic_events.employee using (true);
alter policy event_read on epic_events.event using (true);
alter policy payment_read on epic_events.payment using (true);
alter policy permission_read on epic_events.permission using (true);
