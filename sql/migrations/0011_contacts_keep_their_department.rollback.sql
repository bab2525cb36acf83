-- Undo 0011: contacts may again be moved out of their department.
set local role epic_owner;
drop trigger employee_contacts_keep_department on epic_events.employee;
drop function epic_events.keep_contacts_in_department();
