-- Undo 0016: text checks, case-insensitive client emails and the self guard go.
-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
set local role epic_owner;

drop trigger employee_not_self on epic_events.employee;
drop function epic_events.employee_not_self();

-- CONCURRENTLY cannot run inside the transaction yoyo wraps each rollback in.
-- squawk-ignore require-concurrent-index-deletion
drop index epic_events.client_email_key;

alter table epic_events.permission drop constraint permission_description_clean;
alter table epic_events.event
    drop constraint event_notes_clean,
    drop constraint event_location_clean,
    drop constraint event_name_clean;
alter table epic_events.client
    drop constraint client_email_clean,
    drop constraint client_full_name_clean;
alter table epic_events.company drop constraint company_name_clean;
alter table epic_events.employee
    drop constraint employee_email_clean,
    drop constraint employee_full_name_clean,
    drop constraint employee_employee_number_clean;
