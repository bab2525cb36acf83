-- Events: what the agency organises under a signed contract.
-- depends: 0009_contracts
--
-- The client's name, email and phone are read through the contract, never
-- copied here.

-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
set local role epic_owner;

create table epic_events.event (
    id                 bigint generated always as identity primary key,
    contract_id        bigint not null references epic_events.contract (id) on delete restrict,
    name               text not null
                       constraint event_name_valid
                       check (btrim(name) <> '' and length(name) <= 200 and name !~ '[[:cntrl:]]'),
    support_contact_id bigint references epic_events.employee (id) on delete restrict,
    starts_at          timestamptz not null,
    ends_at            timestamptz not null,
    location           text not null
                       constraint event_location_valid
                       check (btrim(location) <> '' and length(location) <= 500),
    -- A head count: int's 2^31 is beyond any venue (the CLI says "too large" above it).
    -- squawk-ignore prefer-bigint-over-int
    attendees          integer not null constraint event_attendees_not_negative check (attendees >= 0),
    notes              text constraint event_notes_length check (length(notes) <= 10000),
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    constraint event_ends_after_start check (ends_at > starts_at)
);
create index event_contract_idx on epic_events.event (contract_id, starts_at, id);
create index event_starts_idx on epic_events.event (starts_at, id);
-- `event list --mine` for support, and `--no-support`.
create index event_support_contact_idx on epic_events.event (support_contact_id, starts_at, id);
create index event_without_support_idx on epic_events.event (starts_at, id) where support_contact_id is null;
comment on table epic_events.event is 'Events; only on signed contracts; support_contact_id is an active support employee.';

alter table epic_events.event enable row level security;
alter table epic_events.event force row level security;

create policy event_read on epic_events.event
    for select to epic_management, epic_sales, epic_support
    using ((select epic_events.current_employee_id()) is not null);
create policy event_create on epic_events.event
    for insert to epic_management, epic_sales, epic_support
    with check ((select epic_events.has_permission('event:create'))
                or ((select epic_events.has_permission('event:create:own_client'))
                    and exists (select from epic_events.contract c
                                 where c.id = contract_id
                                   and c.sales_contact_id = (select epic_events.current_employee_id()))));
create policy event_update on epic_events.event
    for update to epic_management, epic_sales, epic_support
    using ((select epic_events.has_permission('event:update'))
           or ((select epic_events.has_permission('event:update:assigned'))
               and support_contact_id = (select epic_events.current_employee_id())))
    with check ((select epic_events.has_permission('event:update'))
                or ((select epic_events.has_permission('event:update:assigned'))
                    and support_contact_id = (select epic_events.current_employee_id())));
create policy event_delete on epic_events.event
    for delete to epic_management, epic_sales, epic_support
    using ((select epic_events.has_permission('event:delete')));

grant select on epic_events.event to epic_management, epic_sales, epic_support;
grant insert (contract_id, name, support_contact_id, starts_at, ends_at, location, attendees, notes),
      update (name, support_contact_id, starts_at, ends_at, location, attendees, notes),
      delete
    on epic_events.event to epic_management;
grant insert (contract_id, name, starts_at, ends_at, location, attendees, notes)
    on epic_events.event to epic_sales;
grant update (name, starts_at, ends_at, location, attendees, notes)
    on epic_events.event to epic_support;
-- NOTE: only management sets support_contact_id (assign-support); an event
-- never moves to another contract.

create function epic_events.event_needs_signed_contract() returns trigger
    language plpgsql
    set search_path = pg_catalog, epic_events
as $$
declare
    signed boolean;
begin
    select c.is_signed into signed from epic_events.contract c where c.id = new.contract_id;
    if not found and new.contract_id is not null then
        -- No such contract. Say so as its foreign key would: the FK check runs
        -- last, after this trigger and the RLS policies had blamed something else.
        raise exception 'insert or update on table "event" violates foreign key constraint "event_contract_id_fkey"'
            using errcode = 'foreign_key_violation', constraint = 'event_contract_id_fkey',
                  table = 'event', column = 'contract_id',
                  detail = format('Key (contract_id)=(%s) is not present in table "contract".', new.contract_id);
    elsif not signed then
        raise exception 'contract_id: contract % is not signed', new.contract_id
            using errcode = 'check_violation', column = 'contract_id', table = 'event',
                  constraint = 'event_contract_is_signed';
    end if;
    return new;
end
$$;

create trigger event_needs_signed_contract
    before insert or update of contract_id on epic_events.event
    for each row execute function epic_events.event_needs_signed_contract();

create trigger event_touch
    before update on epic_events.event
    for each row execute function epic_events.touch_updated_at();
create trigger event_support_contact_department
    before insert or update of support_contact_id on epic_events.event
    for each row execute function epic_events.check_contact('support_contact_id', 'support');
create trigger event_audit
    after insert or update or delete on epic_events.event
    for each row execute function epic_events.audit_row_change('id');
