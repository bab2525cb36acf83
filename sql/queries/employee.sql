-- name: become-owner!
-- Admin connection: act as the schema owner for this transaction (bootstrap).
set local role epic_owner;

-- name: bootstrap-manager$
-- The first management account; the function refuses once one exists.
select epic_events.bootstrap_manager(:full_name, :email, :phone, :password_salt, :password_verifier);

-- name: list-employees
-- A page of the staff directory (everyone logged in reads it).
-- The password salt and verifier are never selected: no department role may read them.
-- Optional filters are "(:param is null or …)" and the sort is CASE terms, so
-- the custom plan folds what does not apply: --department walks
-- employee_department_idx (department, id), the default the primary key.
select e.id, e.employee_number, e.full_name, e.email, e.phone, e.department,
       e.is_active, e.created_at, e.updated_at
  from employee e
 where (:department::text is null or e.department = :department)
   and (:active::boolean is null or e.is_active = :active)
 order by case when :sort = 'name' and not :desc then lower(e.full_name) end,
          case when :sort = 'name' and :desc then lower(e.full_name) end desc,
          case when :sort = 'department' and not :desc then e.department end,
          case when :sort = 'department' and :desc then e.department end desc,
          case when :sort = 'created_at' and not :desc then e.created_at end,
          case when :sort = 'created_at' and :desc then e.created_at end desc,
          case when :desc then e.id end desc,
          e.id
 limit :limit offset :offset;

-- name: get-employee^
-- One employee of the directory (never the password hash).
select e.id, e.employee_number, e.full_name, e.email, e.phone, e.department,
       e.is_active, e.created_at, e.updated_at
  from employee e
 where e.id = :id;

-- name: employee-state^
-- What an update, (de)activation or delete that touched no row needs to explain itself.
select id, department, is_active, updated_at
  from employee
 where id = :id;

-- name: create-employee$
-- Management: a new employee; the database numbers them (employee_number).
insert into employee (full_name, email, phone, department, password_salt, password_verifier)
values (:full_name, :email, :phone, :department, :password_salt, :password_verifier)
returning id;

-- name: update-employee$
-- Change the given fields (null = keep); refused as a conflict when the row
-- changed since the caller read it (:expected_updated_at). Moving the last
-- active manager out of management is refused by a trigger.
update employee
   set full_name  = coalesce(:full_name, full_name),
       email      = coalesce(:email, email),
       phone      = case when :set_phone then :phone else phone end,
       department = coalesce(:department, department)
 where id = :id
   and updated_at = :expected_updated_at
returning id;

-- name: reset-employee-password$
-- Management: a new salt and verifier (the bcrypt hash never leaves the
-- CLI). A statement of its own because it must not read them (no role may):
-- "coalesce(:salt, password_salt)" would. The employee's sessions end (0015).
-- :expected_updated_at is null when update-employee already checked it in
-- this transaction.
update employee
   set password_salt = :password_salt,
       password_verifier = :password_verifier
 where id = :id
   and (:expected_updated_at::timestamptz is null or updated_at = :expected_updated_at)
returning id;

-- name: set-employee-active$
-- Soft delete or undo it. Deactivation revokes the employee's sessions
-- (trigger, 0006) and is refused for the last active manager (trigger, 0005).
-- An employee already in that state is left alone (no row: nothing to do).
update employee
   set is_active = :is_active
 where id = :id
   and is_active <> :is_active
returning id;

-- name: delete-employee$
-- Hard delete; refused by the foreign keys while anything refers to the
-- employee (deactivate instead). Their sessions go with them (cascade).
delete from employee
 where id = :id
returning id;


-- name: employee-holdings^
-- What an employee still holds: the clients and contracts they are the sales
-- contact of, and the events not yet started they are the support contact of
-- (`employee view`, and the question `employee deactivate` asks).
select e.id, e.department, e.is_active,
       (select count(*) from client c where c.sales_contact_id = e.id) as holds_clients,
       (select count(*) from contract k where k.sales_contact_id = e.id) as holds_contracts,
       (select count(*) from event v
         where v.support_contact_id = e.id and v.starts_at >= now()) as holds_future_events
  from employee e
 where e.id = :id;

-- name: offboard-employee^
-- Management: hand an employee's clients and contracts (sales) or future
-- events (support) to :reassign_to, an active colleague of the same
-- department, then deactivate them; one statement (0018). Returns how many
-- rows moved. The function runs with the caller's rights: the policies decide.
select clients, contracts, events
  from epic_events.offboard_employee(:id, :reassign_to);
