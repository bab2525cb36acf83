-- name: list-entries
-- A page of the audit trail, newest first: who (the employee, the login and
-- the role in use), when, what (table, row, action) and the changes, old ->
-- new. Management only (audit_log_read). Every filter is optional; the
-- employee's name is today's (NULL once they were deleted: their id stays).
-- :before_id pages --all by key (id < the last one shown), never by offset.
select a.id, a.occurred_at, a.employee_id, e.full_name as employee_name,
       a.login_role, a.db_role, a.table_name, a.row_id, a.action, a.changes
  from audit_log a
  left join employee e on e.id = a.employee_id
 where (:table_name::text is null or a.table_name = :table_name)
   and (:row_id::text is null or a.row_id = :row_id)
   and (:employee_id::bigint is null or a.employee_id = :employee_id)
   and (:action::text is null or a.action = :action)
   and (:since::timestamptz is null or a.occurred_at >= :since)
   and (:until::timestamptz is null or a.occurred_at <= :until)
   and (:before_id::bigint is null or a.id < :before_id)
 order by a.id desc
 limit :limit offset :offset;

-- name: purge$
-- Admin connection, as the owner: delete the rows older than :before; the
-- function records the purge (who, cutoff, how many) and returns how many.
select epic_events.purge_audit_log(:before);
