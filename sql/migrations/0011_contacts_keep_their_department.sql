-- A contact keeps the department that made them a contact.
-- depends: 0010_events
--
-- check_contact() (0005) checks a client's, contract's or event's contact when
-- that row is written. Moving an employee to another department must not
-- undo it from the other side: a sales employee who is still the sales
-- contact of a client or contract cannot move out of sales, nor a support
-- employee still assigned to an event out of support. Reassign first
-- (`client reassign`, `contract reassign`, `event assign-support`).
-- Deactivation stays allowed: a former contact remains on record.

set local role epic_owner;
set local lock_timeout = '5s';
set local statement_timeout = '1min';

create function epic_events.keep_contacts_in_department() returns trigger
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
comment on function epic_events.keep_contacts_in_department() is
    'BEFORE UPDATE OF department on employee: refuse to move someone who is still a contact.';

create trigger employee_contacts_keep_department
    before update of department on epic_events.employee
    for each row when (old.department is distinct from new.department)
    execute function epic_events.keep_contacts_in_department();
