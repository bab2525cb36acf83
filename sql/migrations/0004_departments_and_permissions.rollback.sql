-- Undo 0004: departments and permissions.
set local role epic_owner;
drop table epic_events.department_permission;
drop table epic_events.permission;
drop table epic_events.department;
