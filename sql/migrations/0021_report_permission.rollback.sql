-- Undo 0021: the permission code report:read.
-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
set local role epic_owner;
create policy permission_seed_0021 on epic_events.permission
    for all to epic_owner using (true) with check (true);
create policy department_permission_seed_0021 on epic_events.department_permission
    for all to epic_owner using (true) with check (true);
-- Seeding is the migration's, not a grant by someone: unaudited, as in 0004.
alter table epic_events.department_permission disable trigger department_permission_audit;
delete from epic_events.department_permission where permission_code = 'report:read';
delete from epic_events.permission where code = 'report:read';
drop policy permission_seed_0021 on epic_events.permission;
alter table epic_events.department_permission enable trigger department_permission_audit;
drop policy department_permission_seed_0021 on epic_events.department_permission;
