-- Undo 0026: 0017's payment_checks_the_balance(), 0015's auth_login_salt(),
-- 0005's employee_number default, and no bound on the bcrypt cost.

-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
set local role epic_owner;

create or replace function epic_events.payment_checks_the_balance() returns trigger
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

alter table epic_events.employee
    alter column employee_number
    set default 'EE' || lpad(nextval('epic_events.employee_number_seq')::text, 5, '0');

alter table epic_events.employee drop constraint employee_password_salt_cost_bounded;

create or replace function epic_events.auth_login_salt(p_email text) returns text
    language plpgsql stable security definer
    set search_path = pg_catalog, epic_events, pg_temp
as $$
declare
    salt   text;
    cost   text;
    secret bytea;
begin
    select e.password_salt into salt from epic_events.employee e where lower(e.email) = lower(p_email);
    if salt is not null then
        return salt;
    end if;
    select coalesce((select substr(e.password_salt, 5, 2) from epic_events.employee e
                      order by e.id desc limit 1), '12') into cost;
    select s.secret into secret from epic_events.auth_secret s where s.purpose = 'fake_salt';
    -- 16 bytes in bcrypt's base64 (its own alphabet, same bit order): 22 characters.
    return '$2b$' || cost || '$' || translate(
        left(encode(substring(sha256(secret || convert_to(lower(coalesce(p_email, '')), 'UTF8')) from 1 for 16),
                    'base64'), 22),
        'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/',
        './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789');
end
$$;
