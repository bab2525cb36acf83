-- Undo 0025: back to 0015's check_request(), verify_access_token() and
-- base64url_decode(), 0002's has_permission() (with the settings 0013 and
-- 0015 gave it), and read policies that ask current_employee_id() themselves.

-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
set local role epic_owner;

create function epic_events.base64url_decode(data text) returns bytea
    language sql immutable strict
    set search_path = pg_catalog, epic_events, pg_temp
as $$
    select decode(rpad(translate(data, '-_', '+/'),
                       (length(data) + 3) / 4 * 4, '='), 'base64')
$$;

create or replace function epic_events.verify_access_token(p_token text) returns jsonb
    language plpgsql stable
    set search_path = pg_catalog, epic_events, pg_temp
as $$
declare
    parts   text[];
    sig     bytea;
    kid     text;
    header  jsonb;
    payload jsonb;
    now_s   numeric := extract(epoch from now());
begin
    -- Shape first: nothing below may raise on hostile input. (Plain string
    -- tests, no bounded repetitions: PostgreSQL's regex engine is slow on those.)
    parts := string_to_array(p_token, '.');
    if p_token is null or length(p_token) > 1000 or cardinality(parts) <> 3
       or length(parts[3]) <> 43 or p_token ~ '[^A-Za-z0-9_.-]' then
        return null;
    end if;
    sig := epic_events.base64url_decode(parts[3]);
    -- The signature decides before anything in the token is parsed; every key
    -- still valid is tried (one, or two during a rotation).
    select k.kid into kid
      from epic_events.signing_key k
     where (k.superseded_at is null or k.superseded_at > now() - interval '31 minutes')
       and epic_events.hmac_sha256(k.ipad, k.opad, convert_to(parts[1] || '.' || parts[2], 'UTF8')) = sig
     limit 1;
    if kid is null then
        return null;
    end if;
    -- Signed by us: the header and payload are our own JSON.
    header := convert_from(epic_events.base64url_decode(parts[1]), 'UTF8')::jsonb;
    payload := convert_from(epic_events.base64url_decode(parts[2]), 'UTF8')::jsonb;
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

create or replace function epic_events.check_request(p_access_token text) returns bigint
    language plpgsql volatile security definer
    set search_path = pg_catalog, epic_events, pg_temp
as $$
declare
    claims jsonb := epic_events.verify_access_token(p_access_token);
    ses    epic_events.session;
begin
    perform epic_events.require_read_committed();
    if current_setting('transaction_read_only') = 'on' then
        raise exception 'check_request() needs a read-write transaction (it records the caller)'
            using errcode = 'read_only_sql_transaction';
    end if;
    -- The claims are our own (the signature held): only their types are checked.
    if claims is not null
       and claims ->> 'sub' !~ '[^0-9]' and length(claims ->> 'sub') between 1 and 18
       and claims ->> 'sid' !~ '[^0-9a-f-]' and length(claims ->> 'sid') = 36 then
        -- current_setting('role') is the role the caller SET; inside this
        -- SECURITY DEFINER function current_user is the owner, so it cannot serve.
        select s.* into ses
          from epic_events.session s
          join epic_events.employee e on e.id = s.employee_id
          join epic_events.department d on d.name = e.department
         where s.id = (claims ->> 'sid')::uuid
           and s.employee_id = (claims ->> 'sub')::bigint
           and s.revoked_at is null
           and s.expires_at > now()
           and e.is_active
           and e.department = claims ->> 'dept'
           and d.role_name = current_setting('role');
    end if;
    if ses.id is null then
        -- A failed check ends whatever an earlier one in this backend recorded.
        perform setval('epic_events.request_stamp'::regclass, 0, true);
        perform set_config('epic.request_checked', 'on', false);
        return null;
    end if;
    perform setval('epic_events.request_employee'::regclass, ses.employee_id, true),
            setval('epic_events.request_session'::regclass, ses.number, true),
            setval('epic_events.request_stamp'::regclass,
                   (extract(epoch from now()) * 1000000)::bigint * 4
                   + case current_setting('role') when 'epic_management' then 1
                                                  when 'epic_sales' then 2
                                                  when 'epic_support' then 3 else 0 end, true);
    -- Session-level, and only a hint that the registers were set in this
    -- backend (currval() raises before the first setval()): forging it makes
    -- current_employee_id() raise, which fails closed. A SET clause would
    -- undo a transaction-local setting at this function's exit.
    perform set_config('epic.request_checked', 'on', false);
    return ses.employee_id;
end
$$;

create or replace function epic_events.has_permission(code text) returns boolean
    language plpgsql stable security definer
    set search_path = pg_catalog, epic_events, pg_temp
    set plan_cache_mode = force_generic_plan
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

alter policy audit_log_read on epic_events.audit_log
    using ((select epic_events.current_employee_id()) is not null);
alter policy client_read on epic_events.client
    using ((select epic_events.current_employee_id()) is not null);
alter policy client_note_read on epic_events.client_note
    using ((select epic_events.current_employee_id()) is not null);
alter policy company_read on epic_events.company
    using ((select epic_events.current_employee_id()) is not null);
alter policy contract_read on epic_events.contract
    using ((select epic_events.current_employee_id()) is not null);
alter policy department_read on epic_events.department
    using ((select epic_events.current_employee_id()) is not null);
alter policy department_permission_read on epic_events.department_permission
    using ((select epic_events.current_employee_id()) is not null);
alter policy employee_read on epic_events.employee
    using ((select epic_events.current_employee_id()) is not null);
alter policy event_read on epic_events.event
    using ((select epic_events.current_employee_id()) is not null);
alter policy payment_read on epic_events.payment
    using ((select epic_events.current_employee_id()) is not null);
alter policy permission_read on epic_events.permission
    using ((select epic_events.current_employee_id()) is not null);
