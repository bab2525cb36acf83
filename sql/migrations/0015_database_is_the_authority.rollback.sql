-- Undo 0015: back to claim-based identity (0014), CLI-side password checks and
-- CLI-signed tokens.
--
-- WARNING: passwords do not survive this rollback. The database no longer
-- holds bcrypt hashes (only salts and verifiers), so password_hash is
-- restored with a value that matches no password: every employee needs a
-- reset (as the admin) before they can log in with the previous CLI. Every
-- session is revoked. Authentication events (logins, failures, lockouts,
-- logouts, replays) are removed from audit_log, whose check constraint
-- before 0015 did not allow them: export them first (README, "Audit trail").

-- Squawk: as in 0015, the checks and NOT NULL are on small tables, and the
-- dropped columns are 0015's own.
-- squawk-ignore-file ban-drop-column, constraint-missing-not-valid, adding-not-nullable-field

-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';

do $$
begin
    execute format('grant temporary on database %I to public', current_database());
    execute format('alter role epic_authenticator in database %I reset statement_timeout', current_database());
    execute format('alter role epic_authenticator in database %I reset lock_timeout', current_database());
    execute format('alter role epic_authenticator in database %I reset idle_in_transaction_session_timeout',
                   current_database());
end
$$;
alter role epic_authenticator connection limit -1;

set local role epic_owner;

revoke execute on function
    epic_events.auth_login_salt(text),
    epic_events.auth_login(text, text),
    epic_events.auth_login_result(uuid),
    epic_events.auth_refresh(text),
    epic_events.auth_logout(text, boolean),
    epic_events.check_request(text),
    epic_events.current_session_id(),
    epic_events.caller_department(),
    epic_events.change_own_password(text, bytea)
    from epic_authenticator, epic_management, epic_sales, epic_support;

do $$
declare
    t text;
    d text;
begin
    foreach t in array array['employee', 'company', 'client', 'contract', 'event', 'department',
                             'permission', 'department_permission', 'audit_log'] loop
        foreach d in array array['management', 'sales', 'support'] loop
            execute format('drop policy %I on epic_events.%I', t || '_checked_for_' || d, t);
        end loop;
    end loop;
end
$$;
drop function epic_events.caller_department();
drop function epic_events.change_own_password(text, bytea);
drop trigger employee_password_changed_revokes_sessions on epic_events.employee;
drop function epic_events.revoke_sessions_on_password_change();
update epic_events.session set revoked_at = now(), revoked_reason = 'logout'
 where revoked_at is null or revoked_reason = 'password_changed';
-- Back to 0006's check (every row was just made to pass it).
-- squawk-ignore ban-drop-constraint
alter table epic_events.session drop constraint session_revoked_reason_check;
alter table epic_events.session add constraint session_revoked_reason_check
    check (revoked_reason in ('logout', 'logout_all', 'refresh_token_replayed',
                              'employee_deactivated'));

drop function epic_events.check_request(text);
drop function epic_events.auth_logout(text, boolean);
drop function epic_events.auth_refresh(text);
drop function epic_events.auth_login_result(uuid);
drop function epic_events.auth_login(text, text);
drop function epic_events.open_session(bigint, text);
drop function epic_events.auth_login_salt(text);
drop function epic_events.verify_access_token(text);
drop function epic_events.sign_access_token(bigint, text, uuid);
drop function epic_events.hmac_sha256(bytea, bytea, bytea);
drop function epic_events.bootstrap_manager(text, text, text, text, bytea);
drop function epic_events.rotate_signing_key();
drop function epic_events.require_read_committed();
drop function epic_events.new_signing_key();

-- The 0003 audit trigger, word for word.
create or replace function epic_events.audit_row_change() returns trigger
    language plpgsql security definer
    set search_path = pg_catalog, epic_events
as $$
declare
    old_row jsonb := case when tg_op <> 'INSERT' then to_jsonb(old) - 'password_hash' end;
    new_row jsonb := case when tg_op <> 'DELETE' then to_jsonb(new) - 'password_hash' end;
    key_row jsonb := coalesce(new_row, old_row);
    changed jsonb;
    row_key text;
begin
    select string_agg(key_row ->> k, '/') into row_key from unnest(tg_argv) as k;

    if tg_op = 'UPDATE' then
        select jsonb_object_agg(n.key, jsonb_build_object('old', o.value, 'new', n.value))
          into changed
          from jsonb_each(new_row) n
          join jsonb_each(old_row) o using (key)
         where n.value is distinct from o.value
           and n.key <> 'updated_at';
        if (to_jsonb(old) ->> 'password_hash') is distinct from (to_jsonb(new) ->> 'password_hash') then
            changed := coalesce(changed, '{}') || '{"password_hash": "changed"}';
        end if;
        if changed is null then
            return null;  -- a no-op update: nothing to record
        end if;
    elsif tg_op = 'INSERT' then
        select jsonb_object_agg(key, jsonb_build_object('new', value)) into changed
          from jsonb_each(new_row);
    else
        select jsonb_object_agg(key, jsonb_build_object('old', value)) into changed
          from jsonb_each(old_row);
    end if;

    insert into epic_events.audit_log (employee_id, db_role, table_name, row_id, action, changes)
    values (epic_events.current_employee_id(),
            coalesce(nullif(current_setting('role'), 'none'), session_user),
            tg_table_name, row_key, lower(tg_op), changed);
    return null;
end
$$;
comment on function epic_events.audit_row_change() is
    'AFTER row trigger for business tables; arguments name the key columns.';

-- audit_log took insert/update/delete only: the authentication events go.
grant delete on epic_events.audit_log to epic_owner;
-- (for all: a DELETE with a WHERE reads the rows first)
create policy audit_log_rollback_0015 on epic_events.audit_log for all to epic_owner using (true);
alter table epic_events.audit_log disable trigger audit_log_append_only;
delete from epic_events.audit_log where action not in ('insert', 'update', 'delete');
alter table epic_events.audit_log enable trigger audit_log_append_only;
drop policy audit_log_rollback_0015 on epic_events.audit_log;
revoke delete on epic_events.audit_log from epic_owner;
drop function epic_events.record_auth_event(text, bigint, text, jsonb);
-- Back to 0003's check (the rows it does not allow were just deleted).
-- squawk-ignore ban-drop-constraint
alter table epic_events.audit_log drop constraint audit_log_action_check;
alter table epic_events.audit_log add constraint audit_log_action_check
    check (action in ('insert', 'update', 'delete'));

-- password_hash again, matching no password (see the warning above).
alter table epic_events.employee add column password_hash text;
-- (as the owner, through 0015's update policy, dropped just after)
update epic_events.employee set password_hash = password_salt || repeat('.', 31);
drop policy employee_password_by_definer on epic_events.employee;
alter table epic_events.employee
    alter column password_hash set not null,
    add constraint employee_password_hash_is_bcrypt check (password_hash ~ '^\$2[aby]\$[0-9]{2}\$'),
    drop column password_salt,
    drop column password_verifier;
comment on column epic_events.employee.password_hash is 'bcrypt hash; no department role may read it.';
grant insert (password_hash), update (password_hash) on epic_events.employee to epic_management;

create function epic_events.bootstrap_manager(
    p_full_name text, p_email text, p_phone text, p_password_hash text
) returns bigint
    language plpgsql security definer
    set search_path = pg_catalog, epic_events
as $$
declare
    new_id bigint;
begin
    perform pg_advisory_xact_lock(hashtext('epic_events.bootstrap_manager'));
    if exists (select from epic_events.employee where department = 'management') then
        raise exception 'a management account already exists: use `epic-events employee create`'
            using errcode = 'unique_violation', constraint = 'employee_bootstrap_once';
    end if;
    insert into epic_events.employee (full_name, email, phone, department, password_hash)
    values (p_full_name, p_email, p_phone, 'management', p_password_hash)
    returning id into new_id;
    return new_id;
end
$$;
-- NOTE: executable by the owner (and superusers) only; departments never.

create function epic_events.auth_find_employee(p_email text)
returns table (employee_id bigint, full_name text, department text,
               is_active boolean, password_hash text)
    language sql stable security definer
    set search_path = pg_catalog, epic_events
as $$
    select id, full_name, department, is_active, password_hash
      from epic_events.employee
     where lower(email) = lower(p_email)
$$;
comment on function epic_events.auth_find_employee(text) is
    'Login: the employee with this email and the hash to check the password against.';

create function epic_events.auth_open_session(
    p_session_id uuid, p_employee_id bigint, p_token_hash bytea, p_expires_at timestamptz
) returns void
    language plpgsql security definer
    set search_path = pg_catalog, epic_events
as $$
begin
    -- Serialize with a concurrent deactivation (revoke_sessions_of_deactivated
    -- takes the same lock): otherwise a login that read is_active before the
    -- deactivation committed would leave a live session it never revoked.
    perform pg_advisory_xact_lock(hashtextextended('epic_events.sessions_of_employee:' || p_employee_id, 0));
    if not exists (select from epic_events.employee where id = p_employee_id and is_active) then
        raise exception 'employee % is not an active employee', p_employee_id
            using errcode = 'insufficient_privilege';
    end if;
    insert into epic_events.session (id, employee_id, expires_at)
    values (p_session_id, p_employee_id, p_expires_at);
    insert into epic_events.session_token (token_hash, session_id, expires_at)
    values (p_token_hash, p_session_id, p_expires_at);
end
$$;
comment on function epic_events.auth_open_session(uuid, bigint, bytea, timestamptz) is
    'Login, after the CLI checked the password: a new session with its first refresh token.';

-- Returns a status rather than raising, so that revoking a family on replay
-- commits: ok | unknown | expired | revoked | replayed | inactive.
create function epic_events.auth_rotate_session(
    p_token_hash bytea, p_new_token_hash bytea, p_new_expires_at timestamptz
) returns table (status text, session_id uuid, employee_id bigint, department text)
    language plpgsql security definer
    set search_path = pg_catalog, epic_events
as $$
declare
    tok epic_events.session_token;
    ses epic_events.session;
    emp epic_events.employee;
begin
    -- Row locks serialize two refreshes of one token: the second sees
    -- rotated_at set by the first and is treated as a replay.
    select * into tok from epic_events.session_token t where t.token_hash = p_token_hash for update;
    if not found then
        return query select 'unknown', null::uuid, null::bigint, null::text;
        return;
    end if;
    select * into ses from epic_events.session s where s.id = tok.session_id for update;
    select * into emp from epic_events.employee e where e.id = ses.employee_id;

    if ses.revoked_at is not null then
        return query select 'revoked', ses.id, ses.employee_id, emp.department;
    elsif tok.rotated_at is not null then
        update epic_events.session
           set revoked_at = now(), revoked_reason = 'refresh_token_replayed'
         where id = ses.id;
        return query select 'replayed', ses.id, ses.employee_id, emp.department;
    elsif tok.expires_at <= now() then
        return query select 'expired', ses.id, ses.employee_id, emp.department;
    elsif not emp.is_active then
        return query select 'inactive', ses.id, ses.employee_id, emp.department;
    else
        insert into epic_events.session_token (token_hash, session_id, expires_at)
        values (p_new_token_hash, ses.id, p_new_expires_at);
        update epic_events.session_token
           set rotated_at = now(), replaced_by = p_new_token_hash
         where token_hash = p_token_hash;
        update epic_events.session set expires_at = p_new_expires_at where id = ses.id;
        return query select 'ok', ses.id, ses.employee_id, emp.department;
    end if;
end
$$;
comment on function epic_events.auth_rotate_session(bytea, bytea, timestamptz) is
    'Refresh: exchange a refresh token for the next one; a replayed token revokes the session.';

create function epic_events.auth_revoke_session(p_session_id uuid, p_all boolean)
returns integer
    language plpgsql security definer
    set search_path = pg_catalog, epic_events
as $$
declare
    revoked integer;
begin
    update epic_events.session s
       set revoked_at = now(),
           revoked_reason = case when p_all then 'logout_all' else 'logout' end
     where s.revoked_at is null
       and (s.id = p_session_id
            or (p_all and s.employee_id = (select employee_id from epic_events.session
                                            where id = p_session_id)));
    get diagnostics revoked = row_count;
    return revoked;
end
$$;
comment on function epic_events.auth_revoke_session(uuid, boolean) is
    'Logout: revoke this session, or (p_all) every session of its employee.';

revoke execute on function
    epic_events.auth_find_employee(text),
    epic_events.auth_open_session(uuid, bigint, bytea, timestamptz),
    epic_events.auth_rotate_session(bytea, bytea, timestamptz),
    epic_events.auth_revoke_session(uuid, boolean)
    from public;
grant execute on function
    epic_events.auth_find_employee(text),
    epic_events.auth_open_session(uuid, bigint, bytea, timestamptz),
    epic_events.auth_rotate_session(bytea, bytea, timestamptz),
    epic_events.auth_revoke_session(uuid, boolean)
    to epic_authenticator;


-- The 0014 registers and check, and its current_employee_id().
drop function epic_events.current_session_id();
drop sequence epic_events.request_stamp;
drop sequence epic_events.request_session;
drop sequence epic_events.request_employee;
-- DROP INDEX CONCURRENTLY cannot run in the rollback's transaction; session is small.
-- squawk-ignore require-concurrent-index-deletion
drop index epic_events.session_number_key;
alter table epic_events.session drop column number;
drop function epic_events.base64url_decode(text);
drop function epic_events.base64url(bytea);
drop function epic_events.random_bytes_32();
drop table epic_events.login_attempt;
drop table epic_events.auth_secret;
drop table epic_events.signing_key;

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
comment on function epic_events.current_employee_id() is
    'The calling employee if their session is live and the role matches their department; else NULL.';

alter function epic_events.touch_updated_at() set search_path = pg_catalog;
alter function epic_events.has_permission(text) set search_path = pg_catalog, epic_events;
alter function epic_events.refuse_audit_change() set search_path = pg_catalog;
alter function epic_events.keep_one_manager() set search_path = pg_catalog, epic_events;
alter function epic_events.check_contact() set search_path = pg_catalog, epic_events;
alter function epic_events.revoke_sessions_of_deactivated() set search_path = pg_catalog, epic_events;
alter function epic_events.contract_defaults() set search_path = pg_catalog, epic_events;
-- 0009's contract_signing(), word for word.
create or replace function epic_events.contract_signing() returns trigger
    language plpgsql
    set search_path = pg_catalog, epic_events
as $$
declare
    was_signed boolean := tg_op = 'UPDATE' and old.is_signed;
begin
    if was_signed and not new.is_signed then
        raise exception 'contract %: a signed contract cannot be unsigned', new.id
            using errcode = 'check_violation', constraint = 'contract_signature_is_final',
                  table = 'contract', column = 'is_signed';
    end if;
    if new.is_signed and not was_signed then
        -- Department roles need the right; the owner and admins (migrations,
        -- bootstrap) are not departments.
        if current_user in ('epic_management', 'epic_sales', 'epic_support')
           and not (epic_events.has_permission('contract:sign')
                    or (epic_events.has_permission('contract:sign:own')
                        and new.sales_contact_id = epic_events.current_employee_id())) then
            raise exception 'contract %: signing needs contract:sign, or contract:sign:own as its sales contact', new.id
                using errcode = 'insufficient_privilege', table = 'contract';
        end if;
        new.signed_at := now();
    elsif tg_op = 'INSERT' or not new.is_signed then
        new.signed_at := null;
    else
        new.signed_at := old.signed_at;
    end if;
    return new;
end
$$;

alter function epic_events.client_reassign_moves_contracts() set search_path = pg_catalog, epic_events;
alter function epic_events.event_needs_signed_contract() set search_path = pg_catalog, epic_events;
alter function epic_events.keep_contacts_in_department() set search_path = pg_catalog, epic_events;
