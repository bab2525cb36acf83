-- Admin connection only: `epic-events db backup` and `db restore` (epic_events/backup.py).

-- name: login-sees-every-row^
-- pg_dump reads every row only as a superuser or a role with BYPASSRLS: for
-- anyone else it refuses (or, with --enable-row-security, dumps what the
-- policies show: 0 rows of most tables here).
select current_user as login, r.rolsuper or r.rolbypassrls as sees_every_row
  from pg_catalog.pg_roles r
 where r.rolname = current_user;

-- name: row-security-off$
-- For this transaction: a query a policy would filter raises an error instead
-- of answering with fewer rows (superusers and BYPASSRLS roles are not filtered).
select pg_catalog.set_config('row_security', 'off', true);

-- name: export-snapshot$
-- The transaction's snapshot, for pg_dump --snapshot: the dump and the counts
-- below see the very same rows.
select pg_catalog.pg_export_snapshot();

-- name: count-table-rows!
-- Counts the rows of every table whose rows pg_dump dumps (not the catalogs',
-- not an extension's own), in this transaction's snapshot, and keeps them for
-- `counted-table-rows` in a transaction-local setting: {"schema.table": n},
-- each name as pg_dump writes it in the archive (format's %I quoting). The
-- table names come from the catalog, never from the caller.
do $$
declare
    counts jsonb := '{}';
    target record;
    how_many bigint;
begin
    for target in
        select pg_catalog.format('%I.%I', n.nspname, c.relname) as qualified_name
          from pg_catalog.pg_class c
          join pg_catalog.pg_namespace n on n.oid = c.relnamespace
         where c.relkind = 'r'
           and n.nspname <> all (array['pg_catalog', 'information_schema'])
           and n.nspname !~ '^pg_(toast|temp_)'
           and not exists (select from pg_catalog.pg_depend d
                            where d.classid = 'pg_catalog.pg_class'::regclass
                              and d.objid = c.oid and d.deptype = 'e')
    loop
        execute pg_catalog.format('select pg_catalog.count(*) from %s', target.qualified_name)
           into how_many;
        counts := counts || pg_catalog.jsonb_build_object(target.qualified_name, how_many);
    end loop;
    perform pg_catalog.set_config('epic.backup_row_counts', counts::text, true);
end
$$;

-- name: counted-table-rows$
-- What `count-table-rows` found, earlier in this transaction.
select pg_catalog.current_setting('epic.backup_row_counts')::jsonb;

-- name: objects-in-the-way
-- What makes a database non-empty for a restore: schemas other than public,
-- and tables, views, sequences, functions or types of its own in any schema.
select kind, pg_catalog.count(*) as how_many,
       pg_catalog.string_agg(name, ', ' order by name) as names
  from (select 'schema' as kind, n.nspname::text as name
          from pg_catalog.pg_namespace n
         where n.nspname <> all (array['public', 'information_schema'])
           and n.nspname !~ '^pg_'
        union all
        select 'relation', pg_catalog.format('%I.%I', n.nspname, c.relname)
          from pg_catalog.pg_class c
          join pg_catalog.pg_namespace n on n.oid = c.relnamespace
         where c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
           and n.nspname <> all (array['pg_catalog', 'information_schema'])
           and n.nspname !~ '^pg_(toast|temp_)'
        union all
        select 'function', p.oid::regprocedure::text
          from pg_catalog.pg_proc p
          join pg_catalog.pg_namespace n on n.oid = p.pronamespace
         where n.nspname <> all (array['pg_catalog', 'information_schema'])
           and not exists (select from pg_catalog.pg_depend d
                            where d.classid = 'pg_catalog.pg_proc'::regclass
                              and d.objid = p.oid and d.deptype = 'e')) as o
 group by kind
 order by kind;

-- name: database-settings!
-- After a restore: what migration 0015 set on the database itself, which
-- pg_dump does not carry (it dumps a database's contents, not the database):
-- no TEMP for PUBLIC, and the authenticator's timeouts in this database.
-- Keep in step with 0015.
do $$
begin
    execute format('revoke temporary on database %I from public', current_database());
    execute format('alter role epic_authenticator in database %I set statement_timeout = %L',
                   current_database(), '30s');
    execute format('alter role epic_authenticator in database %I set lock_timeout = %L',
                   current_database(), '5s');
    execute format('alter role epic_authenticator in database %I set idle_in_transaction_session_timeout = %L',
                   current_database(), '60s');
end
$$;
