-- The schema says which version it is, so a CLI built for another one stops cleanly.
-- depends: 0023_audit_trail_readable
--
-- Before: a CLI newer than the schema failed every command with exit 70
-- ("function epic_events.check_request() does not exist"), and one older
-- than the schema ran against tables it did not know.
--
-- schema_version() answers the newest migration id yoyo recorded as applied,
-- read from yoyo's own table, so that later migrations need not touch it. The
-- CLI calls it in the request's first statement (session.begin_request: no
-- extra round trip) and at login, compares it with the newest migration it
-- carries, and stops with exit 6 naming both and what to run: `epic-events db
-- migrate` for a schema behind, an upgrade of the CLI for one ahead. A schema
-- older than this migration has no such function: the CLI reads that error
-- the same way.
--
-- yoyo's table: _yoyo_migration, in the schema yoyo found first on the
-- applying login's search_path (public, unless the DSN says ?schema=); found
-- here with that same search_path, before SET ROLE. epic_owner may read its
-- migration ids, nothing else; the admin who applies this migration must be
-- allowed to grant that (the table's owner: whoever applied the first
-- migration, or a superuser).

-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';

do $$
declare
    yoyo regclass := to_regclass('_yoyo_migration');
    qualified text;
begin
    if yoyo is null then
        raise exception 'schema_version: yoyo''s table _yoyo_migration is not on this login''s search_path'
            using hint = 'Apply the migrations with yoyo (epic-events db migrate, or yoyo apply).';
    end if;
    if not has_schema_privilege('epic_owner', (select c.relnamespace from pg_class c where c.oid = yoyo),
                                'usage') then
        execute format('grant usage on schema %I to epic_owner',
                       (select n.nspname from pg_class c join pg_namespace n on n.oid = c.relnamespace
                         where c.oid = yoyo));
    end if;
    -- Qualified: the function's own search_path does not hold yoyo's schema.
    select format('%I.%I', n.nspname, c.relname) into qualified
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.oid = yoyo;
    execute format('grant select (migration_id) on %s to epic_owner', qualified);
    set local role epic_owner;
    execute format('create function epic_events.schema_version() returns text'
                   '    language sql stable security definer'
                   '    set search_path = pg_catalog, epic_events, pg_temp'
                   ' as $f$ select max(migration_id) from %s $f$', qualified);
end
$$;

set local role epic_owner;

comment on function epic_events.schema_version() is
    'The newest migration applied (yoyo''s record): the CLI compares it with the one it was built for.';
-- The CLI's first statement runs as the authenticator, then in a department
-- role: both may ask. It tells a migration id, which the package holds anyway.
grant execute on function epic_events.schema_version()
    to epic_authenticator, epic_management, epic_sales, epic_support;
