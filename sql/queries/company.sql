-- name: find-company-by-name$
-- The company with this name, whatever its case.
select id
  from company
 where lower(name) = lower(:name);

-- name: create-company$
-- A new company (management and sales).
insert into company (name)
values (:name)
returning id;
