-- A contact check and a department move of the same employee take turns.
-- depends: 0011_contacts_keep_their_department
--
-- check_contact() (0005) reads the contact's department when a client,
-- contract or event names them; keep_contacts_in_department() (0011) looks
-- for rows naming an employee when they move. Each read the other's
-- uncommitted work as absent (READ COMMITTED), so a reassignment to X and a
-- move of X out of sales, committed at the same time, both passed: a client
-- ended up followed by a support employee (tests/db/test_races.py).
-- Row locks cannot serve: the foreign key's KEY SHARE lock does not conflict
-- with the move's NO KEY UPDATE, and FOR SHARE needs UPDATE rights that sales
-- and support do not hold. So both take an advisory lock on the employee
-- id, for the rest of their transaction: checks share it (assigning one
-- contact to many rows at once never waits), a move holds it alone. Whoever
-- comes second waits, then reads what the first committed, and refuses.
-- (Under REPEATABLE READ the second would still read its old snapshot; the
-- CLI runs READ COMMITTED.)
--
-- Same signatures and messages as before: only the lock is new.

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
    if contact_id is null then
        return new;
    end if;
    -- Shared with other checks, exclusive against a move of this employee
    -- (keep_contacts_in_department): the read below sees a move committed.
    perform pg_advisory_xact_lock_shared(hashtextextended('epic_events.contact_department:' || contact_id, 0));
    if not exists (
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
    -- Alone against every check_contact() naming this employee: the reads
    -- below see the rows those checks let through and committed.
    perform pg_advisory_xact_lock(hashtextextended('epic_events.contact_department:' || old.id, 0));
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
