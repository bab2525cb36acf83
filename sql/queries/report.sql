-- Numbers for management: `epic-events report sales|events`.
--
-- Each report is one query. Its rows are the groups (a month, a sales contact,
-- a week) and one last row, the key null, with the whole period's totals
-- (GROUPING SETS: the totals are the database's sums, not the CLI's).
-- Periods are whole local days, :starts_on to :ends_on included; a moment
-- falls on the day its local time says, :utc_offset being the caller's
-- offset from UTC (e.g. '02:00' in Paris in summer).
-- Every query keeps its rows only for a caller holding report:read
-- (management's by default, 0021): HAVING (select has_permission(...)) drops
-- each group, the totals row included, for anyone else.

-- name: may-read-reports$
-- Whether the caller's department holds report:read (the CLI asks first, to
-- say why a report is refused rather than print an empty one).
select epic_events.has_permission('report:read');

-- name: sales-by-month
-- Contracts month by month:
--   created        contracts created that month
--   signed         contracts signed that month (signed_at), and
--   signed_amount  the sum of their total_amount
--   collected      the ledger's payments paid that month (paid_on), net of
--                  corrections (negative payments)
--   due            what is still due today on the contracts signed that month
-- A contract created in March and signed in April counts in both months, once
-- in each column.
with facts (month, created, signed, signed_amount, collected, due) as (
    select date_trunc('month', k.created_at at time zone 'UTC' + :utc_offset::interval)::date,
           1, 0, 0::numeric(12, 2), 0::numeric(12, 2), 0::numeric(12, 2)
      from contract k
     where (k.created_at at time zone 'UTC' + :utc_offset::interval)::date
           between :starts_on::date and :ends_on::date
    union all
    select date_trunc('month', k.signed_at at time zone 'UTC' + :utc_offset::interval)::date,
           0, 1, k.total_amount, 0, k.amount_due
      from contract k
     where k.is_signed
       and (k.signed_at at time zone 'UTC' + :utc_offset::interval)::date
           between :starts_on::date and :ends_on::date
    union all
    select date_trunc('month', p.paid_on)::date, 0, 0, 0, p.amount, 0
      from payment p
     where p.paid_on between :starts_on::date and :ends_on::date
)
select f.month,
       coalesce(sum(f.created), 0)::bigint as created,
       coalesce(sum(f.signed), 0)::bigint as signed,
       coalesce(sum(f.signed_amount), 0)::numeric(14, 2) as signed_amount,
       coalesce(sum(f.collected), 0)::numeric(14, 2) as collected,
       coalesce(sum(f.due), 0)::numeric(14, 2) as due
  from facts f
 group by grouping sets ((f.month), ())
having (select epic_events.has_permission('report:read'))
 order by f.month nulls last;

-- name: sales-by-sales-contact
-- The same figures as sales-by-month, per sales contact (the contract's
-- current one: a reassigned contract counts for whoever holds it now),
-- largest signed amount first.
with facts (sales_contact_id, created, signed, signed_amount, collected, due) as (
    select k.sales_contact_id, 1, 0, 0::numeric(12, 2), 0::numeric(12, 2), 0::numeric(12, 2)
      from contract k
     where (k.created_at at time zone 'UTC' + :utc_offset::interval)::date
           between :starts_on::date and :ends_on::date
    union all
    select k.sales_contact_id, 0, 1, k.total_amount, 0, k.amount_due
      from contract k
     where k.is_signed
       and (k.signed_at at time zone 'UTC' + :utc_offset::interval)::date
           between :starts_on::date and :ends_on::date
    union all
    select k.sales_contact_id, 0, 0, 0, p.amount, 0
      from payment p
      join contract k on k.id = p.contract_id
     where p.paid_on between :starts_on::date and :ends_on::date
),
totals as (
    select f.sales_contact_id,
           coalesce(sum(f.created), 0)::bigint as created,
           coalesce(sum(f.signed), 0)::bigint as signed,
           coalesce(sum(f.signed_amount), 0)::numeric(14, 2) as signed_amount,
           coalesce(sum(f.collected), 0)::numeric(14, 2) as collected,
           coalesce(sum(f.due), 0)::numeric(14, 2) as due,
           grouping(f.sales_contact_id) = 1 as is_total
      from facts f
     group by grouping sets ((f.sales_contact_id), ())
    having (select epic_events.has_permission('report:read'))
)
select t.sales_contact_id, e.full_name as sales_contact_name, t.created, t.signed,
       t.signed_amount, t.collected, t.due
  from totals t
  left join employee e on e.id = t.sales_contact_id
 order by t.is_total, t.signed_amount desc, e.full_name, t.sales_contact_id;

-- name: events-by-week
-- Events week by week (weeks start on Monday), by the day they start:
--   events            how many
--   attendees         their expected attendees, summed
--   without_support   how many have no support contact, or one who was
--                     deactivated (as `event list --no-support` counts them)
--   without_support_share  without_support / events (0 to 1, 4 decimals)
with weekly as (
    select date_trunc('week', v.starts_at at time zone 'UTC' + :utc_offset::interval)::date as week,
           v.attendees,
           (v.support_contact_id is null or not s.is_active) as without_support
      from event v
      left join employee s on s.id = v.support_contact_id
     where (v.starts_at at time zone 'UTC' + :utc_offset::interval)::date
           between :starts_on::date and :ends_on::date
)
select w.week,
       count(*) as events,
       coalesce(sum(w.attendees), 0)::bigint as attendees,
       count(*) filter (where w.without_support) as without_support,
       round(count(*) filter (where w.without_support)::numeric / nullif(count(*), 0), 4)::float8
           as without_support_share
  from weekly w
 group by grouping sets ((w.week), ())
having (select epic_events.has_permission('report:read'))
 order by w.week nulls last;
