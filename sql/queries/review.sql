-- name: tables
-- Every table of the schema, with its row-level security switches.
select c.relname as table_name, c.relrowsecurity as rls_enabled, c.relforcerowsecurity as rls_forced
  from pg_class c
 where c.relnamespace = 'epic_events'::regnamespace
   and c.relkind in ('r', 'p')
 order by c.relname;

-- name: privileges
-- For each role of :roles, table and operation: the table-level grant, and the
-- columns granted one by one (SELECT, INSERT, UPDATE; DELETE has none).
select r.rolname as role_name, c.relname as table_name, op.name as operation,
       has_table_privilege(r.oid, c.oid, op.name) as whole_table,
       coalesce((select array_agg(a.attname::text order by a.attnum)
                   from pg_attribute a
                  where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
                    and op.name <> 'delete'
                    and has_column_privilege(r.oid, c.oid, a.attnum, op.name)), '{}') as columns
  from pg_class c
 cross join (values (1, 'select'), (2, 'insert'), (3, 'update'), (4, 'delete')) as op (n, name)
  join pg_roles r on r.rolname = any (:roles)
 where c.relnamespace = 'epic_events'::regnamespace
   and c.relkind in ('r', 'p')
 order by r.rolname, c.relname, op.n;

-- name: policies
-- Every policy of the schema, its roles (PUBLIC as 'public') and expressions as
-- PostgreSQL prints them back.
select c.relname as table_name, p.polname as policy_name, p.polpermissive as permissive,
       case p.polcmd when 'r' then 'select' when 'a' then 'insert' when 'w' then 'update'
                     when 'd' then 'delete' else 'all' end as command,
       array(select case when r = 0 then 'public' else pg_get_userbyid(r)::text end
               from unnest(p.polroles) as r order by 1) as roles,
       pg_get_expr(p.polqual, p.polrelid) as using_expression,
       pg_get_expr(p.polwithcheck, p.polrelid) as check_expression
  from pg_policy p
  join pg_class c on c.oid = p.polrelid
 where c.relnamespace = 'epic_events'::regnamespace
 order by c.relname, p.polname;

-- name: column-defaults
-- Each column's default, as PostgreSQL prints it (the policies' "the row names
-- the caller" checks hold by default where the caller may not give the column).
select c.relname as table_name, a.attname as column_name, pg_get_expr(d.adbin, d.adrelid) as default_value
  from pg_attrdef d
  join pg_class c on c.oid = d.adrelid
  join pg_attribute a on a.attrelid = d.adrelid and a.attnum = d.adnum
 where c.relnamespace = 'epic_events'::regnamespace
 order by 1, 2;

-- name: department-permissions
-- Each department, its role and the permission codes it holds now (as the
-- owner: become_owner first; the helpers' policy lets it read them).
select d.name as department, d.role_name,
       coalesce(array(select dp.permission_code from epic_events.department_permission dp
                       where dp.department = d.name order by 1), '{}') as codes
  from epic_events.department d
 order by d.name;

-- name: functions
-- The functions of the schema each role of :roles (and PUBLIC) may execute,
-- with their owner, SECURITY DEFINER and pinned search_path.
select g.grantee, p.oid::regprocedure::text as function_name, pg_get_userbyid(p.proowner) as owner,
       p.prosecdef as security_definer,
       (select substr(s, length('search_path=') + 1) from unnest(p.proconfig) as s
         where s like 'search_path=%') as search_path
  from pg_proc p
 cross join lateral (
       select r.rolname::text as grantee from pg_roles r
        where r.rolname = any (:roles) and has_function_privilege(r.oid, p.oid, 'execute')
       union all
       select 'public' where exists (
           select from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) x
            where x.grantee = 0 and x.privilege_type = 'EXECUTE')) as g
 where p.pronamespace = 'epic_events'::regnamespace
   and not exists (select from pg_depend d where d.classid = 'pg_proc'::regclass
                    and d.objid = p.oid and d.deptype = 'e')
 order by 1, 2;

-- name: unpinned-functions
-- Functions of the schema whose search_path is not pinned with pg_temp last.
select p.oid::regprocedure::text as function_name,
       (select substr(s, length('search_path=') + 1) from unnest(p.proconfig) as s
         where s like 'search_path=%') as search_path
  from pg_proc p
 where p.pronamespace = 'epic_events'::regnamespace
   and not exists (select from pg_depend d where d.classid = 'pg_proc'::regclass
                    and d.objid = p.oid and d.deptype = 'e')
   and coalesce((select s from unnest(p.proconfig) as s where s like 'search_path=%'), '')
       !~ 'pg_temp$'
 order by 1;

-- name: public-grants
-- Anything of the schema (the schema itself, tables, columns, sequences,
-- functions) granted to PUBLIC, and TEMP on this database for PUBLIC.
select 'schema' as kind, n.nspname::text as object_name, x.privilege_type
  from pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) x
 where n.nspname = 'epic_events' and x.grantee = 0
union all
select case c.relkind when 'S' then 'sequence' else 'table' end, c.relname::text, x.privilege_type
  from pg_class c, aclexplode(coalesce(c.relacl, acldefault(case c.relkind when 'S' then 's'::"char" else 'r'::"char" end,
                                                            c.relowner))) x
 where c.relnamespace = 'epic_events'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'S')
   and x.grantee = 0
union all
select 'column', c.relname || '.' || a.attname, x.privilege_type
  from pg_attribute a
  join pg_class c on c.oid = a.attrelid, aclexplode(a.attacl) x
 where c.relnamespace = 'epic_events'::regnamespace and a.attacl is not null and x.grantee = 0
union all
select 'function', p.oid::regprocedure::text, x.privilege_type
  from pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) x
 where p.pronamespace = 'epic_events'::regnamespace and x.grantee = 0
   and not exists (select from pg_depend d where d.classid = 'pg_proc'::regclass
                    and d.objid = p.oid and d.deptype = 'e')
union all
select 'database', d.datname::text, x.privilege_type
  from pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) x
 where d.datname = current_database() and x.grantee = 0 and x.privilege_type = 'TEMPORARY'
 order by 1, 2, 3;
