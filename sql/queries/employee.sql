-- name: become-owner!
-- Admin connection: act as the schema owner for this transaction (bootstrap).
set local role epic_owner;

-- name: bootstrap-manager$
-- The first management account; the function refuses once one exists.
select epic_events.bootstrap_manager(:full_name, :email, :phone, :password_hash);
