-- Undo 0001: drop the schema, then the roles unless another database still uses them.
-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
-- As the owner: an admin that may SET ROLE epic_owner does not inherit its
-- privileges (see 0001). CASCADE drops what the schema holds whoever owns it
-- (pg_trgm, when a superuser created it there: see 0008's rollback).
do $$
begin
    if exists (select from pg_namespace where nspname = 'epic_events') then
        set local role epic_owner;
        drop schema epic_events cascade;
        reset role;
    end if;
end
$$;

-- epic_owner's database-wide default privileges (no EXECUTE for PUBLIC) are a
-- catalog entry of this database that outlives the schema: back to the built-in
-- default, which removes the entry (and lets the role go below).
do $$
begin
    if exists (select from pg_roles where rolname = 'epic_owner') then
        set local role epic_owner;
        alter default privileges for role epic_owner grant execute on functions to public;
        reset role;
    end if;
end
$$;

-- Roles are cluster-wide: another database on this server (a test clone, staging)
-- may still hold objects or grants of theirs. Drop what is free, keep the rest.
do $$
declare
    r text;
begin
    foreach r in array array['epic_authenticator', 'epic_management', 'epic_sales',
                             'epic_support', 'epic_owner'] loop
        begin
            execute format('drop role if exists %I', r);
        exception when dependent_objects_still_exist or object_in_use then
            raise notice 'role % kept: still used elsewhere on this server', r;
        when insufficient_privilege then
            -- 16+: a CREATEROLE admin drops only roles it has ADMIN on (those it created).
            raise notice 'role % kept: % may not drop it', r, current_user;
        end;
    end loop;
end
$$;
