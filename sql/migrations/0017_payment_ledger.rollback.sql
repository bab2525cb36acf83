-- Undo 0017: the payment ledger. amount_due keeps the value the ledger gave it.
-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
set local role epic_owner;
drop trigger contract_opening_balance on epic_events.contract;
drop trigger contract_amount_due_follows_ledger on epic_events.contract;
drop table epic_events.payment;
drop function epic_events.contract_opening_balance();
drop function epic_events.contract_amount_due_follows_ledger();
drop function epic_events.payment_updates_amount_due();
drop function epic_events.payment_checks_the_balance();
grant update (amount_due) on epic_events.contract to epic_management, epic_sales;
create policy permission_seed_0017 on epic_events.permission
    for all to epic_owner using (true) with check (true);
create policy department_permission_seed_0017 on epic_events.department_permission
    for all to epic_owner using (true) with check (true);
-- Seeding is the migration's, not a grant by someone: unaudited, as in 0004.
alter table epic_events.department_permission disable trigger department_permission_audit;
delete from epic_events.department_permission
 where permission_code in ('payment:create', 'payment:create:own', 'payment:correct');
delete from epic_events.permission
 where code in ('payment:create', 'payment:create:own', 'payment:correct');
drop policy permission_seed_0017 on epic_events.permission;
alter table epic_events.department_permission enable trigger department_permission_audit;
drop policy department_permission_seed_0017 on epic_events.department_permission;
