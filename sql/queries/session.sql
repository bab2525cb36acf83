-- name: begin-request^
-- Enter the department role and name the employee and session for RLS, for
-- this transaction only; answers whether the database honours the session.
-- The set_config calls run left to right, before check_request(), which checks
-- the session in full and lets the policies of this request trust that check
-- (migration 0014).
select set_config('role', :role, true),
       set_config('epic.employee_id', :employee_id, true),
       set_config('epic.session_id', :session_id, true),
       epic_events.check_request() is not null as live;

-- name: find-employee^
-- Login: the employee with this email (any case) and the hash to check.
select employee_id, full_name, department, is_active, password_hash
  from epic_events.auth_find_employee(:email);

-- name: open-session!
-- Login: a new session with the digest of its first refresh token.
select epic_events.auth_open_session(:session_id, :employee_id, :token_hash, :expires_at);

-- name: rotate-session^
-- Refresh: exchange a refresh token (by digest) for the next one.
select status, session_id, employee_id, department
  from epic_events.auth_rotate_session(:token_hash, :new_token_hash, :new_expires_at);

-- name: revoke-session$
-- Logout: revoke this session, or every session of its employee.
select epic_events.auth_revoke_session(:session_id, :all);

-- name: whoami^
-- The caller, as the database sees them.
select id, employee_number, full_name, email, phone, department, is_active
  from employee
 where id = epic_events.current_employee_id();
