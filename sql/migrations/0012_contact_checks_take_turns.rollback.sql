-- Undo 0012: the contact checks of 0005 and 0011 again, without the lock.
-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
set local role epic_owner;

create or replace function epic_events.check_contact() returns trigger
    language plpgsql
    set search_path = pg_catalog, epic_events
as $$
declare
    contact_column text := tg_argv[0];
    wanted text := tg_argv[1];
    contact_id bigint := (to_jsonb(new) ->> contact_column)::bigint;
begin
    if contact_id is not null and not exists (
        select from epic_events.employee
         where id = contact_id and department = wanted and is_active) then
        raise exception '%: employee % is not an active % employee', contact_column, contact_id, wanted
            using errcode = 'check_violation',
                  column = contact_column,
                  table = tg_table_name,
                  constraint = tg_table_name || '_' || contact_column || '_department';
    end if;
    return new;
end
$$;

create or replace function epic_events.keep_contacts_in_department() returns trigger
    language plpgsql
    set search_path = pg_catalog, epic_events
as $$
begin
    if old.department = 'sales' and new.department <> 'sales'
       and (exists (select from epic_events.client where sales_contact_id = old.id)
            or exists (select from epic_events.contract where sales_contact_id = old.id)) then
        raise exception 'employee %: still the sales contact of clients or contracts; reassign them first', old.id
            using errcode = 'check_violation', constraint = 'employee_contacts_keep_department',
                  table = 'employee', column = 'department';
    end if;
    if old.department = 'support' and new.department <> 'support'
       and exists (select from epic_events.event where support_contact_id = old.id) then
        raise exception 'employee %: still the support contact of events; reassign them first', old.id
            using errcode = 'check_violation', constraint = 'employee_contacts_keep_department',
                  table = 'employee', column = 'department';
    end if;
    return new;
end
$$;
