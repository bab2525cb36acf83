-- name: list-events
-- A page of events with their client (read through the contract) and support contact.
-- Optional filters are written "(not :flag or …)" and "(:param is null or …)":
-- PostgreSQL plans each call for its values (a custom plan) and the branches
-- that do not apply fold away, so each combination walks its index, already
-- in the default order (starts_at, id):
--   default, --from/--to       event_starts_idx
--   --no-support               events without a support contact, or whose
--                              contact was deactivated (they need one too):
--                              event_starts_idx, filtered, or a BitmapOr of
--                              event_without_support_idx and
--                              event_support_contact_idx (the leavers' ids, an
--                              InitPlan), whichever the planner finds cheaper.
--                              (A UNION ALL of the two kept the partial index
--                              but cost the default list its index order.)
--   --mine as support          event_support_contact_idx
--   --contract                 event_contract_idx
-- --mine as sales keeps the events of the contracts one is the sales contact of.
--   :me (the caller's id from the token) lets the planner see whose contracts
--   these are and start from contract_sales_contact_idx when the caller has
--   few (a newcomer): otherwise it walks every event in start order looking
--   for theirs. It only narrows: current_employee_id() still has the last word.
-- The CASE terms of the ORDER BY fold the same way.
-- The client's email and phone are for `--format ics` (its DESCRIPTION).
-- The support contact's name comes from a lateral subquery (offset 0 keeps it
-- one): the planner memoizes it per support contact. Under RLS a plain left
-- join became a nested loop filtering every employee for every event, and a
-- scalar subquery costs a lookup per row (`make bench`: 0.81 and 0.82 ms
-- against 0.54 for `event list --no-support`, large data).
select v.id, v.contract_id, k.client_id, c.full_name as client_name,
       c.email as client_email, c.phone as client_phone, v.name,
       v.support_contact_id, s.full_name as support_contact_name,
       v.starts_at, v.ends_at, v.location, v.attendees, v.notes,
       v.created_at, v.updated_at
  from event v
  join contract k on k.id = v.contract_id
  join client c on c.id = k.client_id
  left join lateral (select s.full_name
                       from employee s
                      where s.id = v.support_contact_id
                     offset 0) s on true
 where (not :no_support
        or v.support_contact_id is null
        or v.support_contact_id = any (array(select x.id from employee x where not x.is_active)))
   and (not :assigned_to_me or v.support_contact_id = (select epic_events.current_employee_id()))
   and (not :sold_by_me or (k.sales_contact_id = :me::bigint
                            and k.sales_contact_id = (select epic_events.current_employee_id())))
   and (:contract_id::bigint is null or v.contract_id = :contract_id)
   and (:starts_from::timestamptz is null or v.starts_at >= :starts_from)
   and (:starts_until::timestamptz is null or v.starts_at <= :starts_until)
 order by case when :sort = 'name' and not :desc then lower(v.name) end,
          case when :sort = 'name' and :desc then lower(v.name) end desc,
          case when :sort = 'starts_at' and not :desc then v.starts_at end,
          case when :sort = 'starts_at' and :desc then v.starts_at end desc,
          case when :desc then v.id end desc,
          v.id
 limit :limit offset :offset;

-- name: get-event^
-- One event, with how to reach its client (read through the contract, never
-- copied), its sales contact and its support contact.
select v.id, v.contract_id, k.client_id, c.full_name as client_name,
       c.email as client_email, c.phone as client_phone,
       k.sales_contact_id, e.full_name as sales_contact_name,
       v.name, v.support_contact_id, s.full_name as support_contact_name,
       v.starts_at, v.ends_at, v.location, v.attendees, v.notes,
       v.created_at, v.updated_at
  from event v
  join contract k on k.id = v.contract_id
  join client c on c.id = k.client_id
  join employee e on e.id = k.sales_contact_id
  left join employee s on s.id = v.support_contact_id
 where v.id = :id;

-- name: event-state^
-- What a write that touched no row needs to explain itself.
select id, contract_id, support_contact_id, starts_at, ends_at, updated_at
  from event
 where id = :id;

-- name: create-event$
-- Sales, on a signed contract of theirs: the policy event_create and the
-- trigger event_needs_signed_contract refuse anything else. No support
-- contact yet: management assigns one (assign-support).
insert into event (contract_id, name, starts_at, ends_at, location, attendees, notes)
values (:contract_id, :name, :starts_at, :ends_at, :location, :attendees, :notes)
returning id;

-- name: update-event$
-- Change the given fields (null = keep); refused (no row) when the row
-- changed since the caller read it (:expected_updated_at, when given).
-- Support may only reach the events assigned to them (policy event_update).
update event
   set name      = coalesce(:name, name),
       starts_at = coalesce(:starts_at, starts_at),
       ends_at   = coalesce(:ends_at, ends_at),
       location  = coalesce(:location, location),
       attendees = coalesce(:attendees, attendees),
       notes     = case when :set_notes then :notes else notes end
 where id = :id
   and (:expected_updated_at::timestamptz is null or updated_at = :expected_updated_at)
returning id;

-- name: assign-support$
-- Management: set (or, with null, remove) the support contact; the trigger
-- event_support_contact_department refuses anyone but an active support employee.
update event
   set support_contact_id = :employee_id
 where id = :id
returning id;

-- name: delete-event$
-- Management.
delete from event
 where id = :id
returning id;

-- name: agenda
-- `event agenda`: the events starting in [:starts_from, :starts_before), in
-- start order, with how to reach each client (the day-by-day view and the
-- iCalendar file show it). An event running past midnight is listed on the
-- day it starts, with its end. Filters as in list-events: :assigned_to_me
-- (support's --mine), :sold_by_me (sales' --mine). Walks event_starts_idx
-- over the period (or event_support_contact_idx for support's --mine).
select v.id, v.contract_id, k.client_id, c.full_name as client_name,
       c.email as client_email, c.phone as client_phone, v.name,
       v.support_contact_id, s.full_name as support_contact_name,
       v.starts_at, v.ends_at, v.location, v.attendees, v.notes,
       v.created_at, v.updated_at
  from event v
  join contract k on k.id = v.contract_id
  join client c on c.id = k.client_id
  left join employee s on s.id = v.support_contact_id
 where v.starts_at >= :starts_from
   and v.starts_at < :starts_before
   and (not :assigned_to_me or v.support_contact_id = (select epic_events.current_employee_id()))
   and (not :sold_by_me or k.sales_contact_id = (select epic_events.current_employee_id()))
 order by v.starts_at, v.id
 limit :limit;

-- name: calendar-domain$
-- The right-hand side of every event's iCalendar UID (event-<id>@<this>):
-- the database's name, the same for every employee and every export, so that
-- importing a new export updates the events a calendar already has.
select current_database()::text || '.epic-events';
