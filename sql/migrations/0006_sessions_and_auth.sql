-- Sessions (refresh-token families) and the functions the authenticator runs
-- before it has a department role: find an employee, open, rotate and revoke
-- a session.
-- depends: 0005_employees
--
-- One login opens one session. Each refresh hands in the current refresh token
-- and gets the next one; the chain is kept (session_token.replaced_by). A token
-- handed in twice means it was copied: the whole session is revoked, the thief's
-- and the owner's tokens with it. Only SHA-256 digests of refresh tokens are
-- stored, so a read of this table yields nothing usable.
--
-- Only epic_authenticator may execute the auth_* functions. Trust boundary:
-- whoever holds its password and the JWT secret is trusted as the CLI is
-- (the PostgREST model); password checks (bcrypt) happen in the CLI, and the
-- password itself never reaches the database.

-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
set local role epic_owner;

create table epic_events.session (
    id             uuid primary key,
    employee_id    bigint not null references epic_events.employee (id) on delete cascade,
    created_at     timestamptz not null default now(),
    -- Expiry of the newest refresh token: past it, the session is dead.
    expires_at     timestamptz not null,
    revoked_at     timestamptz,
    revoked_reason text check (revoked_reason in ('logout', 'logout_all', 'refresh_token_replayed',
                                                  'employee_deactivated')),
    constraint session_revoked_with_reason check ((revoked_at is null) = (revoked_reason is null))
);
create index session_employee_idx on epic_events.session (employee_id) where revoked_at is null;
comment on table epic_events.session is 'One row per login: a refresh-token family.';

create table epic_events.session_token (
    token_hash  bytea primary key check (octet_length(token_hash) = 32),
    session_id  uuid not null references epic_events.session (id) on delete cascade,
    issued_at   timestamptz not null default now(),
    expires_at  timestamptz not null,
    -- Set when this token was exchanged for replaced_by; a second use is a replay.
    rotated_at  timestamptz,
    replaced_by bytea references epic_events.session_token (token_hash) on delete set null
);
create index session_token_session_idx on epic_events.session_token (session_id);
comment on table epic_events.session_token is 'The rotation chain of a session''s refresh tokens (SHA-256 digests).';

alter table epic_events.session enable row level security;
alter table epic_events.session force row level security;
alter table epic_events.session_token enable row level security;
alter table epic_events.session_token force row level security;

-- Only the SECURITY DEFINER functions below and in 0002 touch sessions.
create policy session_by_definer on epic_events.session
    for all to epic_owner using (true) with check (true);
create policy session_token_by_definer on epic_events.session_token
    for all to epic_owner using (true) with check (true);
-- NOTE: no grant on session or session_token to any department role or to the
-- authenticator: they exist only through the functions.

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

-- Deactivating an employee revokes their sessions: access stops at once
-- (current_employee_id() checks is_active too) and no refresh brings it back
-- after a reactivation.
create function epic_events.revoke_sessions_of_deactivated() returns trigger
    language plpgsql security definer
    set search_path = pg_catalog, epic_events
as $$
begin
    -- Same lock as auth_open_session: a login either finishes first (and its
    -- session is revoked below, this statement seeing it committed) or waits
    -- for this transaction and then finds the employee inactive.
    perform pg_advisory_xact_lock(hashtextextended('epic_events.sessions_of_employee:' || new.id, 0));
    update epic_events.session
       set revoked_at = now(), revoked_reason = 'employee_deactivated'
     where employee_id = new.id and revoked_at is null;
    return null;
end
$$;
create trigger employee_deactivated_revokes_sessions
    after update of is_active on epic_events.employee
    for each row when (old.is_active and not new.is_active)
    execute function epic_events.revoke_sessions_of_deactivated();
