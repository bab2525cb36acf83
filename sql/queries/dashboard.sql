-- name: management^
-- Management's one-screen summary: what is unsigned, what is owed (and to
-- whom), which upcoming events still need a support contact (none, or one
-- who was deactivated), and the load
-- per week. One round trip; each part is a bounded aggregate.
select
    (select count(*) from contract where not is_signed) as unsigned_count,
    (select coalesce(sum(total_amount), 0) from contract where not is_signed) as unsigned_total,
    (select coalesce(sum(amount_due), 0) from contract where amount_due > 0) as due_total,
    (select coalesce(json_agg(d order by d.due desc), '[]')
       from (select e.full_name as name, sum(k.amount_due) as due
               from contract k
               join employee e on e.id = k.sales_contact_id
              where k.amount_due > 0
              group by e.full_name
              order by due desc
              limit 8) d) as due_by_sales,
    (select coalesce(json_agg(v order by v.starts_at), '[]')
       from (select ev.id, ev.name, ev.starts_at, ev.location
               from event ev
              where (ev.support_contact_id is null
                     or ev.support_contact_id = any (array(select x.id from employee x
                                                            where not x.is_active)))
                and ev.starts_at >= now()
                and ev.starts_at < now() + interval '30 days'
              order by ev.starts_at
              limit 8) v) as unstaffed_soon,
    (select coalesce(json_agg(w order by w.week), '[]')
       from (select date_trunc('week', starts_at) as week, count(*) as events
               from event
              where starts_at >= date_trunc('week', now())
                and starts_at < date_trunc('week', now()) + interval '8 weeks'
              group by 1) w) as events_per_week;

-- name: sales^
-- A sales employee's summary: their clients (and how many were not contacted
-- in 30 days), their contracts still to sign or to be paid, and their
-- clients' next events.
select
    (select count(*) from client
      where sales_contact_id = (select epic_events.current_employee_id())) as my_clients,
    (select count(*) from client
      where sales_contact_id = (select epic_events.current_employee_id())
        and (last_contact_at is null or last_contact_at < now() - interval '30 days')) as my_stale_clients,
    (select coalesce(json_agg(k order by k.id), '[]')
       from (select c.id, cl.full_name as client_name, c.total_amount
               from contract c
               join client cl on cl.id = c.client_id
              where c.sales_contact_id = (select epic_events.current_employee_id())
                and not c.is_signed
              order by c.id
              limit 8) k) as my_unsigned,
    (select coalesce(sum(amount_due), 0) from contract
      where sales_contact_id = (select epic_events.current_employee_id())
        and amount_due > 0) as my_due_total,
    (select coalesce(json_agg(v order by v.starts_at), '[]')
       from (select ev.id, ev.name, ev.starts_at, ev.support_contact_id,
                    s.full_name as support_contact_name
               from event ev
               join contract c on c.id = ev.contract_id
               left join employee s on s.id = ev.support_contact_id
              where c.sales_contact_id = (select epic_events.current_employee_id())
                and ev.starts_at >= now()
              order by ev.starts_at
              limit 8) v) as my_next_events;

-- name: support^
-- A support employee's summary: the next events they run.
select
    (select count(*) from event
      where support_contact_id = (select epic_events.current_employee_id())
        and starts_at >= now()) as my_upcoming,
    (select coalesce(json_agg(v order by v.starts_at), '[]')
       from (select ev.id, ev.name, ev.starts_at, ev.ends_at, ev.location, ev.attendees,
                    cl.full_name as client_name, cl.phone as client_phone
               from event ev
               join contract c on c.id = ev.contract_id
               join client cl on cl.id = c.client_id
              where ev.support_contact_id = (select epic_events.current_employee_id())
                and ev.starts_at >= now()
              order by ev.starts_at
              limit 10) v) as my_next_events;
