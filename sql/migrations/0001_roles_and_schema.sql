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
-- Roles are cluster-wide and several databases (test clones, staging) may share
-- one server, so they are created only when missing and never altered here.

-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';

do $$
begin
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
    -- A non-superuser admin (managed PostgreSQL) must be able to SET ROLE to the
    -- owner to run the migrations below; a superuser already can.
    if not (select rolsuper from pg_roles where rolname = current_user)
       and not pg_has_role(current_user, 'epic_owner', 'member') then
        execute format('grant epic_owner to %I', current_user);
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

-- Everything after this line in every migration is owned by epic_owner.
set local role epic_owner;

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
