-- The database is the only authority: passwords, tokens and the caller's
-- identity are checked here, and nothing an employee's machine holds lets
-- them act as anyone else.
-- depends: 0014_session_check_once_per_request
--
-- Trust model (README, "Trust model"): every employee may know the
-- authenticator's DSN and run any SQL with it. With that alone they can call
-- the login functions below and nothing else useful. Before this migration:
--   * every function's search_path left pg_temp implicit (searched FIRST for
--     types and relations) and PUBLIC had TEMP: a pg_temp.text domain ran the
--     caller's code as epic_owner inside any SECURITY DEFINER function;
--   * auth_open_session() opened a session for anyone, without a password,
--     and auth_find_employee() handed out bcrypt hashes for offline cracking;
--   * tokens were signed on the employees' machines with a shared SECRET_KEY.
--
-- What this migration does:
--   1. TEMP is revoked from PUBLIC on this database, and every function pins
--      search_path = pg_catalog, epic_events, pg_temp (pg_temp last), as
--      "Writing SECURITY DEFINER Functions Safely" asks.
--   2. Passwords: the database keeps the bcrypt salt and a verifier,
--      sha256(bcrypt output), never the hash. auth_login_salt(email) hands out
--      the salt (a fake one, stable per email, for unknown emails); the CLI
--      computes bcrypt(password, salt) and auth_login(email, proof) compares
--      sha256(proof) with the verifier. A stolen verifier is not a proof, and
--      no function returns a salt's verifier. Five failures per email in 15
--      minutes lock that email until the window passes, whatever the password.
--      The verdict is recorded before anyone may learn it: auth_login() only
--      returns an attempt id, and auth_login_result() answers it only in a
--      transaction that started after the attempt, i.e. once it was committed.
--      (A caller who rolls back the attempt learns nothing from it.)
--   3. Tokens: access tokens are HS256 JWTs signed and verified here with
--      keys only epic_owner reads (signing_key); refresh tokens are random,
--      generated here, stored as SHA-256 digests; rotation and replay
--      detection are as in 0006.
--   4. Identity: check_request(access_token), the request's first statement,
--      verifies the token and the session, and records the caller in three
--      owner-only registers, bound to this backend, this transaction (its
--      start time) and the role in use. current_employee_id() answers from
--      them within that transaction only: a later transaction on the same
--      connection (a pooler in transaction mode hands it to another client)
--      is nobody until it checks a token of its own. epic.employee_id and
--      epic.session_id (0002's claims) are gone: setting them gives nothing.
--      Row-level security is also bound to the department the token was
--      checked for: one restrictive policy per table and department role
--      (caller_department()). Policies are chosen when a statement starts,
--      for the role in use then: a statement started as epic_management that
--      switches to the token's role half-way (set_config('role', ...) inside
--      the query) meets management's restrictive policy, and is refused.
--      A request's identity also lasts at most 5 minutes of its transaction.
--   5. Every login, failure, lockout, logout and refresh-token replay is
--      written to audit_log (table_name 'session'), which management reads.
--   6. The authenticator gets statement, lock and idle timeouts in this
--      database, and a connection limit (what the shared DSN still allows,
--      denial of service, is in the README's "Trust model").
--
-- DECISION (FORCE RLS and the owner), as in 0002: the new tables are read and
-- written only by the SECURITY DEFINER functions below, through narrow
-- "… to epic_owner" policies; no other role has any grant on them.

-- Squawk: this migration drops the old entry points, registers and the hash
-- column on purpose (each one was a hole; a client still calling them must
-- break). Its new checks and NOT NULLs are on employee and session, small
-- tables, and on audit_log, whose new check only widens the old one: each is
-- a scan under the migration's lock, once. Other findings: where they stand.
-- squawk-ignore-file ban-drop-function, ban-drop-sequence, ban-drop-column, constraint-missing-not-valid, adding-not-nullable-field

-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';

-- 1. No temporary objects for PUBLIC: nobody can shadow a type or a relation
-- in pg_temp. (The database owner runs this, before SET ROLE. These settings
-- belong to the database, not its contents: `db restore` sets them again,
-- sql/queries/backup.sql.)
do $$
begin
    execute format('revoke temporary on database %I from public', current_database());
    -- The shared login fails fast rather than hangs, and holds no lock for
    -- long; these are per database (roles are cluster-wide, 0001).
    execute format('alter role epic_authenticator in database %I set statement_timeout = %L',
                   current_database(), '30s');
    execute format('alter role epic_authenticator in database %I set lock_timeout = %L',
                   current_database(), '5s');
    execute format('alter role epic_authenticator in database %I set idle_in_transaction_session_timeout = %L',
                   current_database(), '60s');
end
$$;
-- Cluster-wide, like the role: at most 80 connections at once (the default
-- max_connections is 100), so the shared login cannot take the admin's slots.
alter role epic_authenticator connection limit 80;

set local role epic_owner;

-- Every function defined so far: pg_temp last.
alter function epic_events.touch_updated_at() set search_path = pg_catalog, epic_events, pg_temp;
alter function epic_events.has_permission(text) set search_path = pg_catalog, epic_events, pg_temp;
alter function epic_events.refuse_audit_change() set search_path = pg_catalog, epic_events, pg_temp;
alter function epic_events.keep_one_manager() set search_path = pg_catalog, epic_events, pg_temp;
alter function epic_events.check_contact() set search_path = pg_catalog, epic_events, pg_temp;
alter function epic_events.revoke_sessions_of_deactivated() set search_path = pg_catalog, epic_events, pg_temp;
alter function epic_events.contract_defaults() set search_path = pg_catalog, epic_events, pg_temp;
alter function epic_events.client_reassign_moves_contracts() set search_path = pg_catalog, epic_events, pg_temp;
alter function epic_events.event_needs_signed_contract() set search_path = pg_catalog, epic_events, pg_temp;
alter function epic_events.keep_contacts_in_department() set search_path = pg_catalog, epic_events, pg_temp;

-- Signing: the CLI's login is checked whatever role it switched to.
create or replace function epic_events.contract_signing() returns trigger
    language plpgsql
    set search_path = pg_catalog, epic_events, pg_temp
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
        -- bootstrap) are not departments. The CLI's login counts as one
        -- whatever role is in use: a role switched to 'none' half-way
        -- through a statement (0015) must not sign unchecked.
        if (current_user in ('epic_management', 'epic_sales', 'epic_support')
            or session_user = 'epic_authenticator')
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


-- The old entry points go: each was a hole or a claim-based check.
drop function epic_events.auth_find_employee(text);
drop function epic_events.auth_open_session(uuid, bigint, bytea, timestamptz);
drop function epic_events.auth_rotate_session(bytea, bytea, timestamptz);
drop function epic_events.auth_revoke_session(uuid, boolean);
drop function epic_events.bootstrap_manager(text, text, text, text);

-- ---------------------------------------------------------------------------
-- Secrets only epic_owner reads.
-- ---------------------------------------------------------------------------

-- Access-token signing keys. Only the HMAC pads are kept (key XOR ipad/opad):
-- that is all signing needs. The newest key (superseded_at null) signs; a
-- superseded key still verifies for 31 minutes, the life of the last access
-- token it signed plus a minute of clock slack (`epic-events db rotate-key`).
create table epic_events.signing_key (
    kid           text primary key check (kid ~ '^[A-Za-z0-9_-]{1,40}$'),
    ipad          bytea not null check (octet_length(ipad) = 64),
    opad          bytea not null check (octet_length(opad) = 64),
    created_at    timestamptz not null default now(),
    superseded_at timestamptz
);
create unique index signing_key_one_current on epic_events.signing_key ((true))
    where superseded_at is null;
comment on table epic_events.signing_key is
    'HS256 keys of access tokens (HMAC pads). Readable by epic_owner only.';

-- Other server secrets: 'fake_salt' derives the salts handed out for unknown
-- emails, so that auth_login_salt() does not tell who works here.
create table epic_events.auth_secret (
    purpose text primary key check (purpose in ('fake_salt')),
    secret  bytea not null check (octet_length(secret) = 32)
);
comment on table epic_events.auth_secret is 'Server-side secrets. Readable by epic_owner only.';

-- Login attempts per email (known or not: a lockout of an unknown email looks
-- the same as one of a real account), with their verdict, kept a day. Five
-- 'failed' in 15 minutes lock that email (auth_login).
create table epic_events.login_attempt (
    id           uuid primary key default gen_random_uuid(),
    email_key    text not null,
    employee_id  bigint,  -- no foreign key: attempts on unknown emails too
    outcome      text not null check (outcome in ('ok', 'failed', 'locked')),
    -- The verifier the verdict was made against: a password changed since
    -- (a reset racing the login) voids an 'ok'.
    verifier     bytea,
    attempted_at timestamptz not null default clock_timestamp(),
    answered_at  timestamptz
);
create index login_attempt_email_idx on epic_events.login_attempt (email_key, attempted_at);
comment on table epic_events.login_attempt is
    'Login attempts and their verdicts (auth_login), answered by auth_login_result once committed.';

alter table epic_events.signing_key enable row level security;
alter table epic_events.signing_key force row level security;
alter table epic_events.auth_secret enable row level security;
alter table epic_events.auth_secret force row level security;
alter table epic_events.login_attempt enable row level security;
alter table epic_events.login_attempt force row level security;
create policy signing_key_by_definer on epic_events.signing_key
    for all to epic_owner using (true) with check (true);
create policy auth_secret_by_definer on epic_events.auth_secret
    for all to epic_owner using (true) with check (true);
create policy login_attempt_by_definer on epic_events.login_attempt
    for all to epic_owner using (true) with check (true);
-- NOTE: no grant on these three tables to any other role.

-- The request registers (check_request). setval() sets what currval() answers
-- in this database session only, and only their owner may call either: no
-- department role, not the authenticator (no grant). UNLOGGED: never worth a
-- WAL write; a crash that empties them only means "nobody" until the next check.
create unlogged sequence epic_events.request_employee minvalue 0;
create unlogged sequence epic_events.request_session minvalue 0;
create unlogged sequence epic_events.request_stamp minvalue 0;
comment on sequence epic_events.request_employee is
    'Register (currval, this backend only): the employee check_request() verified.';
comment on sequence epic_events.request_session is
    'Register (currval, this backend only): the number of the session it verified.';
comment on sequence epic_events.request_stamp is
    'Register (currval, this backend only): 4 x the checked transaction''s start (µs) + the role in use (1-3); 0 = nobody.';
-- NOTE: sequences grant nothing to PUBLIC.

-- A register holds a bigint: sessions get a number beside their uuid.
-- session holds a row per login of the last day or so: rewriting it and
-- indexing it inside the migration's transaction is a short lock.
-- squawk-ignore adding-field-with-default
alter table epic_events.session add column number bigint generated always as identity;
-- (CONCURRENTLY cannot run in the migration's transaction.)
-- squawk-ignore require-concurrent-index-creation
create unique index session_number_key on epic_events.session (number);

-- The 0014 registers and its claim-based check go.
drop function epic_events.check_request();
drop function epic_events.live_session_employee();
drop sequence epic_events.checked_employee;
drop sequence epic_events.checked_role;
drop sequence epic_events.checked_until;

-- ---------------------------------------------------------------------------
-- Small building blocks (owner only: no grant).
-- ---------------------------------------------------------------------------

-- 32 bytes from the server's strong random source (gen_random_uuid() is built
-- in since PostgreSQL 13; pgcrypto is not available everywhere): two version-4
-- UUIDs carry 244 random bits.
create function epic_events.random_bytes_32() returns bytea
    language sql volatile
    set search_path = pg_catalog, epic_events, pg_temp
as $$
    select uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())
$$;

create function epic_events.base64url(data bytea) returns text
    language sql immutable strict
    set search_path = pg_catalog, epic_events, pg_temp
as $$
    select translate(encode(data, 'base64'), E'+/=\n', '-_')
$$;

create function epic_events.base64url_decode(data text) returns bytea
    language sql immutable strict
    set search_path = pg_catalog, epic_events, pg_temp
as $$
    select decode(rpad(translate(data, '-_', '+/'),
                       (length(data) + 3) / 4 * 4, '='), 'base64')
$$;

-- HMAC needs the key XOR 0x36.. and 0x5c..: computed once per key, here.
create function epic_events.new_signing_key() returns text
    language plpgsql volatile
    set search_path = pg_catalog, epic_events, pg_temp
as $$
declare
    key  bytea := epic_events.random_bytes_32() || '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
    ipad bytea := key;
    opad bytea := key;
    kid  text := to_char(clock_timestamp() at time zone 'UTC', 'YYYYMMDD"T"HH24MISS')
                 || '-' || substr(encode(epic_events.random_bytes_32(), 'hex'), 1, 8);
begin
    for i in 0..63 loop
        ipad := set_byte(ipad, i, get_byte(key, i) # 54);   -- 0x36
        opad := set_byte(opad, i, get_byte(key, i) # 92);   -- 0x5c
    end loop;
    update epic_events.signing_key set superseded_at = now() where superseded_at is null;
    insert into epic_events.signing_key (kid, ipad, opad) values (kid, ipad, opad);
    return kid;
end
$$;
comment on function epic_events.new_signing_key() is
    'Add a signing key (the previous one keeps verifying for 31 minutes); returns its kid.';

insert into epic_events.auth_secret (purpose, secret)
values ('fake_salt', epic_events.random_bytes_32());
do $$ begin perform epic_events.new_signing_key(); end $$;

-- `epic-events db rotate-key`: the admin (owner or superuser) only.
create function epic_events.rotate_signing_key() returns text
    language sql volatile security definer
    set search_path = pg_catalog, epic_events, pg_temp
as $$
    select epic_events.new_signing_key()
$$;
comment on function epic_events.rotate_signing_key() is
    'Admin: sign new access tokens with a new key; tokens of the previous key stay valid until they expire.';

-- Authentication events, where management reads them (audit_log).
-- The new check allows more than the old one.
-- squawk-ignore ban-drop-constraint
alter table epic_events.audit_log drop constraint audit_log_action_check;
alter table epic_events.audit_log add constraint audit_log_action_check
    check (action in ('insert', 'update', 'delete', 'login_attempt', 'login', 'login_failed',
                      'login_locked', 'logout', 'refresh_replayed'));

create function epic_events.record_auth_event(
    p_action text, p_employee_id bigint, p_row_id text, p_details jsonb
) returns void
    language sql volatile
    set search_path = pg_catalog, epic_events, pg_temp
as $$
    -- clock_timestamp(): when it happened, not when the caller's transaction
    -- began. The row id is what was typed, without control characters.
    insert into epic_events.audit_log (occurred_at, employee_id, db_role, table_name, row_id,
                                       action, changes)
    values (clock_timestamp(), p_employee_id, session_user, 'session',
            regexp_replace(left(coalesce(p_row_id, ''), 254), '[[:cntrl:]]', '?', 'g'), p_action,
            coalesce(p_details, '{}'))
$$;

-- ---------------------------------------------------------------------------
-- Passwords: salt and verifier instead of the hash.
-- ---------------------------------------------------------------------------

alter table epic_events.employee
    add column password_salt text,
    add column password_verifier bytea;
-- Existing accounts keep their passwords: bcrypt's output starts with its
-- salt (cost and salt, 29 characters), and the verifier is its digest.
update epic_events.employee
   set password_salt = left(password_hash, 29),
       password_verifier = sha256(convert_to(password_hash, 'UTF8'));
-- The hash goes: it would pass for a proof.
alter table epic_events.employee
    alter column password_salt set not null,
    alter column password_verifier set not null,
    add constraint employee_password_salt_is_bcrypt
        check (password_salt ~ '^\$2[aby]\$[0-9]{2}\$[./A-Za-z0-9]{22}$'),
    add constraint employee_password_verifier_is_sha256
        check (octet_length(password_verifier) = 32),
    drop column password_hash;
comment on column epic_events.employee.password_salt is
    'bcrypt cost and salt (29 characters); handed out by auth_login_salt() only.';
comment on column epic_events.employee.password_verifier is
    'sha256 of the bcrypt output; readable by epic_owner only, returned by no function.';
-- Management sets passwords (create, reset) but reads neither column.
grant insert (password_salt, password_verifier), update (password_salt, password_verifier)
    on epic_events.employee to epic_management;
-- The owner changes a password for its employee (change_own_password).
create policy employee_password_by_definer on epic_events.employee
    for update to epic_owner using (true) with check (true);

-- The audit trail records that a password changed, never the values.
create or replace function epic_events.audit_row_change() returns trigger
    language plpgsql security definer
    set search_path = pg_catalog, epic_events, pg_temp
as $$
declare
    old_row jsonb := case when tg_op <> 'INSERT' then to_jsonb(old) - 'password_salt' - 'password_verifier' end;
    new_row jsonb := case when tg_op <> 'DELETE' then to_jsonb(new) - 'password_salt' - 'password_verifier' end;
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
        if (to_jsonb(old) ->> 'password_verifier') is distinct from (to_jsonb(new) ->> 'password_verifier') then
            changed := coalesce(changed, '{}') || '{"password": "changed"}';
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

    -- clock_timestamp(): when the change was made, not when its transaction began.
    insert into epic_events.audit_log (occurred_at, employee_id, db_role, table_name, row_id,
                                       action, changes)
    values (clock_timestamp(), epic_events.current_employee_id(),
            coalesce(nullif(current_setting('role'), 'none'), session_user),
            tg_table_name, row_key, lower(tg_op), changed);
    return null;
end
$$;

-- The first manager (`epic-events db bootstrap`, admin connection).
create function epic_events.bootstrap_manager(
    p_full_name text, p_email text, p_phone text, p_password_salt text, p_password_verifier bytea
) returns bigint
    language plpgsql security definer
    set search_path = pg_catalog, epic_events, pg_temp
as $$
declare
    new_id bigint;
begin
    perform pg_advisory_xact_lock(hashtext('epic_events.bootstrap_manager'));
    if exists (select from epic_events.employee where department = 'management') then
        raise exception 'a management account already exists: use `epic-events employee create`'
            using errcode = 'unique_violation', constraint = 'employee_bootstrap_once';
    end if;
    insert into epic_events.employee (full_name, email, phone, department, password_salt, password_verifier)
    values (p_full_name, p_email, p_phone, 'management', p_password_salt, p_password_verifier)
    returning id into new_id;
    return new_id;
end
$$;
-- NOTE: executable by the owner (and superusers) only; departments never.

-- ---------------------------------------------------------------------------
-- Tokens.
-- ---------------------------------------------------------------------------

create function epic_events.hmac_sha256(p_ipad bytea, p_opad bytea, p_message bytea) returns bytea
    language sql immutable strict
    set search_path = pg_catalog, epic_events, pg_temp
as $$
    select sha256(p_opad || sha256(p_ipad || p_message))
$$;

create function epic_events.sign_access_token(
    p_employee_id bigint, p_department text, p_session_id uuid
) returns text
    language plpgsql stable
    set search_path = pg_catalog, epic_events, pg_temp
as $$
declare
    k       epic_events.signing_key;
    issued  bigint := floor(extract(epoch from now()))::bigint;
    header  text;
    payload text;
begin
    select * into strict k from epic_events.signing_key where superseded_at is null;
    header := epic_events.base64url(convert_to(
        json_build_object('alg', 'HS256', 'typ', 'JWT', 'kid', k.kid)::text, 'UTF8'));
    payload := epic_events.base64url(convert_to(json_build_object(
        'iss', 'epic-events', 'typ', 'access', 'sub', p_employee_id::text,
        'dept', p_department, 'sid', p_session_id::text,
        'iat', issued, 'nbf', issued, 'exp', issued + 30 * 60)::text, 'UTF8'));
    return header || '.' || payload || '.' || epic_events.base64url(
        epic_events.hmac_sha256(k.ipad, k.opad, convert_to(header || '.' || payload, 'UTF8')));
end
$$;
comment on function epic_events.sign_access_token(bigint, text, uuid) is
    'An HS256 access JWT (30 minutes) for this session, signed with the current key.';

-- The claims of a genuine, unexpired access token; NULL for anything else
-- (malformed, forged, signed with an unknown or retired key, expired).
create function epic_events.verify_access_token(p_token text) returns jsonb
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
comment on function epic_events.verify_access_token(text) is
    'The claims of a genuine, unexpired access token signed by a live key; else NULL.';

-- ---------------------------------------------------------------------------
-- Login, refresh, logout: what the authenticator may call.
-- ---------------------------------------------------------------------------

-- Every entry point reads the truth as it is now: READ COMMITTED only. Under
-- REPEATABLE READ a caller may import an old snapshot (SET TRANSACTION
-- SNAPSHOT) and see failures not yet counted, or a session before its
-- revocation.
create function epic_events.require_read_committed() returns void
    language plpgsql stable
    set search_path = pg_catalog, epic_events, pg_temp
as $$
begin
    if current_setting('transaction_isolation') <> 'read committed' then
        raise exception 'authentication runs in READ COMMITTED transactions only'
            using errcode = 'invalid_transaction_state';
    end if;
end
$$;

-- bcrypt's salt for this email; an unknown email gets a fake one, the same at
-- every call, of the cost the newest account uses, so the answer does not tell
-- whether the email exists.
create function epic_events.auth_login_salt(p_email text) returns text
    language plpgsql stable security definer
    set search_path = pg_catalog, epic_events, pg_temp
as $$
declare
    salt   text;
    cost   text;
    secret bytea;
begin
    select e.password_salt into salt from epic_events.employee e where lower(e.email) = lower(p_email);
    if salt is not null then
        return salt;
    end if;
    select coalesce((select substr(e.password_salt, 5, 2) from epic_events.employee e
                      order by e.id desc limit 1), '12') into cost;
    select s.secret into secret from epic_events.auth_secret s where s.purpose = 'fake_salt';
    -- 16 bytes in bcrypt's base64 (its own alphabet, same bit order): 22 characters.
    return '$2b$' || cost || '$' || translate(
        left(encode(substring(sha256(secret || convert_to(lower(coalesce(p_email, '')), 'UTF8')) from 1 for 16),
                    'base64'), 22),
        'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/',
        './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789');
end
$$;
comment on function epic_events.auth_login_salt(text) is
    'Login, step 1: the bcrypt salt to hash the password with (a stable fake one for unknown emails).';

-- A new session: its id and first refresh token are made here; only the
-- token's digest is stored. Returns the tokens for the CLI to keep.
create function epic_events.open_session(p_employee_id bigint, p_department text)
returns table (session_id uuid, access_token text, refresh_token text, refresh_expires_at timestamptz)
    language plpgsql volatile
    set search_path = pg_catalog, epic_events, pg_temp
as $$
declare
    sid     uuid := gen_random_uuid();
    refresh text := epic_events.base64url(epic_events.random_bytes_32());
    expires timestamptz := now() + interval '1 day';
begin
    insert into epic_events.session (id, employee_id, expires_at) values (sid, p_employee_id, expires);
    insert into epic_events.session_token (token_hash, session_id, expires_at)
    values (sha256(convert_to(refresh, 'UTF8')), sid, expires);
    return query select sid, epic_events.sign_access_token(p_employee_id, p_department, sid),
                        refresh, expires;
end
$$;

-- Login, step 2: the verdict on the proof is recorded, and only an attempt
-- id is returned. The caller commits, then asks auth_login_result(): a
-- caller who rolls back, or turns the call into an error, undoes the attempt
-- and learns nothing from it, so guesses cannot escape the count. Both
-- branches do the same work (one count, two inserts).
create function epic_events.auth_login(p_email text, p_proof text) returns uuid
    language plpgsql volatile security definer
    set search_path = pg_catalog, epic_events, pg_temp
as $$
declare
    v_email   text := lower(left(coalesce(p_email, ''), 320));
    emp       epic_events.employee;
    failures  integer;
    verdict   text;
    attempt   uuid;
begin
    perform epic_events.require_read_committed();
    -- One attempt per email at a time: two concurrent guesses cannot both
    -- pass the count below.
    perform pg_advisory_xact_lock(hashtextextended('epic_events.login:' || v_email, 0));
    select count(*) into failures from epic_events.login_attempt a
     where a.email_key = v_email and a.outcome = 'failed'
       and a.attempted_at > clock_timestamp() - interval '15 minutes';
    select * into emp from epic_events.employee e where lower(e.email) = v_email;
    verdict := case
        when failures >= 5 then 'locked'
        when emp.id is not null and length(p_proof) <= 100
             and sha256(convert_to(p_proof, 'UTF8')) = emp.password_verifier then 'ok'
        else 'failed' end;
    insert into epic_events.login_attempt (email_key, employee_id, outcome, verifier)
    values (v_email, emp.id, verdict, emp.password_verifier)
    returning id into attempt;
    perform epic_events.record_auth_event('login_attempt', emp.id, v_email, '{}');
    return attempt;
end
$$;
comment on function epic_events.auth_login(text, text) is
    'Login, step 2: record the verdict on sha256(bcrypt proof) against the verifier; returns the attempt id.';

-- Login, step 3, in a later transaction: the verdict, and the tokens when it
-- is ok. ok | failed (unknown email or wrong password, not told apart) |
-- locked | inactive | unknown (no such attempt, already answered, or older
-- than a minute).
create function epic_events.auth_login_result(p_attempt uuid)
returns table (status text, employee_id bigint, full_name text, department text,
               access_token text, refresh_token text, refresh_expires_at timestamptz)
    language plpgsql volatile security definer
    set search_path = pg_catalog, epic_events, pg_temp
as $$
declare
    att    epic_events.login_attempt;
    emp    epic_events.employee;
    opened record;
begin
    perform epic_events.require_read_committed();
    select * into att from epic_events.login_attempt a where a.id = p_attempt for update;
    -- attempted_at < now(): the attempt was made before this transaction
    -- began, so it is committed; its own transaction gets no answer.
    if att.id is null or att.answered_at is not null or att.attempted_at >= now()
       or att.attempted_at < clock_timestamp() - interval '1 minute' then
        return query select 'unknown', null::bigint, null::text, null::text, null::text, null::text,
                            null::timestamptz;
        return;
    end if;
    update epic_events.login_attempt a set answered_at = clock_timestamp() where a.id = att.id;
    if att.outcome <> 'ok' then
        perform epic_events.record_auth_event('login_' || att.outcome, att.employee_id,
                                              att.email_key, '{}');
        return query select att.outcome, null::bigint, null::text, null::text, null::text, null::text,
                            null::timestamptz;
        return;
    end if;
    -- Serialize with a concurrent deactivation (revoke_sessions_of_deactivated
    -- takes the same lock), then read is_active as it is now.
    perform pg_advisory_xact_lock(
        hashtextextended('epic_events.sessions_of_employee:' || att.employee_id, 0));
    select * into emp from epic_events.employee e where e.id = att.employee_id;
    if emp.password_verifier is distinct from att.verifier then
        perform epic_events.record_auth_event('login_failed', att.employee_id, att.email_key,
                                              '{"reason": "password changed meanwhile"}');
        return query select 'failed', null::bigint, null::text, null::text, null::text, null::text,
                            null::timestamptz;
        return;
    end if;
    if emp.id is null or not emp.is_active then
        perform epic_events.record_auth_event('login_failed', att.employee_id, att.email_key,
                                              '{"reason": "inactive"}');
        return query select 'inactive', att.employee_id, null::text, null::text, null::text, null::text,
                            null::timestamptz;
        return;
    end if;
    -- A success starts the count again; attempts older than a day go.
    delete from epic_events.login_attempt a
     where a.email_key = att.email_key
       and (a.outcome = 'failed' or a.attempted_at < clock_timestamp() - interval '1 day');
    select * into opened from epic_events.open_session(emp.id, emp.department);
    perform epic_events.record_auth_event('login', emp.id, opened.session_id::text, '{}');
    return query select 'ok', emp.id, emp.full_name, emp.department, opened.access_token,
                        opened.refresh_token, opened.refresh_expires_at;
end
$$;
comment on function epic_events.auth_login_result(uuid) is
    'Login, step 3 (a later transaction): the verdict of a committed attempt, and the tokens when ok.';

-- Refresh: exchange a refresh token for the next one (and a new access token
-- naming the employee's department as it is now). A token handed in twice
-- means it was copied: the whole session is revoked.
-- ok | unknown | expired | revoked | replayed | inactive.
create function epic_events.auth_refresh(p_refresh_token text)
returns table (status text, employee_id bigint, department text,
               access_token text, refresh_token text, refresh_expires_at timestamptz)
    language plpgsql volatile security definer
    set search_path = pg_catalog, epic_events, pg_temp
as $$
declare
    digest  bytea := sha256(convert_to(left(coalesce(p_refresh_token, ''), 200), 'UTF8'));
    tok     epic_events.session_token;
    ses     epic_events.session;
    emp     epic_events.employee;
    refresh text := epic_events.base64url(epic_events.random_bytes_32());
    expires timestamptz := now() + interval '1 day';
begin
    perform epic_events.require_read_committed();
    -- Row locks serialize two refreshes of one token: the second sees
    -- rotated_at set by the first and is treated as a replay.
    select * into tok from epic_events.session_token t where t.token_hash = digest for update;
    if not found then
        return query select 'unknown', null::bigint, null::text, null::text, null::text, null::timestamptz;
        return;
    end if;
    select * into ses from epic_events.session s where s.id = tok.session_id for update;
    select * into emp from epic_events.employee e where e.id = ses.employee_id;

    if ses.revoked_at is not null then
        return query select 'revoked', emp.id, null::text, null::text, null::text, null::timestamptz;
    elsif tok.rotated_at is not null then
        update epic_events.session
           set revoked_at = now(), revoked_reason = 'refresh_token_replayed'
         where id = ses.id;
        perform epic_events.record_auth_event('refresh_replayed', emp.id, ses.id::text, '{}');
        return query select 'replayed', emp.id, null::text, null::text, null::text, null::timestamptz;
    elsif tok.expires_at <= now() then
        return query select 'expired', emp.id, null::text, null::text, null::text, null::timestamptz;
    elsif not emp.is_active then
        return query select 'inactive', emp.id, null::text, null::text, null::text, null::timestamptz;
    else
        insert into epic_events.session_token (token_hash, session_id, expires_at)
        values (sha256(convert_to(refresh, 'UTF8')), ses.id, expires);
        update epic_events.session_token
           set rotated_at = now(), replaced_by = sha256(convert_to(refresh, 'UTF8'))
         where token_hash = digest;
        update epic_events.session set expires_at = expires where id = ses.id;
        return query select 'ok', emp.id, emp.department,
                            epic_events.sign_access_token(emp.id, emp.department, ses.id),
                            refresh, expires;
    end if;
end
$$;
comment on function epic_events.auth_refresh(text) is
    'Refresh: exchange a refresh token for the next one and a new access token; a replay revokes the session.';

-- Logout: whoever holds a refresh token of a session (current or already
-- rotated) may close it, or (p_all) every session of its employee.
create function epic_events.auth_logout(p_refresh_token text, p_all boolean)
returns integer
    language plpgsql volatile security definer
    set search_path = pg_catalog, epic_events, pg_temp
as $$
declare
    ses     epic_events.session;
    revoked integer;
begin
    perform epic_events.require_read_committed();
    select s.* into ses
      from epic_events.session_token t
      join epic_events.session s on s.id = t.session_id
     where t.token_hash = sha256(convert_to(left(coalesce(p_refresh_token, ''), 200), 'UTF8'));
    if ses.id is null then
        return 0;
    end if;
    update epic_events.session s
       set revoked_at = now(),
           revoked_reason = case when p_all then 'logout_all' else 'logout' end
     where s.revoked_at is null
       and (s.id = ses.id or (p_all and s.employee_id = ses.employee_id));
    get diagnostics revoked = row_count;
    if revoked > 0 then
        perform epic_events.record_auth_event('logout', ses.employee_id, ses.id::text,
                                              jsonb_build_object('all', coalesce(p_all, false),
                                                                 'sessions', revoked));
    end if;
    return revoked;
end
$$;
comment on function epic_events.auth_logout(text, boolean) is
    'Logout: revoke the session of this refresh token, or (p_all) every session of its employee.';

-- ---------------------------------------------------------------------------
-- The request: who is calling, for this transaction only.
-- ---------------------------------------------------------------------------

-- The CLI's first statement, after SET ROLE to the employee's department:
--   select set_config('role', 'epic_sales', true),
--          epic_events.check_request(<access token>) is not null
-- Verifies the token (signature, kid, expiry), that its session is live, the
-- employee active, and the role in use their department's; then records the
-- caller in the registers for this transaction. Returns the employee id, or
-- NULL: then current_employee_id() names nobody and every policy denies.
--
-- The stamp 4 x now() (µs) + role is computed the same way in the three
-- functions below (inline: a helper would cost a call in every policy).
-- now() is the transaction's start: a later transaction starts later. (A
-- server clock set back to the very microsecond is the one way to meet an
-- old stamp again; then it is the same backend and the same role.)
create function epic_events.check_request(p_access_token text) returns bigint
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
comment on function epic_events.check_request(text) is
    'A request''s first statement: verify the access token and the session; the caller holds for this transaction.';

create or replace function epic_events.current_employee_id() returns bigint
    language plpgsql stable security definer
    set search_path = pg_catalog, epic_events, pg_temp
as $$
declare
    stamp bigint;
begin
    -- Nested IFs: currval() raises until check_request() has set the
    -- registers in this backend, so it is only reached once it has.
    -- A request lasts at most 5 minutes of its transaction: a caller who
    -- keeps one open (timeouts off) is nobody afterwards.
    if current_setting('epic.request_checked', true) = 'on'
       and clock_timestamp() < now() + interval '5 minutes' then
        stamp := currval('epic_events.request_stamp'::regclass);
        if stamp / 4 = (extract(epoch from now()) * 1000000)::bigint then
            -- Checked in this transaction, and only for the role it was
            -- checked in. Another role now means the caller switched inside
            -- the request (set_config('role', ...) within a statement: its
            -- privileges, policies and triggers would disagree): refused.
            if stamp % 4 <> (case current_setting('role') when 'epic_management' then 1
                                                          when 'epic_sales' then 2
                                                          when 'epic_support' then 3 else 0 end) then
                raise exception 'the role in use changed after check_request() in this transaction'
                    using errcode = 'insufficient_privilege';
            end if;
            return currval('epic_events.request_employee'::regclass);
        end if;
    end if;
    return null;
end
$$;

-- The department check_request() verified the caller for, in this
-- transaction; else NULL. The restrictive policies below compare it with the
-- role each policy was chosen for (and it refuses a switched role, as
-- current_employee_id() does).
create function epic_events.caller_department() returns text
    language plpgsql stable security definer
    set search_path = pg_catalog, epic_events, pg_temp
as $$
declare
    stamp bigint;
begin
    if current_setting('epic.request_checked', true) = 'on'
       and clock_timestamp() < now() + interval '5 minutes' then
        stamp := currval('epic_events.request_stamp'::regclass);
        if stamp / 4 = (extract(epoch from now()) * 1000000)::bigint then
            if stamp % 4 <> (case current_setting('role') when 'epic_management' then 1
                                                          when 'epic_sales' then 2
                                                          when 'epic_support' then 3 else 0 end) then
                raise exception 'the role in use changed after check_request() in this transaction'
                    using errcode = 'insufficient_privilege';
            end if;
            return case stamp % 4 when 1 then 'management' when 2 then 'sales'
                                  when 3 then 'support' end;
        end if;
    end if;
    return null;
end
$$;
comment on function epic_events.caller_department() is
    'The department check_request() verified the caller for, in this transaction; else NULL.';

-- Every table a department may touch: one restrictive policy per department
-- role, ANDed with the permissive ones. PostgreSQL picks a statement's
-- policies for the role in use when the statement starts; a switch of role
-- half-way through the statement (set_config('role', ...) inside the query,
-- to the role the token was checked for) then still meets the policy of the
-- role it started with, which wants that role's department. Tables added
-- later carry the same three policies (tests/security/test_attacks.py checks).
do $$
declare
    t text;
    d text;
begin
    foreach t in array array['employee', 'company', 'client', 'contract', 'event', 'department',
                             'permission', 'department_permission', 'audit_log'] loop
        foreach d in array array['management', 'sales', 'support'] loop
            execute format(
                'create policy %I on epic_events.%I as restrictive for all to %I'
                ' using ((select epic_events.caller_department()) = %L)'
                ' with check ((select epic_events.caller_department()) = %L)',
                t || '_checked_for_' || d, t, 'epic_' || d, d, d);
        end loop;
    end loop;
end
$$;

comment on function epic_events.current_employee_id() is
    'The calling employee, as check_request() verified them in this transaction and role; else NULL.';

create function epic_events.current_session_id() returns uuid
    language plpgsql stable security definer
    set search_path = pg_catalog, epic_events, pg_temp
as $$
begin
    if epic_events.current_employee_id() is null then
        return null;
    end if;
    return (select s.id from epic_events.session s
             where s.number = currval('epic_events.request_session'::regclass));
end
$$;
comment on function epic_events.current_session_id() is
    'The calling employee''s session, as check_request() verified it in this transaction; else NULL.';

-- ---------------------------------------------------------------------------
-- Changing passwords.
-- ---------------------------------------------------------------------------

-- A password changed (by its owner or reset by management) ends that
-- employee's other sessions; the one that changed it stays.
create function epic_events.revoke_sessions_on_password_change() returns trigger
    language plpgsql security definer
    set search_path = pg_catalog, epic_events, pg_temp
as $$
begin
    -- Same lock as auth_login_result: a login that checked the old password
    -- either opened its session before (revoked here) or waits for this
    -- transaction and then finds the verifier changed.
    perform pg_advisory_xact_lock(hashtextextended('epic_events.sessions_of_employee:' || new.id, 0));
    update epic_events.session
       set revoked_at = now(), revoked_reason = 'password_changed'
     where employee_id = new.id and revoked_at is null
       and id is distinct from epic_events.current_session_id();
    return null;
end
$$;
create trigger employee_password_changed_revokes_sessions
    after update of password_verifier on epic_events.employee
    for each row when (old.password_verifier is distinct from new.password_verifier)
    execute function epic_events.revoke_sessions_on_password_change();

-- A wider check than before.
-- squawk-ignore ban-drop-constraint
alter table epic_events.session drop constraint session_revoked_reason_check;
alter table epic_events.session add constraint session_revoked_reason_check
    check (revoked_reason in ('logout', 'logout_all', 'refresh_token_replayed',
                              'employee_deactivated', 'password_changed'));

-- `epic-events password`: the caller sets a new salt and verifier. They prove
-- the current password by logging in again just before (the CLI does), so the
-- change needs a session opened within the last 5 minutes: a stolen older
-- access token cannot change the password, and guesses of the current one go
-- through the login's count. Their other sessions end (trigger above).
create function epic_events.change_own_password(p_new_salt text, p_new_verifier bytea)
returns void
    language plpgsql volatile security definer
    set search_path = pg_catalog, epic_events, pg_temp
as $$
declare
    me      bigint := epic_events.current_employee_id();
    opened  timestamptz;
begin
    select s.created_at into opened from epic_events.session s
     where s.id = epic_events.current_session_id();
    if me is null or opened is null then
        raise exception 'not logged in' using errcode = 'insufficient_privilege';
    end if;
    if opened < now() - interval '5 minutes' then
        raise exception 'changing your password needs a login of the last 5 minutes'
            using errcode = 'insufficient_privilege',
                  hint = 'Log in again (epic-events password does it for you).';
    end if;
    update epic_events.employee
       set password_salt = p_new_salt, password_verifier = p_new_verifier
     where id = me;
end
$$;
comment on function epic_events.change_own_password(text, bytea) is
    'The caller changes their own password, in a session opened within 5 minutes; their other sessions end.';

-- ---------------------------------------------------------------------------
-- Who may call what. Functions are not executable by PUBLIC (0001).
-- ---------------------------------------------------------------------------
grant execute on function
    epic_events.auth_login_salt(text),
    epic_events.auth_login(text, text),
    epic_events.auth_login_result(uuid),
    epic_events.auth_refresh(text),
    epic_events.auth_logout(text, boolean),
    epic_events.check_request(text),
    epic_events.current_employee_id()
    to epic_authenticator;
-- EXECUTE of check_request is checked before the first statement's
-- set_config('role', …) runs, i.e. as the authenticator; the departments need
-- it too for a second check in the same transaction.
grant execute on function
    epic_events.check_request(text),
    epic_events.current_session_id(),
    epic_events.caller_department(),
    epic_events.change_own_password(text, bytea)
    to epic_management, epic_sales, epic_support;
-- NOTE: current_employee_id() and has_permission() keep their grants (0002).
-- Every other function here is the owner's alone.
