-- name: begin-request^
-- A request's first statement: enter the department role, then have the
-- database verify the access token and the session (migration 0015); the
-- caller holds for this transaction only. Not live: every policy denies.
-- The role is set first (left to right): check_request() checks it too.
-- schema: the newest migration applied (0024), which the CLI compares with
-- the one it was built for, in this same round trip.
select set_config('role', :role, true) as role,
       epic_events.check_request(:access_token) is not null as live,
       epic_events.schema_version() as schema;

-- name: login-salt^
-- Login, step 1: the bcrypt salt for this email (a stable fake one if unknown),
-- and the schema's version (0024), checked before anything else happens.
select epic_events.auth_login_salt(:email) as salt,
       epic_events.schema_version() as schema;

-- name: has-accounts$
-- After a failed login only: does this database hold any employee yet (0020)?
select epic_events.auth_has_accounts();

-- name: login$
-- Login, step 2: the database records its verdict on the bcrypt proof and
-- returns only the attempt's id: the verdict is told once this is committed.
select epic_events.auth_login(:email, :proof);

-- name: login-result^
-- Login, step 3, in a later transaction: ok | failed | locked | inactive |
-- unknown, with the tokens when ok.
select status, employee_id, full_name, department, access_token, refresh_token,
       refresh_expires_at
  from epic_events.auth_login_result(:attempt);

-- name: refresh^
-- Exchange the refresh token for the next one and a new access token:
-- ok | unknown | expired | revoked | replayed | inactive.
select status, employee_id, department, access_token, refresh_token, refresh_expires_at
  from epic_events.auth_refresh(:refresh_token);

-- name: logout$
-- Revoke the session of this refresh token, or every session of its employee.
select epic_events.auth_logout(:refresh_token, :all);

-- name: change-own-password!
-- The caller's new salt and verifier, in a session opened within 5 minutes
-- (the CLI logs in again first, with the current password). Their other
-- sessions end.
select epic_events.change_own_password(:new_salt, :new_verifier);

-- name: rotate-signing-key$
-- Admin connection: sign new access tokens with a new key.
select epic_events.rotate_signing_key();

-- name: whoami^
-- The caller, as the database sees them.
select id, employee_number, full_name, email, phone, department, is_active
  from employee
 where id = epic_events.current_employee_id();
