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

-- name: list-companies
-- A page of companies, each with how many clients work for it.
-- The count is a scalar subquery per company shown, not a grouped subquery
-- joined in: PostgreSQL evaluates it after the sort and the limit, one small
-- count on client_company_idx per row of the page, whereas a grouped subquery
-- would count every client of every company for each page. Sorting by name
-- walks company_name_key (lower(name)); --search may use company_name_trgm_idx.
select co.id, co.name, co.created_at, co.updated_at,
       (select count(*)
          from client c
         where c.company_id = co.id) as client_count
  from company co
 where (:search::text is null or co.name ilike :pattern)
 order by case when :sort = 'name' and not :desc then lower(co.name) end,
          case when :sort = 'name' and :desc then lower(co.name) end desc,
          case when :sort = 'created_at' and not :desc then co.created_at end,
          case when :sort = 'created_at' and :desc then co.created_at end desc,
          case when :desc then co.id end desc,
          co.id
 limit :limit offset :offset;

-- name: get-company^
-- One company with its clients (and each client's sales contact).
select co.id, co.name, co.created_at, co.updated_at,
       (select count(*)
          from client c
         where c.company_id = co.id) as client_count,
       coalesce((select json_agg(json_build_object(
                    'id', c.id, 'full_name', c.full_name, 'email', c.email,
                    'sales_contact_id', c.sales_contact_id,
                    'sales_contact_name', e.full_name) order by c.id)
                   from client c
                   join employee e on e.id = c.sales_contact_id
                  where c.company_id = co.id), '[]') as clients
  from company co
 where co.id = :id;

-- name: company-state^
-- What an update or delete that touched no row needs to explain itself.
select id, updated_at
  from company
 where id = :id;

-- name: update-company$
-- Management: rename; refused as a conflict when the row changed since the
-- caller read it (:expected_updated_at).
update company
   set name = :name
 where id = :id
   and updated_at = :expected_updated_at
returning id;

-- name: delete-company$
-- Management: refused by the database while clients refer to the company.
delete from company
 where id = :id
returning id;

-- name: find-companies-by-names
-- `client import`: each company name of a file with its key as the unique
-- index company_name_key sees it, lower(name) (the database's, not Python's
-- str.lower(), which differs for some letters: İ, final Σ), and the company
-- that already has it, if any.
select f.name, lower(f.name) as key, co.id
  from unnest(:names::text[]) as f (name)
  left join company co on lower(co.name) = lower(f.name);

-- name: create-companies
-- `client import`: the new companies of a file, in one statement (management
-- and sales, as create-company); their ids keyed by lower(name).
insert into company (name)
select unnest(:names::text[])
returning lower(name) as key, id;
