-- Undo 0002: the policy helpers (policies using them are gone by now).
set local role epic_owner;
drop function epic_events.has_permission(text);
drop function epic_events.current_employee_id();
