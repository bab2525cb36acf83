-- The audit trail, readable and honest: the login beside the role, and retention.
-- depends: 0021_report_permission
--
-- Before: audit_log.db_role recorded the role in use (SET ROLE: epic_sales,
-- epic_owner, ...), not the login that ran the change; an admin who SET ROLE
-- epic_owner and a migration looked the same. Nothing could remove old rows,
-- short of disabling the append-only trigger.
--
--   1. login_role: session_user, the login that connected (epic_authenticator
--      for every employee; the admin's own login for migrations and `db`
--      commands), recorded by both writers, audit_row_change() and
--      record_auth_event(), whose 0015 bodies are otherwise unchanged. Rows
--      written before this migration have none (NULL: not recorded).
--   2. Retention: purge_audit_log(before), the owner's (`epic-events db
--      purge-audit --before DATE`, admin connection), deletes the rows that
--      occurred before the cutoff and then appends one row saying who purged,
--      the cutoff and how many rows went (action 'purge', table_name
--      'audit_log'). refuse_audit_change() lets a DELETE through only for the
--      table's owner, in a transaction where purge_audit_log() set its flag
--      (epic.audit_purge_before), and only for rows older than that cutoff.
--      The flag is a setting: a login that can act as the owner could set it
--      by hand and delete without the record, as it could disable the
--      trigger or drop the table. The trail binds the departments, not its
--      owner: README, "The audit trail".
--
-- What it cannot see: changes made with the triggers disabled (superusers and
-- the owner may), and DDL. Disabling a trigger is DDL: it reaches the server
-- log only with log_statement = 'ddl' (or pgaudit); the default, 'none',
-- leaves no trace of it anywhere.

-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
set local role epic_owner;

-- Written by the two writers below from session_user, never by a caller:
-- like db_role, it is exempt from the text checks of 0016.
alter table epic_events.audit_log add column login_role text;
comment on column epic_events.audit_log.login_role is
    'The login that connected (session_user), beside db_role, the role in use; NULL before 0023.';
comment on column epic_events.audit_log.db_role is
    'The role in use (the department role, epic_owner after SET ROLE, or the login itself).';

-- The new check allows more than the old one.
-- squawk-ignore ban-drop-constraint
alter table epic_events.audit_log drop constraint audit_log_action_check;
-- Every existing row passes (the old list is part of the new one): one scan, under this lock.
-- squawk-ignore constraint-missing-not-valid
alter table epic_events.audit_log add constraint audit_log_action_check
    check (action in ('insert', 'update', 'delete', 'login_attempt', 'login', 'login_failed',
                      'login_locked', 'logout', 'refresh_replayed', 'purge'));

-- `epic-events audit --from/--to` and the purge read by time; built inside
-- the migration's transaction, where CONCURRENTLY cannot run.
-- squawk-ignore require-concurrent-index-creation
create index audit_log_occurred_at_idx on epic_events.audit_log (occurred_at, id);

create or replace function epic_events.record_auth_event(
    p_action text, p_employee_id bigint, p_row_id text, p_details jsonb
) returns void
    language sql volatile
    set search_path = pg_catalog, epic_events, pg_temp
as $$
    -- clock_timestamp(): when it happened, not when the caller's transaction
    -- began. The row id is what was typed, without control characters.
    insert into epic_events.audit_log (occurred_at, employee_id, db_role, login_role, table_name,
                                       row_id, action, changes)
    values (clock_timestamp(), p_employee_id, session_user, session_user, 'session',
            regexp_replace(left(coalesce(p_row_id, ''), 254), '[[:cntrl:]]', '?', 'g'), p_action,
            coalesce(p_details, '{}'))
$$;

-- The audit trail records that a password changed, never the values.
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
    -- session_user: the login, whatever role it SET (a SECURITY DEFINER
    -- function changes current_user, never session_user).
    insert into epic_events.audit_log (occurred_at, employee_id, db_role, login_role, table_name,
                                       row_id, action, changes)
    values (clock_timestamp(), epic_events.current_employee_id(),
            coalesce(nullif(current_setting('role'), 'none'), session_user), session_user,
            tg_table_name, row_key, lower(tg_op), changed);
    return null;
end
$$;

-- Append-only, except for purge_audit_log(): a DELETE by the table's owner of
-- a row older than the cutoff that function set in this transaction.
create or replace function epic_events.refuse_audit_change() returns trigger
    language plpgsql
    set search_path = pg_catalog, epic_events, pg_temp
as $$
declare
    cutoff timestamptz := nullif(current_setting('epic.audit_purge_before', true), '')::timestamptz;
begin
    if tg_op = 'DELETE' and cutoff is not null
       and current_user = (select pg_get_userbyid(c.relowner) from pg_class c where c.oid = tg_relid) then
        if old.occurred_at < cutoff then
            return old;
        end if;
    end if;
    raise exception 'audit_log is append-only'
        using errcode = 'insufficient_privilege',
              hint = 'History is never rewritten; old rows go only through purge_audit_log().';
end
$$;

-- The purge reads and deletes as the owner, under FORCE RLS: only rows older
-- than the cutoff of this transaction's purge.
grant delete on epic_events.audit_log to epic_owner;
create policy audit_log_purge_read_by_definer on epic_events.audit_log
    for select to epic_owner
    using (occurred_at < nullif(current_setting('epic.audit_purge_before', true), '')::timestamptz);
create policy audit_log_purge_by_definer on epic_events.audit_log
    for delete to epic_owner
    using (occurred_at < nullif(current_setting('epic.audit_purge_before', true), '')::timestamptz);

-- `epic-events db purge-audit --before DATE`: the owner only (no EXECUTE for
-- anyone else; the admin connection sets role epic_owner first).
create function epic_events.purge_audit_log(p_before timestamptz) returns bigint
    language plpgsql volatile security definer
    set search_path = pg_catalog, epic_events, pg_temp
as $$
declare
    deleted bigint;
begin
    if p_before is null or p_before > now() then
        raise exception 'purge_audit_log: the cutoff must be a date in the past'
            using errcode = 'check_violation';
    end if;
    -- ISO 8601 in UTC: read back the same whatever the session's DateStyle.
    perform set_config('epic.audit_purge_before',
                       to_char(p_before at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), true);
    delete from epic_events.audit_log where occurred_at < p_before;
    get diagnostics deleted = row_count;
    perform set_config('epic.audit_purge_before', '', true);
    -- The purge's own record, after the delete: the next purge may remove it,
    -- and then leaves its own.
    insert into epic_events.audit_log (occurred_at, employee_id, db_role, login_role, table_name,
                                       row_id, action, changes)
    values (clock_timestamp(), null,
            coalesce(nullif(current_setting('role'), 'none'), session_user), session_user,
            'audit_log', to_char(p_before at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), 'purge',
            jsonb_build_object('before', p_before, 'deleted', deleted));
    return deleted;
end
$$;
revoke execute on function epic_events.purge_audit_log(timestamptz) from public;
comment on function epic_events.purge_audit_log(timestamptz) is
    'Admin (owner): delete audit rows older than the cutoff; records the purge (who, cutoff, how many).';
