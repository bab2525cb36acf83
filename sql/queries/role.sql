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
-- The whole permission catalog, each code held or not by one department, and
-- whether that department's SQL grants (the ceiling, changed only by a
-- migration) let the code take effect: `needs` is the privilege the code's
-- policy works through, read from the catalog (has_*_privilege) for the
-- department's role. A code above the ceiling changes nothing (0004's header),
-- so `role grant` refuses it and `role view` says why.
with needs (code, privilege, table_name, column_name) as (
    values ('employee:create',         'INSERT', 'epic_events.employee', null),
           ('employee:update',         'UPDATE', 'epic_events.employee', null),
           ('employee:delete',         'DELETE', 'epic_events.employee', null),
           ('company:create',          'INSERT', 'epic_events.company',  null),
           ('company:update',          'UPDATE', 'epic_events.company',  'name'),
           ('company:delete',          'DELETE', 'epic_events.company',  null),
           ('client:create',           'INSERT', 'epic_events.client',   'sales_contact_id'),
           ('client:create:own',       'INSERT', 'epic_events.client',   null),
           ('client:update',           'UPDATE', 'epic_events.client',   'sales_contact_id'),
           ('client:update:own',       'UPDATE', 'epic_events.client',   null),
           ('client:delete',           'DELETE', 'epic_events.client',   null),
           ('contract:create',         'INSERT', 'epic_events.contract', null),
           ('contract:update',         'UPDATE', 'epic_events.contract', 'sales_contact_id'),
           ('contract:update:own',     'UPDATE', 'epic_events.contract', null),
           ('contract:sign',           'UPDATE', 'epic_events.contract', 'is_signed'),
           ('contract:sign:own',       'UPDATE', 'epic_events.contract', 'is_signed'),
           ('contract:delete',         'DELETE', 'epic_events.contract', null),
           ('event:create',            'INSERT', 'epic_events.event',    null),
           ('event:create:own_client', 'INSERT', 'epic_events.event',    null),
           ('event:update',            'UPDATE', 'epic_events.event',    'support_contact_id'),
           ('event:update:assigned',   'UPDATE', 'epic_events.event',    null),
           ('event:delete',            'DELETE', 'epic_events.event',    null))
select p.code, p.description, dp.permission_code is not null as held, dp.granted_at,
       coalesce(case when n.column_name is not null
                         then has_column_privilege(d.role_name, n.table_name, n.column_name,
                                                   n.privilege)
                     when n.privilege = 'DELETE'
                         then has_table_privilege(d.role_name, n.table_name, n.privilege)
                     else has_any_column_privilege(d.role_name, n.table_name, n.privilege)
                 end, true) as within_ceiling,
       n.privilege || coalesce(' (' || n.column_name || ')', '') || ' on '
           || replace(n.table_name, 'epic_events.', '') as needs
  from permission p
  join department d on d.name = :department
  left join needs n on n.code = p.code
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
