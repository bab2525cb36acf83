-- What the shared DSN could still learn or break, closed (a red-team pass after 0025).
-- depends: 0025_cheaper_request_checks
--
--   1. payment_checks_the_balance(), payment's BEFORE INSERT trigger, runs as
--      the owner and before RLS's WITH CHECK. With the shared DSN and SET ROLE
--      to any department, no login, an INSERT into payment read every
--      contract's balance from its messages ("a payment of 9999999.00 is more
--      than the 4200.00 still due on contract 19") and which contract ids
--      exist. It now refuses, before reading anything, a caller with no
--      checked request unless their login may act as the owner. (Inside a
--      checked request a department reads every contract anyway; the
--      owner's own inserts, an opening balance in a checked request or a
--      migration by an admin, pass.) Not the role in use: the caller can
--      change it half-way through the INSERT (set_config('role', …) in a
--      subquery), after the privilege check and before this trigger.
--   2. employee.employee_number was 'EE' || lpad(n, 5, '0'): lpad cuts, so
--      past 99999 every new number repeated an old one and `employee create`
--      failed on the unique constraint. Management's USAGE on the sequence
--      (for this default) let the shared DSN run nextval() without a login
--      and get there at will. Numbers now keep every digit past five
--      (EE99999, EE100000): burning numbers leaves gaps, nothing else.
--   3. A salt's bcrypt cost was any two digits, and auth_login_salt() gave
--      unknown emails the cost of the newest account. Its owner (a password
--      change) or a manager (an account created with any salt) could set cost
--      31: unknown emails were then told from real ones again (cost 31 against
--      12), and a mistyped email made `login` hash for hours. The cost is now
--      04-14 (bcrypt's least to about a second per login; the CLI's
--      EPIC_EVENTS_BCRYPT_ROUNDS, default 12, says the same), and unknown
--      emails get the cost most accounts have, so the newest account no longer
--      sets it (an account at another cost can still be told from an unknown
--      email, as before). auth_login_salt() now does the same work for a known
--      and an unknown email, so its time tells less.

-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
set local role epic_owner;

-- 1. 0017's trigger, with the check first.
create or replace function epic_events.payment_checks_the_balance() returns trigger
    language plpgsql security definer
    set search_path = pg_catalog, epic_events, pg_temp
as $$
declare
    total numeric(12, 2);
    paid  numeric(12, 2);
begin
    -- Nothing below may answer a caller outside a checked request: RLS would
    -- refuse the row, but only after this trigger has spoken. Not
    -- current_setting('role'): the caller can switch it inside the statement.
    -- session_user is the login (only a superuser changes it); an admin who
    -- may act as the owner (migrations) passes. A role switched inside a
    -- checked request makes current_employee_id() raise: refused too.
    if epic_events.current_employee_id() is null
       and not pg_has_role(session_user, 'epic_owner', 'member') then
        raise exception 'not logged in: no request was checked in this transaction'
            using errcode = 'insufficient_privilege';
    end if;
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

-- 2. Every digit kept: '9' positions print only when the number needs them,
-- '0' positions always (20 positions: a bigint has at most 19 digits).
alter table epic_events.employee
    alter column employee_number
    set default 'EE' || to_char(nextval('epic_events.employee_number_seq'), 'FM99999999999999900000');

-- 3. The cost, bounded. Accounts set up before with a cost of 15 or more
-- would fail the constraint: said, with what to do, instead of a bare error.
do $$
declare
    outside bigint;
begin
    select count(*) into outside
      from epic_events.employee
     where password_salt ~ '^\$2[aby]\$[0-9]{2}\$'
       and substr(password_salt, 5, 2) not between '04' and '14';
    if outside > 0 then
        raise exception '0026: % account(s) have a bcrypt cost outside 04-14', outside
            using hint = 'Reset their passwords (epic-events employee update ID --reset-password) with'
                         ' EPIC_EVENTS_BCRYPT_ROUNDS between 4 and 14, then apply again.';
    end if;
end
$$;

-- A salt of another shape is employee_password_salt_is_bcrypt's to refuse
-- (0015), under its own name.
alter table epic_events.employee
    -- Checked at once: one row per employee, read in a moment under the lock.
    -- squawk-ignore constraint-missing-not-valid
    add constraint employee_password_salt_cost_bounded
        check (password_salt !~ '^\$2[aby]\$[0-9]{2}\$'
               or substr(password_salt, 5, 2) between '04' and '14');

-- 0015's function; the fake salt's cost is the one most accounts have.
create or replace function epic_events.auth_login_salt(p_email text) returns text
    language plpgsql stable security definer
    set search_path = pg_catalog, epic_events, pg_temp
as $$
declare
    salt   text;
    cost   text;
    secret bytea;
    fake   text;
begin
    -- The fake salt is made for every email, known or not, so that both take
    -- the same work and the time of the answer tells less.
    -- Its cost: the most common one (ties: the higher), deactivated accounts
    -- included since their salts are handed out too. One account changing
    -- its own cost moves it only where few accounts tie.
    select coalesce((select substr(e.password_salt, 5, 2)
                       from epic_events.employee e
                      group by substr(e.password_salt, 5, 2)
                      order by count(*) desc, substr(e.password_salt, 5, 2) desc
                      limit 1), '12') into cost;
    select s.secret into secret from epic_events.auth_secret s where s.purpose = 'fake_salt';
    -- 16 bytes in bcrypt's base64 (its own alphabet, same bit order): 22 characters.
    fake := '$2b$' || cost || '$' || translate(
        left(encode(substring(sha256(secret || convert_to(lower(coalesce(p_email, '')), 'UTF8')) from 1 for 16),
                    'base64'), 22),
        'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/',
        './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789');
    select e.password_salt into salt from epic_events.employee e where lower(e.email) = lower(p_email);
    return coalesce(salt, fake);
end
$$;
