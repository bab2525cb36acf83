-- The audit log: an append-only record of every change to business data.
-- depends: 0002_session_helpers
--
-- Written only by the audit_row_change() trigger, attached to each business
-- table by that table's own migration. Nobody may update or delete a row: no
-- role holds UPDATE/DELETE/TRUNCATE, and a trigger refuses them even for the
-- owner or a superuser, short of disabling the trigger. That is DDL, and
-- reaches the server log only with log_statement = 'ddl' (or pgaudit): with
-- the default, 'none', it leaves no trace (README, "The audit trail").

-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
set local role epic_owner;

create table epic_events.audit_log (
    id          bigint generated always as identity primary key,
    occurred_at timestamptz not null default now(),
    -- No foreign key: history outlives a hard-deleted employee.
    employee_id bigint,
    -- The department role (or the admin login) that made the change.
    db_role     text not null,
    table_name  text not null,
    row_id      text not null,
    action      text not null check (action in ('insert', 'update', 'delete')),
    -- {"column": {"old": ..., "new": ...}} for the columns that changed.
    changes     jsonb not null
);
create index audit_log_row_idx on epic_events.audit_log (table_name, row_id, id);
create index audit_log_employee_idx on epic_events.audit_log (employee_id, id);

comment on table epic_events.audit_log is
    'Append-only: who changed what, when, old -> new. Written by audit_row_change().';

alter table epic_events.audit_log enable row level security;
alter table epic_events.audit_log force row level security;

-- Management reads the history; nobody else does.
create policy audit_log_read on epic_events.audit_log
    for select to epic_management
    using ((select epic_events.current_employee_id()) is not null);
-- The audit trigger runs as the owner (SECURITY DEFINER) and only appends.
create policy audit_log_append_by_trigger on epic_events.audit_log
    for insert to epic_owner
    with check (true);

grant select on epic_events.audit_log to epic_management;
-- NOTE: no INSERT, UPDATE, DELETE or TRUNCATE for any department role.
revoke update, delete, truncate on epic_events.audit_log from epic_owner;

create function epic_events.refuse_audit_change() returns trigger
    language plpgsql
    set search_path = pg_catalog
as $$
begin
    raise exception 'audit_log is append-only'
        using errcode = 'insufficient_privilege',
              hint = 'History is never rewritten.';
end
$$;

create trigger audit_log_append_only
    before update or delete on epic_events.audit_log
    for each row execute function epic_events.refuse_audit_change();
create trigger audit_log_no_truncate
    before truncate on epic_events.audit_log
    for each statement execute function epic_events.refuse_audit_change();

-- AFTER INSERT/UPDATE/DELETE row trigger. Arguments: the key column(s) naming
-- the row. Secrets (password_hash) are recorded as changed, never by value.
create function epic_events.audit_row_change() returns trigger
    language plpgsql security definer
    set search_path = pg_catalog, epic_events
as $$
declare
    old_row jsonb := case when tg_op <> 'INSERT' then to_jsonb(old) - 'password_hash' end;
    new_row jsonb := case when tg_op <> 'DELETE' then to_jsonb(new) - 'password_hash' end;
    key_row jsonb := coalesce(new_row, old_row);
    changed jsonb;
    row_key text;
begin
    select string_agg(key_row ->> k, '/') into row_key from unnest(tg_argv) as k;

    if tg_op = 'UPDATE' then
        select jsonb_object_agg(n.key, jsonb_build_object('old', o.value, 'new', n.value))
          into changed
          from jsonb_each(new_row) n
          join jsonb_each(old_row) o using (key)
         where n.value is distinct from o.value
           and n.key <> 'updated_at';
        if (to_jsonb(old) ->> 'password_hash') is distinct from (to_jsonb(new) ->> 'password_hash') then
            changed := coalesce(changed, '{}') || '{"password_hash": "changed"}';
        end if;
        if changed is null then
            return null;  -- a no-op update: nothing to record
        end if;
    elsif tg_op = 'INSERT' then
        select jsonb_object_agg(key, jsonb_build_object('new', value)) into changed
          from jsonb_each(new_row);
    else
        select jsonb_object_agg(key, jsonb_build_object('old', value)) into changed
          from jsonb_each(old_row);
    end if;

    insert into epic_events.audit_log (employee_id, db_role, table_name, row_id, action, changes)
    values (epic_events.current_employee_id(),
            coalesce(nullif(current_setting('role'), 'none'), session_user),
            tg_table_name, row_key, lower(tg_op), changed);
    return null;
end
$$;
comment on function epic_events.audit_row_change() is
    'AFTER row trigger for business tables; arguments name the key columns.';
