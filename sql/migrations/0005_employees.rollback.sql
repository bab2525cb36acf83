-- Undo 0005: employees.
-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
set local role epic_owner;
drop function epic_events.bootstrap_manager(text, text, text, text);
drop table epic_events.employee;
drop function epic_events.check_contact();
drop function epic_events.keep_one_manager();
drop sequence epic_events.employee_number_seq;
