-- Employees: who works here, in which department, and whether they may log in.
-- depends: 0004_departments_and_permissions

-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
set local role epic_owner;

create sequence epic_events.employee_number_seq;

create table epic_events.employee (
    id              bigint generated always as identity primary key,
    employee_number text not null unique
                    default 'EE' || lpad(nextval('epic_events.employee_number_seq')::text, 5, '0'),
    full_name       text not null
                    constraint employee_full_name_valid
                    check (btrim(full_name) <> '' and length(full_name) <= 200
                           and full_name !~ '[[:cntrl:]]'),
    email           text not null
                    constraint employee_email_valid
                    check (email ~ '^[^@[:space:][:cntrl:]]+@[^@[:space:][:cntrl:]]+\.[^@[:space:][:cntrl:]]+$'
                           and length(email) <= 254),
    -- E.164 (+33612345678): the CLI normalizes what people type.
    phone           text
                    constraint employee_phone_valid check (phone ~ '^\+[1-9][0-9]{6,14}$'),
    department      text not null references epic_events.department (name) on delete restrict,
    -- bcrypt; readable by no department role (see grants below).
    password_hash   text not null
                    constraint employee_password_hash_is_bcrypt check (password_hash ~ '^\$2[aby]\$[0-9]{2}\$'),
    is_active       boolean not null default true,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now()
);
-- Case-insensitive uniqueness; also serves the login lookup.
create unique index employee_email_key on epic_events.employee (lower(email));
create index employee_department_idx on epic_events.employee (department, id);

comment on table epic_events.employee is
    'Staff. Deactivate (is_active = false) rather than delete anyone still referenced.';
comment on column epic_events.employee.password_hash is 'bcrypt hash; no department role may read it.';

alter table epic_events.employee enable row level security;
alter table epic_events.employee force row level security;

-- The staff directory is visible to everyone logged in (contacts are shown by name).
create policy employee_read on epic_events.employee
    for select to epic_management, epic_sales, epic_support
    using ((select epic_events.current_employee_id()) is not null);
create policy employee_create on epic_events.employee
    for insert to epic_management, epic_sales, epic_support
    with check ((select epic_events.has_permission('employee:create')));
create policy employee_update on epic_events.employee
    for update to epic_management, epic_sales, epic_support
    using ((select epic_events.has_permission('employee:update')))
    with check ((select epic_events.has_permission('employee:update')));
create policy employee_delete on epic_events.employee
    for delete to epic_management, epic_sales, epic_support
    using ((select epic_events.has_permission('employee:delete')));
-- The SECURITY DEFINER helpers and auth functions read employees as the owner;
-- `db bootstrap` creates the first manager through bootstrap_manager().
create policy employee_read_by_definer on epic_events.employee
    for select to epic_owner using (true);
create policy employee_bootstrap_by_definer on epic_events.employee
    for insert to epic_owner with check (department = 'management');

grant select (id, employee_number, full_name, email, phone, department, is_active,
              created_at, updated_at)
    on epic_events.employee to epic_management, epic_sales, epic_support;
grant insert (full_name, email, phone, department, password_hash, is_active),
      update (full_name, email, phone, department, password_hash, is_active),
      delete
    on epic_events.employee to epic_management;
grant usage on sequence epic_events.employee_number_seq to epic_management;
-- NOTE: password_hash is writable by management (create, reset) but readable
-- by nobody: login reads it through auth_find_employee() (0006).

create trigger employee_touch
    before update on epic_events.employee
    for each row execute function epic_events.touch_updated_at();
create trigger employee_audit
    after insert or update or delete on epic_events.employee
    for each row execute function epic_events.audit_row_change('id');

-- Nobody may deactivate, move or delete the last active manager: the agency
-- would be locked out of its own CRM.
create function epic_events.keep_one_manager() returns trigger
    language plpgsql
    set search_path = pg_catalog, epic_events
as $$
begin
    if old.department = 'management' and old.is_active
       and (tg_op = 'DELETE' or not new.is_active or new.department <> 'management') then
        -- Serialize concurrent removals of managers so two cannot both pass.
        perform pg_advisory_xact_lock(hashtext('epic_events.keep_one_manager'));
        if not exists (select from epic_events.employee
                        where department = 'management' and is_active and id <> old.id) then
            raise exception 'employee %: cannot remove the last active manager', old.id
                using errcode = 'check_violation',
                      constraint = 'employee_keep_one_manager',
                      table = 'employee';
        end if;
    end if;
    return case when tg_op = 'DELETE' then old else new end;
end
$$;
create trigger employee_keep_one_manager
    before update of is_active, department or delete on epic_events.employee
    for each row execute function epic_events.keep_one_manager();

-- Clients, contracts and events name their contacts; a contact must be an
-- active employee of the right department when it is set.
-- Arguments: the contact column, the department it must belong to.
create function epic_events.check_contact() returns trigger
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
comment on function epic_events.check_contact() is
    'BEFORE trigger: tg_argv[0] (a contact column) must be an active employee of department tg_argv[1].';

-- Creates the very first manager (`epic-events db bootstrap`), through the
-- admin connection; refuses once any management account exists.
create function epic_events.bootstrap_manager(
    p_full_name text, p_email text, p_phone text, p_password_hash text
) returns bigint
    language plpgsql security definer
    set search_path = pg_catalog, epic_events
as $$
declare
    new_id bigint;
begin
    perform pg_advisory_xact_lock(hashtext('epic_events.bootstrap_manager'));
    if exists (select from epic_events.employee where department = 'management') then
        raise exception 'a management account already exists: use `epic-events employee create`'
            using errcode = 'unique_violation', constraint = 'employee_bootstrap_once';
    end if;
    insert into epic_events.employee (full_name, email, phone, department, password_hash)
    values (p_full_name, p_email, p_phone, 'management', p_password_hash)
    returning id into new_id;
    return new_id;
end
$$;
-- NOTE: executable by the owner (and superusers) only; departments never.
