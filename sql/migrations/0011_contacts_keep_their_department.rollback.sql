-- Undo 0011: contacts may again be moved out of their department.
-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
set local role epic_owner;
drop trigger employee_contacts_keep_department on epic_events.employee;
drop function epic_events.keep_contacts_in_department();
