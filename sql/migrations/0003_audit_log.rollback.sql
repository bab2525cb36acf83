-- Undo 0003: the audit log and its triggers.
set local role epic_owner;
drop function epic_events.audit_row_change();
drop table epic_events.audit_log;
drop function epic_events.refuse_audit_change();
