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
-- meanwhile, already signed, or not the caller's to change. may_update,
-- may_sign, may_pay and may_correct mirror the policies contract_update and
-- payment_create and the trigger contract_signing, only to word the refusal;
-- the database decides.
select id, sales_contact_id, total_amount, amount_due, is_signed, signed_at, updated_at,
       epic_events.has_permission('contract:update')
       or (epic_events.has_permission('contract:update:own')
           and sales_contact_id = epic_events.current_employee_id()) as may_update,
       epic_events.has_permission('contract:sign')
       or (epic_events.has_permission('contract:sign:own')
           and sales_contact_id = epic_events.current_employee_id()) as may_sign,
       epic_events.has_permission('payment:create')
       or (epic_events.has_permission('payment:create:own')
           and sales_contact_id = epic_events.current_employee_id()) as may_pay,
       epic_events.has_permission('payment:correct') as may_correct
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
-- Change the total (null = keep). amount_due is the ledger's: the trigger
-- contract_amount_due_follows_ledger (0017) sets it to the new total minus
-- what was paid, and refuses a total below that. With :expected_updated_at,
-- refused (no row) when the row changed since the caller read it.
update contract
   set total_amount = coalesce(:total_amount, total_amount)
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

-- name: record-payment$
-- One payment into the ledger (0017). recorded_by and recorded_at are the
-- database's; a null :paid_on is today. The trigger payment_checks_the_balance
-- locks the contract first, so two payments at once take turns and both
-- count, and refuses one above what is due (or a correction above what was
-- paid); payment_updates_amount_due then lowers the contract's amount_due.
insert into payment (contract_id, amount, paid_on, method, reference)
values (:contract_id, :amount, coalesce(:paid_on::date, current_date), :method, :reference)
returning id;

-- name: get-payment^
-- One payment, with who recorded it and what its contract still owes.
select p.id, p.contract_id, p.amount, p.paid_on, p.method, p.reference,
       p.recorded_by, e.full_name as recorded_by_name, p.recorded_at,
       k.total_amount, k.amount_due
  from payment p
  join contract k on k.id = p.contract_id
  left join employee e on e.id = p.recorded_by
 where p.id = :id;

-- name: list-payments
-- A contract's ledger, oldest first (payment_contract_idx), with a running
-- total of what was paid.
select p.id, p.contract_id, p.amount, p.paid_on, p.method, p.reference,
       p.recorded_by, e.full_name as recorded_by_name, p.recorded_at,
       sum(p.amount) over (order by p.paid_on, p.id) as paid_to_date
  from payment p
  left join employee e on e.id = p.recorded_by
 where p.contract_id = :contract_id
 order by p.paid_on, p.id;
