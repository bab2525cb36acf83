-- Numbers for management: the permission code report:read.
-- depends: 0020_login_hint
--
-- `epic-events report sales|events` runs the named queries of
-- sql/queries/report.sql. Each figure reads tables everyone logged in already
-- reads (contract, payment, event, employee), so no grant changes: what this
-- code decides is whether the report queries return anything. Every query of
-- report.sql filters its rows with (select epic_events.has_permission('report:read')),
-- so a department without the code gets no figures, whatever client runs the
-- query; the CLI asks the same function first to say why. Management holds it
-- by default; `role grant|revoke` moves it at run time, like every code.

-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
set local role epic_owner;

-- The catalog and the seeded right, as 0004 wrote them. Under FORCE RLS the
-- owner writes neither table; a policy for this transaction only lets it.
create policy permission_seed_0021 on epic_events.permission
    for all to epic_owner using (true) with check (true);
create policy department_permission_seed_0021 on epic_events.department_permission
    for all to epic_owner using (true) with check (true);
-- Seeding is the migration's, not a grant by someone: unaudited, as in 0004.
alter table epic_events.department_permission disable trigger department_permission_audit;
insert into epic_events.permission (code, description) values
    ('report:read', 'read the sales and events reports (report sales, report events)');
insert into epic_events.department_permission (department, permission_code) values
    ('management', 'report:read');
drop policy permission_seed_0021 on epic_events.permission;
alter table epic_events.department_permission enable trigger department_permission_audit;
drop policy department_permission_seed_0021 on epic_events.department_permission;
