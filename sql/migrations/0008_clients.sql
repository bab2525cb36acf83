-- Clients: the people the agency works for, each followed by one sales contact.
-- depends: 0007_companies

-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';

-- Trigram indexes make `client list --search` an index scan, not a table scan.
-- pg_trgm is used wherever it is already installed (a database has it once, in
-- one schema); else it is created in epic_events by the admin running the
-- migration (a trusted extension: CREATE on the database suffices, which the
-- database's owner has; the owner role has none). A non-superuser admin does
-- not inherit the owner's CREATE on epic_events (see 0001): the owner lends it
-- for that one statement.
do $$
declare
    admin text := current_user;
begin
    if exists (select from pg_extension where extname = 'pg_trgm') then
        return;
    end if;
    set local role epic_owner;
    execute format('grant create on schema epic_events to %I', admin);
    reset role;
    create extension pg_trgm with schema epic_events;
    set local role epic_owner;
    execute format('revoke create on schema epic_events from %I', admin);
    reset role;
end
$$;

set local role epic_owner;

create table epic_events.client (
    id               bigint generated always as identity primary key,
    full_name        text not null
                     constraint client_full_name_valid
                     check (btrim(full_name) <> '' and length(full_name) <= 200
                            and full_name !~ '[[:cntrl:]]'),
    email            text not null
                     constraint client_email_valid
                     check (email ~ '^[^@[:space:][:cntrl:]]+@[^@[:space:][:cntrl:]]+\.[^@[:space:][:cntrl:]]+$'
                            and length(email) <= 254),
    phone            text
                     constraint client_phone_valid check (phone ~ '^\+[1-9][0-9]{6,14}$'),
    company_id       bigint references epic_events.company (id) on delete restrict,
    -- Whoever creates the client follows it, unless management names someone.
    sales_contact_id bigint not null default epic_events.current_employee_id()
                     references epic_events.employee (id) on delete restrict,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    last_contact_at  timestamptz
);
create index client_sales_contact_idx on epic_events.client (sales_contact_id, id);
create index client_company_idx on epic_events.client (company_id);
-- The operator class lives in pg_trgm's schema, wherever that is. company (0007)
-- is a small reference table and CONCURRENTLY cannot run inside the transaction
-- yoyo wraps each migration in: a short write lock is the price.
do $$
declare
    trgm text := (select extnamespace::regnamespace::text from pg_extension where extname = 'pg_trgm');
begin
    if not has_schema_privilege('epic_owner', trgm, 'USAGE') then
        raise exception 'epic_owner may not use schema %, where pg_trgm is installed', trgm
            using errcode = 'insufficient_privilege',
                  hint = format('grant usage on schema %s to epic_owner;', trgm);
    end if;
    execute format('create index client_full_name_trgm_idx on epic_events.client'
                   ' using gin (full_name %s.gin_trgm_ops)', trgm);
    execute format('create index client_email_trgm_idx on epic_events.client'
                   ' using gin (email %s.gin_trgm_ops)', trgm);
    execute format('create index company_name_trgm_idx on epic_events.company'
                   ' using gin (name %s.gin_trgm_ops)', trgm);
end
$$;
comment on table epic_events.client is 'Clients; sales_contact_id is an active sales employee.';

alter table epic_events.client enable row level security;
alter table epic_events.client force row level security;

create policy client_read on epic_events.client
    for select to epic_management, epic_sales, epic_support
    using ((select epic_events.current_employee_id()) is not null);
create policy client_create on epic_events.client
    for insert to epic_management, epic_sales, epic_support
    with check ((select epic_events.has_permission('client:create'))
                or ((select epic_events.has_permission('client:create:own'))
                    and sales_contact_id = (select epic_events.current_employee_id())));
create policy client_update on epic_events.client
    for update to epic_management, epic_sales, epic_support
    using ((select epic_events.has_permission('client:update'))
           or ((select epic_events.has_permission('client:update:own'))
               and sales_contact_id = (select epic_events.current_employee_id())))
    with check ((select epic_events.has_permission('client:update'))
                or ((select epic_events.has_permission('client:update:own'))
                    and sales_contact_id = (select epic_events.current_employee_id())));
create policy client_delete on epic_events.client
    for delete to epic_management, epic_sales, epic_support
    using ((select epic_events.has_permission('client:delete')));

grant select on epic_events.client to epic_management, epic_sales, epic_support;
grant insert (full_name, email, phone, company_id, sales_contact_id, last_contact_at)
    on epic_events.client to epic_management, epic_sales;
grant update (full_name, email, phone, company_id, sales_contact_id, last_contact_at), delete
    on epic_events.client to epic_management;
grant update (full_name, email, phone, company_id, last_contact_at)
    on epic_events.client to epic_sales;
-- NOTE: sales cannot change sales_contact_id: reassigning is management's.

create trigger client_touch
    before update on epic_events.client
    for each row execute function epic_events.touch_updated_at();
create trigger client_sales_contact_department
    before insert or update of sales_contact_id on epic_events.client
    for each row execute function epic_events.check_contact('sales_contact_id', 'sales');
create trigger client_audit
    after insert or update or delete on epic_events.client
    for each row execute function epic_events.audit_row_change('id');
