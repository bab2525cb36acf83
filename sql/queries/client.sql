-- name: list-clients
-- A page of clients with their company and sales contact.
-- Optional filters are written as "(:param is null or …)": psycopg sends the
-- values with the query, PostgreSQL plans it for those values (a custom
-- plan), and the branches that do not apply fold away, so each combination
-- still walks its index (client_sales_contact_idx for --mine, the primary key
-- by default). The same holds for the CASE terms of the ORDER BY.
-- --mine is a range of one value, and sorts by sales_contact_id first: with
-- "= (select …)" the planner takes the value for a constant, drops it from the
-- sort, and may rather walk the primary key filtering out everyone else's
-- clients, i.e. read every client of the agency for a sales employee who has
-- none (tests/perf/bench.py). Sorted by (sales_contact_id, id), only
-- client_sales_contact_idx gives the order, and the scan reads the caller's
-- clients only.
-- --stale DAYS keeps the clients not contacted since :stale_before (or never).
-- The company name is a scalar subquery, read for the rows of the page only.
-- As a join, the planner put a Memoize in front of company, sized for all the
-- companies: setting it up nearly doubled the execution time of a page on the
-- bench's large data (0.27 -> 0.49 ms, tests/perf/bench.py). --search, a scan
-- of every client in either form, is faster this way too (an index probe per
-- client instead of hashing every company).
select c.id, c.full_name, c.email, c.phone, c.company_id,
       (select co.name from company co where co.id = c.company_id) as company_name,
       c.sales_contact_id, e.full_name as sales_contact_name,
       c.created_at, c.updated_at, c.last_contact_at
  from client c
  join employee e on e.id = c.sales_contact_id
 where (not :mine
        or c.sales_contact_id between (select epic_events.current_employee_id())
                                  and (select epic_events.current_employee_id()))
   and (:company_id::bigint is null or c.company_id = :company_id)
   and (:stale_before::timestamptz is null
        or c.last_contact_at is null
        or c.last_contact_at < :stale_before)
   and (:search::text is null
        or c.full_name ilike :pattern
        or c.email ilike :pattern
        or exists (select
                     from company co
                    where co.id = c.company_id
                      and co.name ilike :pattern))
 order by case when :mine and not :desc then c.sales_contact_id end,
          case when :mine and :desc then c.sales_contact_id end desc,
          case when :sort = 'name' and not :desc then lower(c.full_name) end,
          case when :sort = 'name' and :desc then lower(c.full_name) end desc,
          case when :sort = 'created_at' and not :desc then c.created_at end,
          case when :sort = 'created_at' and :desc then c.created_at end desc,
          case when :desc then c.id end desc,
          c.id
 limit :limit offset :offset;

-- name: get-client^
-- One client, with its contracts and their events (read through the
-- contracts), and its last five contact notes (client_note_client_idx).
select c.id, c.full_name, c.email, c.phone, c.company_id, co.name as company_name,
       c.sales_contact_id, e.full_name as sales_contact_name,
       c.created_at, c.updated_at, c.last_contact_at,
       coalesce((select json_agg(json_build_object(
                    'id', k.id, 'total_amount', k.total_amount, 'amount_due', k.amount_due,
                    'is_signed', k.is_signed, 'signed_at', k.signed_at) order by k.id)
                   from contract k where k.client_id = c.id), '[]') as contracts,
       coalesce((select json_agg(json_build_object(
                    'id', v.id, 'contract_id', v.contract_id, 'name', v.name,
                    'starts_at', v.starts_at, 'ends_at', v.ends_at,
                    'support_contact_id', v.support_contact_id,
                    'support_contact_name', s.full_name) order by v.starts_at, v.id)
                   from contract k join event v on v.contract_id = k.id
                   left join employee s on s.id = v.support_contact_id
                  where k.client_id = c.id), '[]') as events,
       coalesce((select json_agg(json_build_object(
                    'id', n.id, 'kind', n.kind, 'body', n.body, 'noted_at', n.noted_at,
                    'written_by', n.written_by, 'written_by_name', w.full_name)
                    order by n.noted_at desc, n.id desc)
                   from (select * from client_note
                          where client_id = c.id
                          order by noted_at desc, id desc
                          limit 5) n
                   join employee w on w.id = n.written_by), '[]') as notes
  from client c
  left join company co on co.id = c.company_id
  join employee e on e.id = c.sales_contact_id
 where c.id = :id;

-- name: client-state^
-- What an update or delete that touched no row needs to explain itself.
select id, sales_contact_id, updated_at
  from client
 where id = :id;

-- name: create-client$
-- A new client; the caller becomes its sales contact unless one is named.
insert into client (full_name, email, phone, company_id, sales_contact_id, last_contact_at)
values (:full_name, :email, :phone, :company_id,
        coalesce(:sales_contact_id, epic_events.current_employee_id()), :last_contact_at)
returning id;

-- name: update-client$
-- Change the given fields (null = keep); refused as a conflict when the row
-- changed since the caller read it (:expected_updated_at).
update client
   set full_name       = coalesce(:full_name, full_name),
       email           = coalesce(:email, email),
       phone           = case when :set_phone then :phone else phone end,
       company_id      = case when :set_company then :company_id else company_id end,
       last_contact_at = case when :set_last_contact then :last_contact_at else last_contact_at end
 where id = :id
   and updated_at = :expected_updated_at
returning id;

-- name: reassign-client$
-- Management: a new sales contact; the client's contracts follow (trigger).
update client
   set sales_contact_id = :employee_id
 where id = :id
returning id;

-- name: delete-client$
-- Refused by the database while contracts refer to the client.
delete from client
 where id = :id
returning id;

-- name: create-note$
-- A contact note (0019); written_by is the caller (the database's default).
-- A null :noted_at is now. The trigger client_note_moves_last_contact moves
-- client.last_contact_at forward to it, never back.
insert into client_note (client_id, kind, body, noted_at)
values (:client_id, :kind, :body, coalesce(:noted_at::timestamptz, now()))
returning id;

-- name: get-note^
-- One note, with who wrote it and the client's last contact after it.
select n.id, n.client_id, n.kind, n.body, n.noted_at, n.written_by,
       w.full_name as written_by_name, n.created_at, c.last_contact_at
  from client_note n
  join employee w on w.id = n.written_by
  join client c on c.id = n.client_id
 where n.id = :id;

-- name: note-rights^
-- Whether the caller may write a note on this client; mirrors the policy
-- client_note_create, only to word a refusal (the database decides).
select c.id,
       epic_events.has_permission('client_note:create')
       or (epic_events.has_permission('client_note:create:own')
           and c.sales_contact_id = epic_events.current_employee_id()) as may_note
  from client c
 where c.id = :id;

-- name: may-import-clients$
-- `client import`, before a row is read: may the caller create clients at
-- all (any client, or their own)? The database still decides per row.
select epic_events.has_permission('client:create')
       or epic_events.has_permission('client:create:own');

-- name: import-staff
-- `client import`: who a sales_contact cell may name (an id or an email).
-- Everyone reads the staff directory; the database still decides, per row,
-- whom a client may be given to (RLS, and 0011's department trigger).
select id, email, department, is_active
  from employee;

-- name: existing-client-emails
-- `client import`: each email of the file with its key as the database sees
-- it, lower(email) (client_email_key, 0016: unique whatever the case), and the
-- client that already has it, if any. The key is the database's, not
-- Python's: str.lower() differs from lower() for some letters (İ, final Σ).
-- Everyone reads every client.
select f.email, lower(f.email) as key, c.id
  from unnest(:emails::text[]) as f (email)
  left join client c on lower(c.email) = lower(f.email);

-- name: import-clients
-- `client import`: a batch of clients in one statement, the arrays read
-- side by side (unnest of several arrays). COPY FROM is refused on a table
-- with row-level security (COPY FROM not supported with row-level security):
-- this is INSERT, so every row passes the policies, grants, checks and
-- triggers as `client create` does. A null sales contact is the caller.
-- Ids come back with their email, unique whatever the case, to pair them
-- with the file's lines.
insert into client (full_name, email, phone, company_id, sales_contact_id)
select r.full_name, r.email, r.phone, r.company_id,
       coalesce(r.sales_contact_id, (select epic_events.current_employee_id()))
  from unnest(:full_names::text[], :emails::text[], :phones::text[], :company_ids::bigint[],
              :sales_contact_ids::bigint[])
       as r (full_name, email, phone, company_id, sales_contact_id)
returning id, lower(email) as email;

-- name: export-clients-csv
-- `client list --all --format csv`: list-clients in full as one COPY … TO
-- STDOUT, its cells written by the server as render.to_csv writes them: the
-- data model's keys as header; text starting with = + - @ tab or CR (ascii
-- 61 43 45 64 9 13, cheaper than left(…, 1) in (…)) behind a single quote
-- (CSV injection); timestamps in UTC as Python's isoformat()
-- writes them (the text of the UTC timestamp, its fraction padded to six
-- digits when it has one, a T, +00:00: a third of to_char()'s cost; ISO
-- DateStyle, the default, which psycopg needs too); NULL an empty cell. Python writing 1M rows cell by cell took
-- 5x the time of psql's \copy; this is the same work as psql's.
-- The inner query is list-clients word for word (tests/unit/test_queries.py
-- checks it; tests/cli/test_list_all.py that the output is the pages' CSV
-- byte for byte), sent with limit NULL (all) and offset 0: its LIMIT keeps
-- it a subquery of its own (not pulled up), so the outer query only formats
-- the rows in the order they come, and company_name is read once per row.
-- COPY takes no bound parameters: the driver merges them into the text,
-- quoted as literals (psycopg's cursor.copy(query, params)). It reads under
-- RLS as any query (COPY TO applies the SELECT policies; only COPY FROM is
-- refused on such tables), in one statement: the authenticator's
-- statement_timeout (30 s, 0015) bounds it.
copy (
select
       l.id,
       case when ascii(l.full_name) in (61, 43, 45, 64, 9, 13) then '''' || l.full_name
            else l.full_name end as full_name,
       case when ascii(l.email) in (61, 43, 45, 64, 9, 13) then '''' || l.email
            else l.email end as email,
       case when ascii(l.phone) in (61, 43, 45, 64, 9, 13) then '''' || l.phone
            else l.phone end as phone,
       l.company_id,
       case when ascii(l.company_name) in (61, 43, 45, 64, 9, 13) then '''' || l.company_name
            else l.company_name end as company_name,
       l.sales_contact_id,
       case when ascii(l.sales_contact_name) in (61, 43, 45, 64, 9, 13) then '''' || l.sales_contact_name
            else l.sales_contact_name end as sales_contact_name,
       overlay(rpad((l.created_at at time zone 'UTC')::text,
                    case when length((l.created_at at time zone 'UTC')::text) > 19 then 26 else 19 end,
                    '0') placing 'T' from 11 for 1) || '+00:00' as created_at,
       overlay(rpad((l.updated_at at time zone 'UTC')::text,
                    case when length((l.updated_at at time zone 'UTC')::text) > 19 then 26 else 19 end,
                    '0') placing 'T' from 11 for 1) || '+00:00' as updated_at,
       overlay(rpad((l.last_contact_at at time zone 'UTC')::text,
                    case when length((l.last_contact_at at time zone 'UTC')::text) > 19 then 26 else 19 end,
                    '0') placing 'T' from 11 for 1) || '+00:00' as last_contact_at
  from (
        select c.id, c.full_name, c.email, c.phone, c.company_id,
               (select co.name from company co where co.id = c.company_id) as company_name,
               c.sales_contact_id, e.full_name as sales_contact_name,
               c.created_at, c.updated_at, c.last_contact_at
          from client c
          join employee e on e.id = c.sales_contact_id
         where (not :mine
                or c.sales_contact_id between (select epic_events.current_employee_id())
                                          and (select epic_events.current_employee_id()))
           and (:company_id::bigint is null or c.company_id = :company_id)
           and (:stale_before::timestamptz is null
                or c.last_contact_at is null
                or c.last_contact_at < :stale_before)
           and (:search::text is null
                or c.full_name ilike :pattern
                or c.email ilike :pattern
                or exists (select
                             from company co
                            where co.id = c.company_id
                              and co.name ilike :pattern))
         order by case when :mine and not :desc then c.sales_contact_id end,
                  case when :mine and :desc then c.sales_contact_id end desc,
                  case when :sort = 'name' and not :desc then lower(c.full_name) end,
                  case when :sort = 'name' and :desc then lower(c.full_name) end desc,
                  case when :sort = 'created_at' and not :desc then c.created_at end,
                  case when :sort = 'created_at' and :desc then c.created_at end desc,
                  case when :desc then c.id end desc,
                  c.id
         limit :limit offset :offset
       ) l
) to stdout with (format csv, header);
