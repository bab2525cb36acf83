-- Undo 0005: employees.
set local role epic_owner;
drop function epic_events.bootstrap_manager(text, text, text, text);
drop table epic_events.employee;
drop function epic_events.check_contact();
drop function epic_events.keep_one_manager();
drop sequence epic_events.employee_number_seq;
