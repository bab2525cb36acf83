-- Companies: the organisations clients work for.
-- depends: 0006_sessions_and_auth

-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
set local role epic_owner;

create table epic_events.company (
    id         bigint generated always as identity primary key,
    name       text not null
               constraint company_name_valid
               check (btrim(name) <> '' and length(name) <= 200 and name !~ '[[:cntrl:]]'),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create unique index company_name_key on epic_events.company (lower(name));
comment on table epic_events.company is 'Organisations; a name is unique regardless of case.';

alter table epic_events.company enable row level security;
alter table epic_events.company force row level security;

create policy company_read on epic_events.company
    for select to epic_management, epic_sales, epic_support
    using ((select epic_events.current_employee_id()) is not null);
create policy company_create on epic_events.company
    for insert to epic_management, epic_sales, epic_support
    with check ((select epic_events.has_permission('company:create')));
create policy company_update on epic_events.company
    for update to epic_management, epic_sales, epic_support
    using ((select epic_events.has_permission('company:update')))
    with check ((select epic_events.has_permission('company:update')));
create policy company_delete on epic_events.company
    for delete to epic_management, epic_sales, epic_support
    using ((select epic_events.has_permission('company:delete')));

grant select on epic_events.company to epic_management, epic_sales, epic_support;
grant insert (name) on epic_events.company to epic_management, epic_sales;
grant update (name), delete on epic_events.company to epic_management;
-- NOTE: support creates nothing; sales may add a company while creating a client.

create trigger company_touch
    before update on epic_events.company
    for each row execute function epic_events.touch_updated_at();
create trigger company_audit
    after insert or update or delete on epic_events.company
    for each row execute function epic_events.audit_row_change('id');
