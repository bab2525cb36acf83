-- Offboarding: deactivate an employee and hand what they hold to a colleague, at once.
-- depends: 0017_payment_ledger
--
-- Deactivating Selim left his clients with someone who is gone. Now
-- `employee deactivate ID --reassign-to OTHER` calls offboard_employee(),
-- which in one statement (so one transaction) moves
--   sales:   their clients (their contracts follow, client_reassign_moves_contracts)
--            and any other contract they are still the sales contact of;
--   support: their events that have not started yet (past events keep them:
--            that is who ran them);
-- to OTHER, then deactivates them (their sessions are revoked, 0006).
-- OTHER must be an active employee of the same department, and not them.
-- All or nothing: if the caller's policies hid any of those rows, or the
-- employee's own, the whole statement is refused.
--
-- SECURITY INVOKER: each move is the caller's own UPDATE, so the grants and
-- policies decide as for `client reassign`, `contract reassign`,
-- `event assign-support` and `employee deactivate` (management, by default),
-- and check_contact() checks every new contact. Only the target's
-- department check is new: it also holds when there is nothing to move.

-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
set local role epic_owner;

create function epic_events.offboard_employee(p_employee_id bigint, p_reassign_to bigint)
    returns table (clients bigint, contracts bigint, events bigint)
    language plpgsql security invoker
    set search_path = pg_catalog, epic_events, pg_temp
as $$
declare
    leaver_department text;
    target_department text;
    target_active     boolean;
begin
    clients := 0;
    contracts := 0;
    events := 0;
    select e.department into leaver_department
      from epic_events.employee e
     where e.id = p_employee_id;
    if not found then
        return;  -- nothing to do; the caller says "not found"
    end if;
    -- Alone against every check_contact() naming the leaver (0012): a client,
    -- contract or event given to them meanwhile waits, then sees them
    -- inactive and is refused, instead of landing after the handover.
    perform pg_advisory_xact_lock(hashtextextended('epic_events.contact_department:' || p_employee_id, 0));
    if p_reassign_to is not null then
        if p_reassign_to = p_employee_id then
            raise exception 'reassign-to: employee % cannot take over from themself', p_employee_id
                using errcode = 'check_violation', constraint = 'employee_offboard_target',
                      table = 'employee', column = 'id';
        end if;
        -- FOR SHARE: the target cannot be deactivated or moved until this
        -- commits. (It locks nothing for a caller without employee:update,
        -- who is refused below anyway.)
        perform from epic_events.employee e where e.id = p_reassign_to for share;
        select e.department, e.is_active into target_department, target_active
          from epic_events.employee e
         where e.id = p_reassign_to;
        if not found or not target_active or target_department <> leaver_department then
            raise exception 'reassign-to: employee % is not an active % employee', p_reassign_to, leaver_department
                using errcode = 'check_violation', constraint = 'employee_offboard_target',
                      table = 'employee', column = 'id';
        end if;
        if leaver_department = 'sales' then
            select count(*) into contracts
              from epic_events.contract k
             where k.sales_contact_id = p_employee_id;
            update epic_events.client c
               set sales_contact_id = p_reassign_to
             where c.sales_contact_id = p_employee_id;
            get diagnostics clients = row_count;
            update epic_events.contract k
               set sales_contact_id = p_reassign_to
             where k.sales_contact_id = p_employee_id;
        elsif leaver_department = 'support' then
            update epic_events.event v
               set support_contact_id = p_reassign_to
             where v.support_contact_id = p_employee_id
               and v.starts_at >= now();
            get diagnostics events = row_count;
        end if;
        -- All or nothing: a row the caller's policies hid was not moved.
        if exists (select from epic_events.client c where c.sales_contact_id = p_employee_id)
           or exists (select from epic_events.contract k where k.sales_contact_id = p_employee_id)
           or exists (select from epic_events.event v
                       where v.support_contact_id = p_employee_id and v.starts_at >= now()) then
            raise exception 'employee %: not everything they hold could be handed over', p_employee_id
                using errcode = 'insufficient_privilege',
                      hint = 'Handing over needs client:update and contract:update (sales) or event:update (support).';
        end if;
    end if;
    update epic_events.employee e
       set is_active = false
     where e.id = p_employee_id
       and e.is_active;
    if exists (select from epic_events.employee e where e.id = p_employee_id and e.is_active) then
        raise exception 'employee %: deactivating needs employee:update', p_employee_id
            using errcode = 'insufficient_privilege';
    end if;
    return next;
end
$$;
comment on function epic_events.offboard_employee(bigint, bigint) is
    'Deactivate an employee; with a colleague of the same department, hand over their clients and contracts (sales) or future events (support) first.';

grant execute on function epic_events.offboard_employee(bigint, bigint) to epic_management;
-- NOTE: granted to management only; as SECURITY INVOKER it could do no more
-- for anyone else than their own grants and policies allow.
