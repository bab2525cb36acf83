-- Undo 0023: the login column, the purge and its records go; the writers get
-- 0015's bodies back, word for word, and refuse_audit_change() 0003's (with
-- 0015's search_path).
-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
set local role epic_owner;

drop function epic_events.purge_audit_log(timestamptz);
drop policy audit_log_purge_by_definer on epic_events.audit_log;
drop policy audit_log_purge_read_by_definer on epic_events.audit_log;

-- audit_log took no 'purge' before: the records of purges go.
create policy audit_log_rollback_0023 on epic_events.audit_log for all to epic_owner using (true);
alter table epic_events.audit_log disable trigger audit_log_append_only;
delete from epic_events.audit_log where action = 'purge';
alter table epic_events.audit_log enable trigger audit_log_append_only;
drop policy audit_log_rollback_0023 on epic_events.audit_log;
revoke delete on epic_events.audit_log from epic_owner;
alter table epic_events.audit_log drop constraint audit_log_action_check;
-- Validated at once: the purge records just went, and the table holds no other 'purge'.
-- squawk-ignore constraint-missing-not-valid
alter table epic_events.audit_log add constraint audit_log_action_check
    check (action in ('insert', 'update', 'delete', 'login_attempt', 'login', 'login_failed',
                      'login_locked', 'logout', 'refresh_replayed'));

-- The 0003 body (search_path as 0015 set it).
create or replace function epic_events.refuse_audit_change() returns trigger
    language plpgsql
    set search_path = pg_catalog, epic_events, pg_temp
as $$
begin
    raise exception 'audit_log is append-only'
        using errcode = 'insufficient_privilege',
              hint = 'History is never rewritten.';
end
$$;

-- The 0015 bodies, word for word.
create or replace function epic_events.record_auth_event(
    p_action text, p_employee_id bigint, p_row_id text, p_details jsonb
) returns void
    language sql volatile
    set search_path = pg_catalog, epic_events, pg_temp
as $$
    -- clock_timestamp(): when it happened, not when the caller's transaction
    -- began. The row id is what was typed, without control characters.
    insert into epic_events.audit_log (occurred_at, employee_id, db_role, table_name, row_id,
                                       action, changes)
    values (clock_timestamp(), p_employee_id, session_user, 'session',
            regexp_replace(left(coalesce(p_row_id, ''), 254), '[[:cntrl:]]', '?', 'g'), p_action,
            coalesce(p_details, '{}'))
$$;

create or replace function epic_events.audit_row_change() returns trigger
    language plpgsql security definer
    set search_path = pg_catalog, epic_events, pg_temp
as $$
declare
    old_row jsonb := case when tg_op <> 'INSERT' then to_jsonb(old) - 'password_salt' - 'password_verifier' end;
    new_row jsonb := case when tg_op <> 'DELETE' then to_jsonb(new) - 'password_salt' - 'password_verifier' end;
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
        if (to_jsonb(old) ->> 'password_verifier') is distinct from (to_jsonb(new) ->> 'password_verifier') then
            changed := coalesce(changed, '{}') || '{"password": "changed"}';
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

    -- clock_timestamp(): when the change was made, not when its transaction began.
    insert into epic_events.audit_log (occurred_at, employee_id, db_role, table_name, row_id,
                                       action, changes)
    values (clock_timestamp(), epic_events.current_employee_id(),
            coalesce(nullif(current_setting('role'), 'none'), session_user),
            tg_table_name, row_key, lower(tg_op), changed);
    return null;
end
$$;

-- Inside the rollback's transaction: CONCURRENTLY cannot be.
-- squawk-ignore require-concurrent-index-deletion
drop index epic_events.audit_log_occurred_at_idx;
comment on column epic_events.audit_log.db_role is null;
-- The column 0023 added: what it recorded goes with it (a rollback retires that version).
-- squawk-ignore ban-drop-column
alter table epic_events.audit_log drop column login_role;
