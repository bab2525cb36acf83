-- Undo 0006: sessions and the auth functions.
-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
set local role epic_owner;
drop trigger employee_deactivated_revokes_sessions on epic_events.employee;
drop function epic_events.revoke_sessions_of_deactivated();
drop function epic_events.auth_revoke_session(uuid, boolean);
drop function epic_events.auth_rotate_session(bytea, bytea, timestamptz);
drop function epic_events.auth_open_session(uuid, bigint, bytea, timestamptz);
drop function epic_events.auth_find_employee(text);
drop table epic_events.session_token;
drop table epic_events.session;
