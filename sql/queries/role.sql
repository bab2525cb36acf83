-- name: list-department-permissions
-- Each department with the permission codes it holds now (none: an empty list).
select d.name as department, d.role_name,
       coalesce(array_agg(dp.permission_code order by dp.permission_code)
                    filter (where dp.permission_code is not null),
                '{}') as permissions
  from department d
  left join department_permission dp on dp.department = d.name
 group by d.name, d.role_name
 order by d.name;

-- name: department-catalog
-- The whole permission catalog, each code held or not by one department.
select p.code, p.description, dp.permission_code is not null as held, dp.granted_at
  from permission p
  left join department_permission dp
         on dp.permission_code = p.code
        and dp.department = :department
 order by p.code;

-- name: department-names
-- The valid departments, to name them when given an unknown one.
select name
  from department
 order by name;

-- name: permission-codes
-- The valid permission codes (the catalog changes only by migration).
select code
  from permission
 order by code;

-- name: department-holds$
-- Does this department hold this code? (to explain a grant or revoke)
select exists (
    select
      from department_permission
     where department = :department
       and permission_code = :code);

-- name: grant-permission$
-- Management: the department holds the code from the next statement on
-- (the policies read department_permission live). Audited by trigger.
-- No row back: it already held the code (nothing changed, nothing audited).
insert into department_permission (department, permission_code)
values (:department, :code)
    on conflict (department, permission_code) do nothing
returning permission_code;

-- name: revoke-permission$
-- Management: the department no longer holds the code, from the next
-- statement on, even for sessions already open. Audited by trigger.
delete from department_permission
 where department = :department
   and permission_code = :code
returning permission_code;

-- name: caller-holds-permission$
-- Does the caller's department hold this code right now? A courtesy check
-- (e.g. before asking for a password); the policies decide anyway.
select epic_events.has_permission(:code);
