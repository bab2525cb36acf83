-- Departments, the permission catalog, and what each department holds by default.
-- depends: 0003_audit_log
--
-- Two layers decide what a department may do:
--   1. SQL grants to epic_<department> (in each table's migration): the
--      ceiling, changed only by a migration;
--   2. department_permission rows: what the RLS policies consult, changed at
--      run time by management with `epic-events role grant|revoke`, and
--      effective on the next statement.
-- Granting a code above the ceiling has no effect: e.g. support holds no
-- INSERT on client, so client:create would change nothing for support.
--
-- Codes read resource:action[:scope]; the scope narrows the rows:
--   own         rows whose sales_contact_id is the caller
--   own_client  events of contracts whose sales_contact_id is the caller
--   assigned    events whose support_contact_id is the caller
-- Reading is not a permission: everyone logged in reads every company, client,
-- contract and event (the agency's rule), so it is written into the policies.

-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
set local role epic_owner;

create table epic_events.department (
    name      text primary key check (name in ('management', 'sales', 'support')),
    -- The database role a member of this department acts as.
    role_name name not null unique
);
comment on table epic_events.department is 'The three departments and the role each acts as.';

insert into epic_events.department (name, role_name) values
    ('management', 'epic_management'),
    ('sales',      'epic_sales'),
    ('support',    'epic_support');

create table epic_events.permission (
    code        text primary key check (code ~ '^[a-z_]+:[a-z_]+(:[a-z_]+)?$'),
    description text not null
);
comment on table epic_events.permission is 'The catalog of permission codes the policies understand.';

insert into epic_events.permission (code, description) values
    ('employee:create',        'create employees'),
    ('employee:update',        'update, deactivate and reactivate employees, reset passwords'),
    ('employee:delete',        'hard-delete employees nothing refers to'),
    ('company:create',         'create companies'),
    ('company:update',         'rename companies'),
    ('company:delete',         'delete companies no client refers to'),
    ('client:create',          'create clients for any sales contact'),
    ('client:create:own',      'create clients with oneself as sales contact'),
    ('client:update',          'update and reassign any client (its contracts follow)'),
    ('client:update:own',      'update the clients one is the sales contact of'),
    ('client:delete',          'delete clients without contracts'),
    ('contract:create',        'create contracts for any client'),
    ('contract:update',        'update and reassign any contract'),
    ('contract:update:own',    'update the contracts one is the sales contact of'),
    ('contract:sign',          'sign any contract'),
    ('contract:sign:own',      'sign the contracts one is the sales contact of'),
    ('contract:delete',        'delete contracts without events'),
    ('event:create',           'create events on any signed contract'),
    ('event:create:own_client','create events on signed contracts one is the sales contact of'),
    ('event:update',           'update any event and assign its support contact'),
    ('event:update:assigned',  'update the events one is the support contact of'),
    ('event:delete',           'delete events');

create table epic_events.department_permission (
    department      text not null references epic_events.department (name) on delete cascade,
    permission_code text not null references epic_events.permission (code) on delete cascade,
    granted_at      timestamptz not null default now(),
    primary key (department, permission_code)
);
comment on table epic_events.department_permission is
    'Which department holds which permission code; management edits it at run time.';

-- SPEC.md "Default rights".
insert into epic_events.department_permission (department, permission_code)
select 'management', code from epic_events.permission
 where code in ('employee:create', 'employee:update', 'employee:delete',
                'company:create', 'company:update', 'company:delete',
                'client:create', 'client:update', 'client:delete',
                'contract:create', 'contract:update', 'contract:sign', 'contract:delete',
                'event:update', 'event:delete')
union all
select 'sales', code from epic_events.permission
 where code in ('company:create', 'client:create:own', 'client:update:own',
                'contract:update:own', 'contract:sign:own', 'event:create:own_client')
union all
select 'support', code from epic_events.permission
 where code in ('event:update:assigned');

alter table epic_events.department enable row level security;
alter table epic_events.department force row level security;
alter table epic_events.permission enable row level security;
alter table epic_events.permission force row level security;
alter table epic_events.department_permission enable row level security;
alter table epic_events.department_permission force row level security;

-- Everyone logged in may see the departments and the rights of each.
create policy department_read on epic_events.department
    for select to epic_management, epic_sales, epic_support
    using ((select epic_events.current_employee_id()) is not null);
create policy permission_read on epic_events.permission
    for select to epic_management, epic_sales, epic_support
    using ((select epic_events.current_employee_id()) is not null);
create policy department_permission_read on epic_events.department_permission
    for select to epic_management, epic_sales, epic_support
    using ((select epic_events.current_employee_id()) is not null);
-- Granting and revoking is management's, and deliberately not itself a
-- permission code: management cannot revoke its own way back.
create policy department_permission_grant on epic_events.department_permission
    for insert to epic_management
    with check ((select epic_events.current_employee_id()) is not null);
create policy department_permission_revoke on epic_events.department_permission
    for delete to epic_management
    using ((select epic_events.current_employee_id()) is not null);
-- The SECURITY DEFINER helpers (0002) read these as the owner.
create policy department_read_by_helpers on epic_events.department
    for select to epic_owner using (true);
create policy department_permission_read_by_helpers on epic_events.department_permission
    for select to epic_owner using (true);

grant select on epic_events.department, epic_events.permission, epic_events.department_permission
    to epic_management, epic_sales, epic_support;
grant insert (department, permission_code), delete on epic_events.department_permission
    to epic_management;
-- NOTE: the catalog itself (permission) changes only by migration: the
-- policies must understand every code in it.

create trigger department_permission_audit
    after insert or update or delete on epic_events.department_permission
    for each row execute function epic_events.audit_row_change('department', 'permission_code');
