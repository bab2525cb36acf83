-- The bench's data: generated in a few INSERT … SELECT over generate_series.
--
-- Loaded by the admin (a superuser) with session_replication_role = replica,
-- so the row triggers (audit, contact checks, contract defaults and signing,
-- "events only on signed contracts") and the foreign-key triggers are skipped:
-- the data is built to satisfy every one of those rules (the last step checks
-- them on the whole data), and the CHECK constraints are still enforced.
-- Tables stay logged.
--
-- Both sizes have the same shape, so that a page costs the same work on both
-- but for the size of the tables: clients come in runs of 10 per sales
-- employee (a page of 50 clients names 5 of them), each client has two
-- contracts, signing and payment are drawn by a hash of the contract number
-- (independent of who sells it), events sit on signed contracts.
--
-- Parameters (psycopg): %(clients)s, %(contracts)s, %(events)s, %(companies)s,
-- %(sales)s, %(support)s (how many sales and support employees), and everyone's
-- password as the database keeps it (0015): %(password_salt)s, %(password_verifier)s.
-- Statements are separated by a line holding only "-- step: <name>".

-- step: staff
insert into epic_events.employee (full_name, email, department, password_salt,
                                  password_verifier)
values ('Bench Manager', 'manager@bench.example', 'management', %(password_salt)s,
        %(password_verifier)s);

insert into epic_events.employee (full_name, email, department, password_salt,
                                  password_verifier)
select 'Sales ' || i, 'sales' || i || '@bench.example', 'sales', %(password_salt)s,
       %(password_verifier)s
  from generate_series(1, %(sales)s) as i
 order by i;

insert into epic_events.employee (full_name, email, department, password_salt,
                                  password_verifier)
select 'Support ' || i, 'support' || i || '@bench.example', 'support', %(password_salt)s,
       %(password_verifier)s
  from generate_series(1, %(support)s) as i
 order by i;

-- step: companies
insert into epic_events.company (name)
select 'Company ' || i
  from generate_series(1, %(companies)s) as i
 order by i;

-- step: clients
-- Clients 1-10 follow sales employee 1, 11-20 the next, and so on round the
-- sales staff; 1 in 10 has no company. created_at runs over three years.
insert into epic_events.client (full_name, email, phone, company_id, sales_contact_id,
                                created_at, updated_at, last_contact_at)
select 'Client ' || i,
       'client' || i || '@bench.example',
       '+33' || (600000000 + i)::text,
       case when mod(i, 10) <> 0 then co.first_id + mod(i, %(companies)s) end,
       s.ids[1 + mod((i - 1) / 10, %(sales)s)],
       t.at, t.at,
       t.at + interval '3 days'
  from generate_series(1, %(clients)s) as i
 cross join (select min(id) as first_id from epic_events.company) as co
 cross join (select array_agg(id order by id) as ids
               from epic_events.employee where department = 'sales') as s
 cross join lateral (select timestamptz '2024-01-01 00:00+00'
                            + (i::double precision / %(clients)s) * interval '3 years' as at) as t
 order by i;

-- step: contracts
-- Contract j belongs to client ordinal 1 + mod(j - 1, clients) and has that
-- client's sales contact (what contract_defaults would have filled in).
-- 7 in 10 are signed (a signed contract has signed_at), 1 in 4 is paid, each
-- drawn from a hash of j: every sales employee gets the same mix.
insert into epic_events.contract (client_id, sales_contact_id, total_amount, amount_due,
                                  is_signed, signed_at, created_at, updated_at)
select cl.first_id + c.ordinal - 1,
       s.ids[1 + mod((c.ordinal - 1) / 10, %(sales)s)],
       m.total,
       case when d.paid then 0 else m.total / 2 end,
       d.signed,
       case when d.signed then t.at + interval '1 day' end,
       t.at, t.at
  from generate_series(1, %(contracts)s) as j
 cross join (select min(id) as first_id from epic_events.client) as cl
 cross join (select array_agg(id order by id) as ids
               from epic_events.employee where department = 'sales') as s
 cross join lateral (select 1 + mod(j - 1, %(clients)s) as ordinal) as c
 cross join lateral (select mod(abs(hashint8extended(j, 1)), 10) >= 3 as signed,
                            mod(abs(hashint8extended(j, 2)), 4) = 0 as paid) as d
 cross join lateral (select (100 + mod(j * 37, 10000))::numeric(12, 2) as total) as m
 cross join lateral (select timestamptz '2024-01-01 00:00+00'
                            + (j::double precision / %(contracts)s) * interval '3 years' as at) as t
 order by j;

-- step: events
-- Event n sits on the n-th signed contract; 1 in 5 has no support contact,
-- the others are spread over the support employees. starts_at is scattered
-- over two years (a permutation of n), so id order is not date order.
insert into epic_events.event (contract_id, name, support_contact_id, starts_at, ends_at,
                               location, attendees, notes)
select k.id,
       'Event ' || k.n,
       case when mod(k.n, 5) <> 0 then sup.ids[1 + mod(k.n / 5, %(support)s)] end,
       t.at,
       t.at + (2 + mod(k.n, 10)) * interval '1 hour',
       'Venue ' || mod(k.n, 500),
       mod(k.n, 300),
       case when mod(k.n, 7) = 0 then 'Bring the projector.' end
  from (select id, row_number() over (order by id) as n
          from epic_events.contract
         where is_signed) as k
 cross join (select array_agg(id order by id) as ids
               from epic_events.employee where department = 'support') as sup
 cross join lateral (select timestamptz '2026-01-01 00:00+00'
                            + (mod(k.n * 7919, %(events)s))::double precision
                              / %(events)s * interval '2 years' as at) as t
 where k.n <= %(events)s
 order by k.n;

-- step: payments
-- The ledger (0017): each contract's paid part is one payment, as the
-- migration carries it in (what payment_updates_amount_due would keep).
insert into epic_events.payment (contract_id, amount, paid_on, method, reference, recorded_by, recorded_at)
select k.id, k.total_amount - k.amount_due, k.created_at::date, 'transfer', 'opening balance', null,
       k.created_at
  from epic_events.contract k
 where k.total_amount - k.amount_due > 0
 order by k.id;

-- step: newcomer
-- A sales employee hired today: no client, no contract yet.
insert into epic_events.employee (full_name, email, department, password_salt,
                                  password_verifier)
values ('New Sales', 'newcomer@bench.example', 'sales', %(password_salt)s,
        %(password_verifier)s);

-- step: check
-- The rules the skipped triggers enforce, checked once on the whole data:
-- each count must be 0.
select 'event on a missing or unsigned contract', count(*)
  from epic_events.event v
  left join epic_events.contract k on k.id = v.contract_id
 where k.id is null or not k.is_signed
union all
select 'contract of a missing client, or not its sales contact', count(*)
  from epic_events.contract k
  left join epic_events.client c on c.id = k.client_id
 where c.id is null or k.sales_contact_id <> c.sales_contact_id
union all
select 'client of a missing company', count(*)
  from epic_events.client c
  left join epic_events.company co on co.id = c.company_id
 where c.company_id is not null and co.id is null
union all
select 'client followed by no active sales employee', count(*)
  from epic_events.client c
  left join epic_events.employee e on e.id = c.sales_contact_id
 where e.id is null or e.department <> 'sales' or not e.is_active
union all
select 'event supported by no active support employee', count(*)
  from epic_events.event v
  left join epic_events.employee e on e.id = v.support_contact_id
 where v.support_contact_id is not null
   and (e.id is null or e.department <> 'support' or not e.is_active)
union all
select 'amount_due is not total_amount - payments', count(*)
  from epic_events.contract k
  left join (select contract_id, sum(amount) as paid
               from epic_events.payment group by contract_id) p on p.contract_id = k.id
 where k.amount_due <> k.total_amount - coalesce(p.paid, 0)
union all
select 'fewer events than asked', %(events)s - count(*)
  from epic_events.event;
