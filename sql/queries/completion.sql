-- Shell completion (TAB): ids starting with what was typed, with a name as help.
-- :prefix is digits followed by '%'; the primary key walks in order and the
-- LIMIT bounds the work.

-- name: clients
-- Client ids and names.
select id::text as value, full_name as help
  from client
 where id::text like :prefix
 order by id
 limit 30;

-- name: companies
-- Company ids and names.
select id::text as value, name as help
  from company
 where id::text like :prefix
 order by id
 limit 30;

-- name: contracts
-- Contract ids, with the client's name.
select k.id::text as value, c.full_name || case when k.is_signed then '' else ' (unsigned)' end as help
  from contract k
  join client c on c.id = k.client_id
 where k.id::text like :prefix
 order by k.id
 limit 30;

-- name: events
-- Event ids and names.
select id::text as value, name as help
  from event
 where id::text like :prefix
 order by id
 limit 30;

-- name: support-employees
-- Active support employee ids (the only ones an event's support may be), with name.
select id::text as value, full_name as help
  from employee
 where id::text like :prefix
   and is_active
   and department = 'support'
 order by id
 limit 30;

-- name: permission-codes
-- Permission codes starting with what was typed, with what each allows.
select code as value, description as help
  from permission
 where code like :prefix
 order by code
 limit 30;

-- name: employees
-- Active employee ids, with name and department.
select id::text as value, full_name || ' (' || department || ')' as help
  from employee
 where id::text like :prefix
   and is_active
 order by id
 limit 30;
