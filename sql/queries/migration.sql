-- name: tables
-- The tables of the epic_events schema (none before 0001).
select c.relname as name
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
 where n.nspname = 'epic_events'
   and c.relkind in ('r', 'p')
 order by c.relname;

-- name: choose-tables-to-count!
-- The tables count-rows counts: a JSON array of table names of epic_events.
select set_config('epic.count_tables', :tables, true);

-- name: count-rows!
-- Exact row counts of the chosen tables, into epic.row_counts (JSON), as their
-- owner with FORCE ROW LEVEL SECURITY lifted: no policy hides a row that a
-- rollback would drop. The caller rolls this transaction back (the ALTERs too).
do $$
declare
    t text;
    n bigint;
    counts jsonb := '{}';
begin
    set local lock_timeout = '5s';
    set local role epic_owner;
    for t in select jsonb_array_elements_text(current_setting('epic.count_tables')::jsonb) loop
        if to_regclass(format('epic_events.%I', t)) is not null then
            execute format('alter table epic_events.%I no force row level security', t);
            execute format('select count(*) from epic_events.%I', t) into n;
            counts := counts || jsonb_build_object(t, n);
        end if;
    end loop;
    perform set_config('epic.row_counts', counts::text, true);
end
$$;

-- name: row-counts$
-- What count-rows found: {table: rows}.
select current_setting('epic.row_counts')::jsonb;
