-- Roles and the epic_events schema: the security boundary everything else relies on.
--
-- Who is who:
--   epic_owner          owns every object; never used by the CLI at run time.
--   epic_authenticator  the CLI's login: NOINHERIT and no privileges of its own;
--                       it may only run the auth functions (0006) and SET ROLE
--                       to one department role per transaction.
--   epic_management, epic_sales, epic_support
--                       the departments: their table/column grants are the
--                       ceiling of what the department may ever do; RLS
--                       narrows that to rows.
--
-- Roles are cluster-wide, so one cluster serves one environment: 0001 refuses
-- to install into a second database of a cluster whose epic_* roles already
-- serve another one (staging's admin would own production's data). Only a
-- development server holding many test databases opts out, for its session:
--   PGOPTIONS='-c epic.allow_shared_cluster=on'   (never in production)
-- The roles are created only when missing and never altered here.
--
-- Who runs this: a superuser, or an admin login with CREATEROLE that owns the
-- database (managed PostgreSQL). That admin must be able to SET ROLE epic_owner
-- (every migration builds as the owner) but must not inherit its privileges:
-- an inheriting admin would pass the owner's policies in every query it runs.
--   PostgreSQL 16+: membership options are per grant. A CREATEROLE creator gets
--     ADMIN only on the roles it creates; 0001 adds SET, never INHERIT.
--   PostgreSQL 15: inheritance is the member's attribute (rolinherit), not the
--     grant's, so the admin itself must be NOINHERIT; an INHERIT admin is
--     refused with the statement that fixes it.

-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';

do $$
declare
    other_database text;
begin
    select d.datname into other_database
      from pg_shdepend s
      join pg_database d on d.oid = s.dbid
     where s.refclassid = 'pg_authid'::regclass
       and s.refobjid in (select oid from pg_roles where rolname like 'epic\_%')
       and d.datname <> current_database()
     order by 1
     limit 1;
    if other_database is not null
       and coalesce(current_setting('epic.allow_shared_cluster', true), '') <> 'on' then
        raise exception 'the epic_* roles of this cluster already serve database "%"', other_database
            using errcode = 'insufficient_privilege',
                  detail = 'Roles are cluster-wide: a second environment here would share its owner '
                           'and authenticator with that one, so either one''s admin would own the other''s data.',
                  hint = 'Install each environment into a cluster of its own, or roll back the other '
                         'installation first. Development servers with many test databases only: '
                         'connect with PGOPTIONS=''-c epic.allow_shared_cluster=on''.';
    end if;
end
$$;

do $$
declare
    is_superuser boolean := (select rolsuper from pg_roles where rolname = current_user);
    per_grant_options boolean := current_setting('server_version_num')::int >= 160000;
begin
    if not is_superuser and not per_grant_options
       and (select rolinherit from pg_roles where rolname = current_user) then
        raise exception 'PostgreSQL 15: the admin running the migrations must be NOINHERIT'
            using errcode = 'insufficient_privilege',
                  detail = format('%I would inherit epic_owner''s privileges and pass its row-level '
                                  'policies in every query; before 16, inheritance belongs to the '
                                  'member, not to the grant.', current_user),
                  hint = format('alter role %I noinherit; (or run the migrations as a dedicated '
                                'NOINHERIT login with CREATEROLE that owns the database)', current_user);
    end if;
    if per_grant_options then
        -- A CREATEROLE creator gets exactly ADMIN on what it creates, whatever
        -- createrole_self_grant says elsewhere (SET is granted below, INHERIT never).
        perform set_config('createrole_self_grant', '', true);
    end if;
    if not exists (select from pg_roles where rolname = 'epic_owner') then
        create role epic_owner nologin;
    end if;
    if not exists (select from pg_roles where rolname = 'epic_authenticator') then
        -- No password here: secrets never live in migrations. The DBA sets it
        -- with \password epic_authenticator (see README, "Deploying").
        create role epic_authenticator login noinherit;
    end if;
    if not exists (select from pg_roles where rolname = 'epic_management') then
        create role epic_management nologin;
    end if;
    if not exists (select from pg_roles where rolname = 'epic_sales') then
        create role epic_sales nologin;
    end if;
    if not exists (select from pg_roles where rolname = 'epic_support') then
        create role epic_support nologin;
    end if;
    if is_superuser then
        return;  -- may SET ROLE to anyone, and needs no membership
    end if;
    -- pg_has_role(..., 'MEMBER') is true for the creator's ADMIN-only
    -- membership on 16+; what the migrations need is SET (16+ only).
    if per_grant_options then
        if not pg_has_role(current_user, 'epic_owner', 'SET') then
            execute format('grant epic_owner to %I with set true, inherit false', current_user);
        end if;
    elsif not pg_has_role(current_user, 'epic_owner', 'MEMBER') then
        execute format('grant epic_owner to %I', current_user);  -- NOINHERIT: checked above
    end if;
    -- 'USAGE' = has the role's privileges without SET ROLE (inherits them).
    if pg_has_role(current_user, 'epic_owner', 'USAGE') then
        raise exception '% inherits epic_owner''s privileges', current_user
            using errcode = 'insufficient_privilege',
                  detail = 'An inheriting admin passes the owner''s row-level policies in every query.',
                  hint = format('As the grantor of that membership: grant epic_owner to %I with inherit false;',
                                current_user);
    end if;
end
$$;

-- The authenticator switches into a department for one transaction at a time.
grant epic_management, epic_sales, epic_support to epic_authenticator;

-- Unqualified names in the CLI's queries resolve here, and nowhere writable.
alter role epic_authenticator set search_path = epic_events, pg_catalog;
alter role epic_management set search_path = epic_events, pg_catalog;
alter role epic_sales set search_path = epic_events, pg_catalog;
alter role epic_support set search_path = epic_events, pg_catalog;

-- Lock down before building: nobody gets anything by default.
revoke create on schema public from public;

create schema epic_events authorization epic_owner;

-- Everything after this line in every migration is done as epic_owner (an
-- admin that does not inherit its privileges could not do it otherwise).
set local role epic_owner;

comment on schema epic_events is
    'Epic Events CRM. Every rule (constraints, triggers, grants, RLS) lives here.';

grant usage on schema epic_events
    to epic_authenticator, epic_management, epic_sales, epic_support;

-- Functions are executable by PUBLIC by default; here nothing is, unless granted.
-- This must be the database-wide default of epic_owner (no IN SCHEMA): a
-- per-schema default can only add to the global one, so "revoke ... in schema"
-- would leave PUBLIC's EXECUTE in place (bootstrap_manager would be callable by
-- anyone). The 0001 rollback restores the built-in default.
alter default privileges for role epic_owner
    revoke execute on functions from public;

-- A strictly increasing updated_at: it doubles as the row version that the CLI
-- checks to refuse a stale write (two edits in one microsecond still differ).
create function epic_events.touch_updated_at() returns trigger
    language plpgsql
    set search_path = pg_catalog
as $$
begin
    new.updated_at := greatest(now(), old.updated_at + interval '1 microsecond');
    return new;
end
$$;
comment on function epic_events.touch_updated_at() is
    'BEFORE UPDATE trigger: updated_at is set by the database, never by a client.';
