-- name: list-contracts
-- A page of contracts with their client and sales contact.
-- Optional filters are written "(not :flag or …)" and "(:param is null or …)":
-- psycopg sends the values with the query, PostgreSQL plans it for those
-- values (a custom plan), the branches that do not apply fold away, and what
-- is left proves the predicate of a partial index:
--   --unsigned          contract_unsigned_all_idx  (with --mine: contract_unsigned_idx)
--   --unpaid            contract_unpaid_all_idx    (with --mine: contract_unpaid_idx)
--   --mine              contract_sales_contact_idx
--   --client            contract_client_idx
-- "not k.is_signed" and "k.amount_due > 0" are spelled as in the index
-- predicates so that the proof holds. The CASE terms of the ORDER BY fold the
-- same way, leaving "order by k.id" (the index order) by default.
-- --mine is a range of one value, and sorts by sales_contact_id first: with
-- "= (select …)" the planner takes the value for a constant, drops it from the
-- sort, and may rather walk the id-ordered index filtering out everyone
-- else's rows, i.e. read every unsigned contract of the agency for a sales
-- employee who has none (tests/perf/bench.py: 600k rows on the large data).
-- Sorted by (sales_contact_id, id), only the (sales_contact_id, id) indexes
-- give the order, and the scan reads the caller's rows only.
select k.id, k.client_id, c.full_name as client_name,
       k.sales_contact_id, e.full_name as sales_contact_name,
       k.total_amount, k.amount_due, k.is_signed, k.signed_at,
       k.created_at, k.updated_at
  from contract k
  join client c on c.id = k.client_id
  join employee e on e.id = k.sales_contact_id
 where (not :unsigned or not k.is_signed)
   and (not :unpaid or k.amount_due > 0)
   and (not :mine
        or k.sales_contact_id between (select epic_events.current_employee_id())
                                  and (select epic_events.current_employee_id()))
   and (:client_id::bigint is null or k.client_id = :client_id)
 order by case when :mine and not :desc then k.sales_contact_id end,
          case when :mine and :desc then k.sales_contact_id end desc,
          case when :sort = 'amount_due' and not :desc then k.amount_due end,
          case when :sort = 'amount_due' and :desc then k.amount_due end desc,
          case when :sort = 'created_at' and not :desc then k.created_at end,
          case when :sort = 'created_at' and :desc then k.created_at end desc,
          case when :desc then k.id end desc,
          k.id
 limit :limit offset :offset;

-- name: get-contract^
-- One contract with its client's contact details, its sales contact, and its
-- events (the client is read through the contract, never copied).
select k.id, k.client_id, c.full_name as client_name, c.email as client_email,
       c.phone as client_phone, k.sales_contact_id, e.full_name as sales_contact_name,
       k.total_amount, k.amount_due, k.is_signed, k.signed_at,
       k.created_at, k.updated_at,
       coalesce((select json_agg(json_build_object(
                    'id', v.id, 'name', v.name, 'starts_at', v.starts_at, 'ends_at', v.ends_at,
                    'location', v.location, 'attendees', v.attendees,
                    'support_contact_id', v.support_contact_id,
                    'support_contact_name', s.full_name) order by v.starts_at, v.id)
                   from event v
                   left join employee s on s.id = v.support_contact_id
                  where v.contract_id = k.id), '[]') as events
  from contract k
  join client c on c.id = k.client_id
  join employee e on e.id = k.sales_contact_id
 where k.id = :id;

-- name: contract-state^
-- What a write that touched no row needs to explain itself: gone, changed
-- meanwhile, already signed, or not the caller's to change. may_update and
-- may_sign mirror the policy contract_update and the trigger contract_signing,
-- only to word the refusal; the database decides.
select id, sales_contact_id, total_amount, amount_due, is_signed, signed_at, updated_at,
       epic_events.has_permission('contract:update')
       or (epic_events.has_permission('contract:update:own')
           and sales_contact_id = epic_events.current_employee_id()) as may_update,
       epic_events.has_permission('contract:sign')
       or (epic_events.has_permission('contract:sign:own')
           and sales_contact_id = epic_events.current_employee_id()) as may_sign
  from contract
 where id = :id;

-- name: create-contract$
-- Management: a new, unsigned contract. A null amount_due or sales_contact_id
-- is filled in by the trigger contract_defaults (the total; the client's
-- sales contact), so the default lives in the database, not here.
insert into contract (client_id, sales_contact_id, total_amount, amount_due)
values (:client_id, :sales_contact_id, :total_amount, :amount_due)
returning id;

-- name: update-contract$
-- Change the amounts given (null = keep) and record a payment (:paid).
-- The payment is subtracted in the statement, from the row as it is when the
-- row lock is held, so two payments at the same time both count; the check
-- contract_amount_due_range refuses one that would take amount_due below 0.
-- With :expected_updated_at, refused (no row) when the row changed since the
-- caller read it.
update contract
   set total_amount = coalesce(:total_amount, total_amount),
       amount_due   = coalesce(:amount_due, amount_due) - coalesce(:paid::numeric, 0)
 where id = :id
   and (:expected_updated_at::timestamptz is null or updated_at = :expected_updated_at)
returning id;

-- name: sign-contract^
-- Sign: signed_at is stamped by the trigger contract_signing, which also
-- checks contract:sign / contract:sign:own. Touches no row if already signed.
update contract
   set is_signed = true
 where id = :id
   and not is_signed
returning id, client_id, total_amount, signed_at;

-- name: reassign-contract$
-- Management: another sales contact for this contract only; the trigger
-- contract_sales_contact_department refuses anyone but an active sales employee.
update contract
   set sales_contact_id = :employee_id
 where id = :id
returning id;

-- name: delete-contract$
-- Management; refused by the database (foreign key) while events refer to it.
delete from contract
 where id = :id
returning id;
