-- Text as people meant it, one client per email, and no manager locking themself out.
-- depends: 0015_database_is_the_authority
--
-- 1. Text columns: no space at either end, no control character (tabs and
--    line breaks are allowed inside event notes). The CLI trims what people
--    type; these checks hold for psql too. Before them, a name typed with a
--    trailing space made a second "unique" company, and an ESC sequence written
--    into a location drove the terminal of whoever exported the event.
--    "Space" is Unicode's White_Space, listed here rather than [[:space:]],
--    whose meaning depends on the database's locale. The text columns not
--    checked here are already held to a stricter format: emails (their check
--    refuses spaces and control characters anywhere; a clean check is added for
--    the Unicode spaces it lets through at the ends), phones (E.164), department
--    names, permission codes and revocation reasons (fixed lists or patterns).
--    NOTE: audit_log's text (the role, table and row key of a change) is
--    written by the audit trigger from the catalog, never typed: history must
--    never refuse to record what happened. The password salt (0015) keeps its
--    own bcrypt format check; login_attempt holds what was typed, unchecked.
-- 2. A client's email is unique whatever its case, as an employee's is.
-- 3. An employee cannot deactivate, delete or move themself to another
--    department (the last-manager guard, 0005, only protects the last one).
--    The admin, who is no employee, is not bound.
--
-- Existing rows are checked first: if any breaks these rules, the migration
-- stops and lists them (table, id, column) for a DBA to fix, instead of
-- failing on the first one with PostgreSQL's constraint error.

-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
set local role epic_owner;

-- 1. Added NOT VALID: they hold for every new write at once; existing rows are
-- checked below, then the constraints validated.
alter table epic_events.employee
    add constraint employee_employee_number_clean
        check (employee_number !~ '[\u0001-\u001f\u007f-\u009f]'
               and employee_number !~ '^[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]|[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$')
        not valid,
    add constraint employee_full_name_clean
        check (full_name !~ '[\u0001-\u001f\u007f-\u009f]'
               and full_name !~ '^[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]|[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$')
        not valid,
    add constraint employee_email_clean
        check (email !~ '[\u0001-\u001f\u007f-\u009f]'
               and email !~ '^[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]|[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$')
        not valid;
alter table epic_events.company
    add constraint company_name_clean
        check (name !~ '[\u0001-\u001f\u007f-\u009f]'
               and name !~ '^[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]|[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$')
        not valid;
alter table epic_events.client
    add constraint client_full_name_clean
        check (full_name !~ '[\u0001-\u001f\u007f-\u009f]'
               and full_name !~ '^[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]|[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$')
        not valid,
    add constraint client_email_clean
        check (email !~ '[\u0001-\u001f\u007f-\u009f]'
               and email !~ '^[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]|[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$')
        not valid;
alter table epic_events.event
    add constraint event_name_clean
        check (name !~ '[\u0001-\u001f\u007f-\u009f]'
               and name !~ '^[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]|[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$')
        not valid,
    add constraint event_location_clean
        check (location !~ '[\u0001-\u001f\u007f-\u009f]'
               and location !~ '^[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]|[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$')
        not valid,
    -- Notes keep their tabs and line breaks inside, not at either end.
    add constraint event_notes_clean
        check (notes !~ '[\u0001-\u0008\u000b-\u001f\u007f-\u009f]'
               and notes !~ '^[\t\n \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]|[\t\n \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$')
        not valid;
alter table epic_events.permission
    add constraint permission_description_clean
        check (description !~ '[\u0001-\u001f\u007f-\u009f]'
               and description !~ '^[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]|[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$')
        not valid;

-- The existing rows, checked against each constraint added above (its own
-- expression, read back from the catalog) and for emails equal but for case.
-- The owner is bound by these tables' policies (FORCE ROW LEVEL SECURITY), and
-- an admin who is not a superuser would be too: the owner reads past them for
-- this check only, inside this transaction, under the locks taken above.
alter table epic_events.employee no force row level security;
alter table epic_events.company no force row level security;
alter table epic_events.client no force row level security;
alter table epic_events.event no force row level security;
alter table epic_events.permission no force row level security;

do $$
declare
    c record;
    found text[];
    offending text[] := '{}';
begin
    for c in
        select con.conrelid::regclass as tbl, con.conrelid::regclass::text as label,
               con.conname, a.attname as col,
               pg_get_expr(con.conbin, con.conrelid) as expr,
               (select k.attname
                  from pg_index i
                  join pg_attribute k on k.attrelid = i.indrelid and k.attnum = i.indkey[0]
                 where i.indrelid = con.conrelid and i.indisprimary) as key
          from pg_constraint con
          join pg_attribute a on a.attrelid = con.conrelid and a.attnum = con.conkey[1]
         where con.connamespace = 'epic_events'::regnamespace
           and con.contype = 'c'
           and not con.convalidated
         order by 1, 3
    loop
        execute format('select array_agg(format(%L, %I) order by %I) from %s where not (%s)',
                       replace(c.label, 'epic_events.', '') || ' %s ' || c.col,
                       c.key, c.key, c.tbl, c.expr)
           into found;
        offending := offending || coalesce(found, '{}');
    end loop;

    select coalesce(array_agg(format('client %s email (the same as client %s but for case)', id, first)
                              order by id), '{}')
      into found
      from (select id, min(id) over (partition by lower(email)) as first
              from epic_events.client) same
     where id <> first;
    offending := offending || found;

    if cardinality(offending) > 0 then
        raise exception '0016_text_and_self_guards: % existing row(s) break its rules; fix them, then apply it again: %',
            cardinality(offending),
            array_to_string(offending[1:50], ', ')
            || case when cardinality(offending) > 50
                    then format(' and %s more (listed in the detail)', cardinality(offending) - 50)
                    else '' end
            using errcode = 'check_violation',
                  detail = array_to_string(offending, E'\n'),
                  hint = 'Remove spaces at either end and control characters (notes may keep tabs and '
                         'line breaks inside); give each client its own email.';
    end if;
end
$$;

alter table epic_events.employee force row level security;
alter table epic_events.company force row level security;
alter table epic_events.client force row level security;
alter table epic_events.event force row level security;
alter table epic_events.permission force row level security;

-- Validated in the same transaction, so the lock taken when they were added
-- is held while each table is read: the check above has just read every row
-- anyway, and one migration is one transaction (yoyo). A DBA with very large
-- tables may apply this outside busy hours.
-- squawk-ignore-file constraint-missing-not-valid
alter table epic_events.employee validate constraint employee_employee_number_clean;
alter table epic_events.employee validate constraint employee_full_name_clean;
alter table epic_events.employee validate constraint employee_email_clean;
alter table epic_events.company validate constraint company_name_clean;
alter table epic_events.client validate constraint client_full_name_clean;
alter table epic_events.client validate constraint client_email_clean;
alter table epic_events.event validate constraint event_name_clean;
alter table epic_events.event validate constraint event_location_clean;
alter table epic_events.event validate constraint event_notes_clean;
alter table epic_events.permission validate constraint permission_description_clean;

-- 2. One client per email, whatever its case (employee_email_key's twin, 0005).
-- CONCURRENTLY cannot run inside the transaction yoyo wraps each migration in,
-- and the duplicates check above must see the same rows: a short write lock.
-- squawk-ignore require-concurrent-index-creation
create unique index client_email_key on epic_events.client (lower(email));

-- 3. Nobody deactivates, deletes or moves themself. Fires after
-- employee_keep_one_manager (triggers run by name): the last manager trying it
-- hears that reason first, as before.
create function epic_events.employee_not_self() returns trigger
    language plpgsql
    set search_path = pg_catalog, epic_events, pg_temp
as $$
begin
    if old.id = epic_events.current_employee_id()
       and (tg_op = 'DELETE'
            or (old.is_active and not new.is_active)
            or new.department is distinct from old.department) then
        raise exception 'employee %: you cannot deactivate, delete or move yourself; ask another manager', old.id
            using errcode = 'insufficient_privilege',
                  constraint = 'employee_not_self',
                  table = 'employee';
    end if;
    return case when tg_op = 'DELETE' then old else new end;
end
$$;
comment on function epic_events.employee_not_self() is
    'BEFORE UPDATE/DELETE on employee: the calling employee cannot deactivate, delete or move themself.';
revoke execute on function epic_events.employee_not_self() from public;

create trigger employee_not_self
    before update of is_active, department or delete on epic_events.employee
    for each row execute function epic_events.employee_not_self();
