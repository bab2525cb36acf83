-- The payment ledger: every payment is a row; amount_due follows from it.
-- depends: 0016_text_and_self_guards
--
-- Before: `contract update --pay` lowered contract.amount_due and nothing
-- recorded the payment. Now a payment is a row of payment (who recorded it,
-- when, how it was paid), and the database keeps
--     contract.amount_due = contract.total_amount - sum(payment.amount)
-- A payment is never edited or deleted (no UPDATE or DELETE grant): a
-- correction is a negative payment, recorded by management (payment:correct).
--
-- Race safety: recording a payment first locks its contract row (FOR UPDATE,
-- in payment_checks_the_balance), then checks against the ledger as committed
-- at that moment. Two payments on one contract take turns: both count, and
-- the second is refused if the first left too little due. A change of
-- total_amount takes the same row lock (it is an UPDATE of that row).
--
-- Carried over: each contract's paid part (total_amount - amount_due, when
-- > 0) becomes one opening payment (method 'other', reference 'opening
-- balance', recorded_by NULL: nobody recorded it through the ledger), inserted
-- before the triggers exist, so that no contract's balance changes.
--
-- A contract created with an amount due below its total (`contract create
-- --due`) gets the same opening payment, recorded by whoever created it
-- (contract_opening_balance).
--
-- Deleting a contract (management, contract:delete) deletes its payments with
-- it; the audit log keeps them.

-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
set local role epic_owner;

-- The catalog and the seeded rights, as 0004 wrote them. Under FORCE RLS the
-- owner writes neither table; a policy for this transaction only lets it.
create policy permission_seed_0017 on epic_events.permission
    for all to epic_owner using (true) with check (true);
create policy department_permission_seed_0017 on epic_events.department_permission
    for all to epic_owner using (true) with check (true);
-- Seeding is the migration's, not a grant by someone: unaudited, as in 0004.
alter table epic_events.department_permission disable trigger department_permission_audit;
insert into epic_events.permission (code, description) values
    ('payment:create',     'record a payment on any contract'),
    ('payment:create:own', 'record a payment on the contracts one is the sales contact of'),
    ('payment:correct',    'record a negative payment (a correction; payments are never edited)');
insert into epic_events.department_permission (department, permission_code) values
    ('management', 'payment:create'),
    ('management', 'payment:correct'),
    ('sales',      'payment:create:own');
drop policy permission_seed_0017 on epic_events.permission;
alter table epic_events.department_permission enable trigger department_permission_audit;
drop policy department_permission_seed_0017 on epic_events.department_permission;

create table epic_events.payment (
    id          bigint generated always as identity primary key,
    contract_id bigint not null references epic_events.contract (id) on delete cascade,
    -- Positive: money received; negative: a correction of earlier payments.
    amount      numeric(12, 2) not null
                constraint payment_amount_not_zero check (amount <> 0),
    paid_on     date not null default current_date
                constraint payment_paid_on_plausible check (paid_on >= date '2000-01-01'),
    method      text not null
                constraint payment_method_valid
                check (method in ('transfer', 'card', 'cheque', 'cash', 'other')),
    reference   text
                constraint payment_reference_valid
                check (btrim(reference) = reference and reference <> '' and length(reference) <= 200
                       and reference !~ '[[:cntrl:]]'),
    -- The employee who recorded it; NULL only for the opening payments of
    -- this migration and of contracts created by an admin.
    recorded_by bigint default epic_events.current_employee_id()
                references epic_events.employee (id) on delete restrict,
    recorded_at timestamptz not null default now()
);
create index payment_contract_idx on epic_events.payment (contract_id, paid_on, id);
create index payment_recorded_by_idx on epic_events.payment (recorded_by);
comment on table epic_events.payment is
    'The payment ledger: contract.amount_due = total_amount - sum(amount). Append-only; a correction is a negative payment.';
comment on column epic_events.payment.recorded_by is
    'Who recorded it (the caller, by default); NULL for opening balances carried in by a migration or an admin.';

-- The opening balances (see the header), before any trigger exists.
insert into epic_events.payment (contract_id, amount, paid_on, method, reference, recorded_by, recorded_at)
select id, total_amount - amount_due, created_at::date, 'other', 'opening balance', null, now()
  from epic_events.contract
 where total_amount - amount_due > 0;

alter table epic_events.payment enable row level security;
alter table epic_events.payment force row level security;

-- Everyone logged in reads the ledger (as they read every contract).
create policy payment_read on epic_events.payment
    for select to epic_management, epic_sales, epic_support
    using ((select epic_events.current_employee_id()) is not null);
-- The contract's sales contact (payment:create:own) or anyone holding
-- payment:create records a payment, in their own name; a negative one (a
-- correction) also needs payment:correct.
create policy payment_create on epic_events.payment
    for insert to epic_management, epic_sales, epic_support
    with check (recorded_by = (select epic_events.current_employee_id())
                and ((select epic_events.has_permission('payment:create'))
                     or ((select epic_events.has_permission('payment:create:own'))
                         and exists (select from epic_events.contract c
                                      where c.id = contract_id
                                        and c.sales_contact_id = (select epic_events.current_employee_id()))))
                and (amount > 0 or (select epic_events.has_permission('payment:correct'))));
-- The ledger triggers below (SECURITY DEFINER) sum payments and record the
-- opening payment of a new contract as the owner.
-- Bound to the department the caller's token was checked for, whatever role
-- a statement switches to half-way (0015).
create policy payment_checked_for_management on epic_events.payment as restrictive
    for all to epic_management
    using ((select epic_events.caller_department()) = 'management')
    with check ((select epic_events.caller_department()) = 'management');
create policy payment_checked_for_sales on epic_events.payment as restrictive
    for all to epic_sales
    using ((select epic_events.caller_department()) = 'sales')
    with check ((select epic_events.caller_department()) = 'sales');
create policy payment_checked_for_support on epic_events.payment as restrictive
    for all to epic_support
    using ((select epic_events.caller_department()) = 'support')
    with check ((select epic_events.caller_department()) = 'support');
create policy payment_read_by_definer on epic_events.payment
    for select to epic_owner using (true);
create policy payment_opening_by_definer on epic_events.payment
    for insert to epic_owner with check (reference = 'opening balance');

grant select on epic_events.payment to epic_management, epic_sales, epic_support;
grant insert (contract_id, amount, paid_on, method, reference)
    on epic_events.payment to epic_management, epic_sales;
-- NOTE: no UPDATE or DELETE for anyone: a payment is never edited (a
-- correction is a new, negative payment). recorded_by and recorded_at are the
-- database's (defaults; the policy checks recorded_by is the caller).

-- amount_due is the ledger's now: no department writes it directly.
revoke update (amount_due) on epic_events.contract from epic_management, epic_sales;
-- NOTE: management still gives amount_due on INSERT (`contract create --due`):
-- the difference becomes an opening payment (contract_opening_balance).

-- BEFORE INSERT on payment: lock the contract, then check the payment against
-- the ledger as committed now. SECURITY DEFINER: the lock needs UPDATE rights
-- that support (and sales on others' contracts) lack; RLS still decides, just
-- after, whether the caller may record it.
create function epic_events.payment_checks_the_balance() returns trigger
    language plpgsql security definer
    set search_path = pg_catalog, epic_events, pg_temp
as $$
declare
    total numeric(12, 2);
    paid  numeric(12, 2);
begin
    select c.total_amount into total
      from epic_events.contract c
     where c.id = new.contract_id
       for update;
    if not found then
        raise exception 'insert or update on table "payment" violates foreign key constraint "payment_contract_id_fkey"'
            using errcode = 'foreign_key_violation', constraint = 'payment_contract_id_fkey',
                  table = 'payment', column = 'contract_id',
                  detail = format('Key (contract_id)=(%s) is not present in table "contract".', new.contract_id);
    end if;
    -- A new statement, so a new snapshot: it sees every payment committed
    -- before the lock above was granted.
    select coalesce(sum(p.amount), 0) into paid
      from epic_events.payment p
     where p.contract_id = new.contract_id;
    if new.amount > total - paid then
        raise exception 'amount: a payment of % is more than the % still due on contract %',
                        new.amount, total - paid, new.contract_id
            using errcode = 'check_violation', constraint = 'payment_within_amount_due',
                  table = 'payment', column = 'amount';
    end if;
    if new.amount < 0 and -new.amount > paid then
        raise exception 'amount: a correction of % is more than the % paid on contract %',
                        -new.amount, paid, new.contract_id
            using errcode = 'check_violation', constraint = 'payment_correction_within_paid',
                  table = 'payment', column = 'amount';
    end if;
    -- A day of slack: the caller's "today" may be ahead of the server's.
    if new.paid_on > current_date + 1 then
        raise exception 'paid_on: % is in the future', new.paid_on
            using errcode = 'check_violation', constraint = 'payment_paid_on_not_future',
                  table = 'payment', column = 'paid_on';
    end if;
    return new;
end
$$;
comment on function epic_events.payment_checks_the_balance() is
    'BEFORE INSERT on payment: lock the contract; refuse a payment above what is due, a correction above what was paid, a date in the future.';

-- AFTER INSERT on payment: the contract's amount_due follows the ledger. As
-- the owner: no department may write amount_due.
create function epic_events.payment_updates_amount_due() returns trigger
    language plpgsql security definer
    set search_path = pg_catalog, epic_events, pg_temp
as $$
begin
    update epic_events.contract c
       set amount_due = c.total_amount - (select coalesce(sum(p.amount), 0)
                                            from epic_events.payment p
                                           where p.contract_id = c.id)
     where c.id = new.contract_id;
    return null;
end
$$;
comment on function epic_events.payment_updates_amount_due() is
    'AFTER INSERT on payment: contract.amount_due = total_amount - sum(payments).';

-- BEFORE UPDATE of total_amount or amount_due on contract: amount_due is
-- total_amount - paid, whoever writes (an admin included). A new total below
-- what was paid is refused; amount_due set to anything else is refused.
create function epic_events.contract_amount_due_follows_ledger() returns trigger
    language plpgsql security definer
    set search_path = pg_catalog, epic_events, pg_temp
as $$
declare
    paid numeric(12, 2);
begin
    select coalesce(sum(p.amount), 0) into paid
      from epic_events.payment p
     where p.contract_id = new.id;
    if new.amount_due is distinct from old.amount_due
       and new.amount_due is distinct from new.total_amount - paid then
        raise exception 'amount_due: follows the payment ledger (total_amount - payments = %); record a payment instead',
                        new.total_amount - paid
            using errcode = 'check_violation', constraint = 'contract_amount_due_follows_ledger',
                  table = 'contract', column = 'amount_due';
    end if;
    if new.total_amount < paid then
        raise exception 'total_amount: % is less than the % already paid on contract %',
                        new.total_amount, paid, new.id
            using errcode = 'check_violation', constraint = 'contract_total_covers_payments',
                  table = 'contract', column = 'total_amount';
    end if;
    new.amount_due := new.total_amount - paid;
    return new;
end
$$;
comment on function epic_events.contract_amount_due_follows_ledger() is
    'BEFORE UPDATE on contract: amount_due = total_amount - sum(payments), always.';

-- AFTER INSERT on contract: an amount due below the total was paid already;
-- record that as the contract's opening payment.
create function epic_events.contract_opening_balance() returns trigger
    language plpgsql security definer
    set search_path = pg_catalog, epic_events, pg_temp
as $$
begin
    insert into epic_events.payment (contract_id, amount, method, reference)
    values (new.id, new.total_amount - new.amount_due, 'other', 'opening balance');
    return null;
end
$$;
comment on function epic_events.contract_opening_balance() is
    'AFTER INSERT on contract: total_amount - amount_due, when > 0, becomes an opening payment.';

create trigger payment_checks_the_balance
    before insert on epic_events.payment
    for each row execute function epic_events.payment_checks_the_balance();
create trigger payment_updates_amount_due
    after insert on epic_events.payment
    for each row execute function epic_events.payment_updates_amount_due();
create trigger payment_audit
    after insert or update or delete on epic_events.payment
    for each row execute function epic_events.audit_row_change('id');
create trigger contract_amount_due_follows_ledger
    before update of total_amount, amount_due on epic_events.contract
    for each row execute function epic_events.contract_amount_due_follows_ledger();
create trigger contract_opening_balance
    after insert on epic_events.contract
    for each row when (new.amount_due < new.total_amount)
    execute function epic_events.contract_opening_balance();
