-- Contracts: what a client owes, and whether it is signed.
-- depends: 0008_clients

-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
set local role epic_owner;

create table epic_events.contract (
    id               bigint generated always as identity primary key,
    client_id        bigint not null references epic_events.client (id) on delete restrict,
    -- Defaults to the client's sales contact (contract_defaults below).
    sales_contact_id bigint not null references epic_events.employee (id) on delete restrict,
    total_amount     numeric(12, 2) not null
                     constraint contract_total_amount_not_negative check (total_amount >= 0),
    -- Defaults to total_amount; payments lower it.
    amount_due       numeric(12, 2) not null,
    is_signed        boolean not null default false,
    signed_at        timestamptz,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    constraint contract_amount_due_range check (amount_due >= 0 and amount_due <= total_amount),
    constraint contract_signed_at_when_signed check (is_signed = (signed_at is not null))
);
create index contract_client_idx on epic_events.contract (client_id, id);
create index contract_sales_contact_idx on epic_events.contract (sales_contact_id, id);
-- `contract list --unsigned [--mine]` and `--unpaid [--mine]` read only these.
create index contract_unsigned_idx on epic_events.contract (sales_contact_id, id) where not is_signed;
create index contract_unsigned_all_idx on epic_events.contract (id) where not is_signed;
create index contract_unpaid_idx on epic_events.contract (sales_contact_id, id) where amount_due > 0;
create index contract_unpaid_all_idx on epic_events.contract (id) where amount_due > 0;
comment on table epic_events.contract is
    'Contracts; money is numeric(12,2); 0 <= amount_due <= total_amount; signing cannot be undone.';

alter table epic_events.contract enable row level security;
alter table epic_events.contract force row level security;

create policy contract_read on epic_events.contract
    for select to epic_management, epic_sales, epic_support
    using ((select epic_events.current_employee_id()) is not null);
create policy contract_create on epic_events.contract
    for insert to epic_management, epic_sales, epic_support
    with check ((select epic_events.has_permission('contract:create')));
create policy contract_update on epic_events.contract
    for update to epic_management, epic_sales, epic_support
    using ((select epic_events.has_permission('contract:update'))
           or ((select epic_events.has_permission('contract:update:own'))
               and sales_contact_id = (select epic_events.current_employee_id())))
    with check ((select epic_events.has_permission('contract:update'))
                or ((select epic_events.has_permission('contract:update:own'))
                    and sales_contact_id = (select epic_events.current_employee_id())));
create policy contract_delete on epic_events.contract
    for delete to epic_management, epic_sales, epic_support
    using ((select epic_events.has_permission('contract:delete')));
-- Reassigning a client moves its contracts (client_reassign_moves_contracts):
-- a consequence of the client's update, done as the owner.
create policy contract_follow_client_by_definer on epic_events.contract
    for select to epic_owner using (true);
create policy contract_follow_client_update_by_definer on epic_events.contract
    for update to epic_owner using (true) with check (true);

grant select on epic_events.contract to epic_management, epic_sales, epic_support;
grant insert (client_id, sales_contact_id, total_amount, amount_due, is_signed),
      update (sales_contact_id, total_amount, amount_due, is_signed),
      delete
    on epic_events.contract to epic_management;
grant update (total_amount, amount_due, is_signed) on epic_events.contract to epic_sales;
-- NOTE: nobody writes signed_at (the database does) or moves a contract to
-- another client; only management reassigns a contract's sales contact.

create function epic_events.contract_defaults() returns trigger
    language plpgsql
    set search_path = pg_catalog, epic_events
as $$
begin
    if new.sales_contact_id is null then
        select c.sales_contact_id into new.sales_contact_id
          from epic_events.client c where c.id = new.client_id;
        if not found and new.client_id is not null then
            -- No such client. Say so as its foreign key would: the FK check
            -- runs after NOT NULL, which would blame sales_contact_id instead.
            raise exception 'insert or update on table "contract" violates foreign key constraint "contract_client_id_fkey"'
                using errcode = 'foreign_key_violation', constraint = 'contract_client_id_fkey',
                      table = 'contract', column = 'client_id',
                      detail = format('Key (client_id)=(%s) is not present in table "client".', new.client_id);
        end if;
    end if;
    if new.amount_due is null then
        new.amount_due := new.total_amount;
    end if;
    return new;
end
$$;
create trigger contract_defaults
    before insert on epic_events.contract
    for each row execute function epic_events.contract_defaults();

-- Signing: signed_at is stamped here; signing needs contract:sign (or
-- contract:sign:own on one's own contract); a signature is never withdrawn.
create function epic_events.contract_signing() returns trigger
    language plpgsql
    set search_path = pg_catalog, epic_events
as $$
declare
    was_signed boolean := tg_op = 'UPDATE' and old.is_signed;
begin
    if was_signed and not new.is_signed then
        raise exception 'contract %: a signed contract cannot be unsigned', new.id
            using errcode = 'check_violation', constraint = 'contract_signature_is_final',
                  table = 'contract', column = 'is_signed';
    end if;
    if new.is_signed and not was_signed then
        -- Department roles need the right; the owner and admins (migrations,
        -- bootstrap) are not departments.
        if current_user in ('epic_management', 'epic_sales', 'epic_support')
           and not (epic_events.has_permission('contract:sign')
                    or (epic_events.has_permission('contract:sign:own')
                        and new.sales_contact_id = epic_events.current_employee_id())) then
            raise exception 'contract %: signing needs contract:sign, or contract:sign:own as its sales contact', new.id
                using errcode = 'insufficient_privilege', table = 'contract';
        end if;
        new.signed_at := now();
    elsif tg_op = 'INSERT' or not new.is_signed then
        new.signed_at := null;
    else
        new.signed_at := old.signed_at;
    end if;
    return new;
end
$$;
create trigger contract_signing
    before insert or update on epic_events.contract
    for each row execute function epic_events.contract_signing();

create trigger contract_touch
    before update on epic_events.contract
    for each row execute function epic_events.touch_updated_at();
create trigger contract_sales_contact_department
    before insert or update of sales_contact_id on epic_events.contract
    for each row execute function epic_events.check_contact('sales_contact_id', 'sales');
create trigger contract_audit
    after insert or update or delete on epic_events.contract
    for each row execute function epic_events.audit_row_change('id');

-- Reassigning a client (management) moves all its contracts to the new
-- contact. SECURITY DEFINER so the move is complete whatever contracts the
-- caller could update: it follows from the client update, which RLS allowed.
create function epic_events.client_reassign_moves_contracts() returns trigger
    language plpgsql security definer
    set search_path = pg_catalog, epic_events
as $$
begin
    update epic_events.contract
       set sales_contact_id = new.sales_contact_id
     where client_id = new.id
       and sales_contact_id is distinct from new.sales_contact_id;
    return null;
end
$$;
create trigger client_reassign_moves_contracts
    after update of sales_contact_id on epic_events.client
    for each row when (old.sales_contact_id is distinct from new.sales_contact_id)
    execute function epic_events.client_reassign_moves_contracts();
