-- Contact history: each call, email or meeting with a client is a note.
-- depends: 0018_offboarding
--
-- A note says who spoke to the client, when, how, and what was said. It moves
-- client.last_contact_at forward to its time, never backwards (a note about
-- an older call leaves a later contact in place). Notes are history: nobody
-- edits or deletes one (no UPDATE or DELETE grant); deleting a client
-- (management, only without contracts) takes its notes with it, and the
-- audit log keeps them.
--
-- Who writes: the client's sales contact (client_note:create:own) and
-- management (client_note:create); everyone logged in reads.

-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
set local role epic_owner;

-- The catalog and the seeded rights, as 0004 wrote them. Under FORCE RLS the
-- owner writes neither table; a policy for this transaction only lets it.
create policy permission_seed_0019 on epic_events.permission
    for all to epic_owner using (true) with check (true);
create policy department_permission_seed_0019 on epic_events.department_permission
    for all to epic_owner using (true) with check (true);
-- Seeding is the migration's, not a grant by someone: unaudited, as in 0004.
alter table epic_events.department_permission disable trigger department_permission_audit;
insert into epic_events.permission (code, description) values
    ('client_note:create',     'write contact notes on any client'),
    ('client_note:create:own', 'write contact notes on the clients one is the sales contact of');
insert into epic_events.department_permission (department, permission_code) values
    ('management', 'client_note:create'),
    ('sales',      'client_note:create:own');
drop policy permission_seed_0019 on epic_events.permission;
alter table epic_events.department_permission enable trigger department_permission_audit;
drop policy department_permission_seed_0019 on epic_events.department_permission;

create table epic_events.client_note (
    id         bigint generated always as identity primary key,
    client_id  bigint not null references epic_events.client (id) on delete cascade,
    kind       text not null
               constraint client_note_kind_valid check (kind in ('call', 'email', 'meeting', 'other')),
    body       text not null
               constraint client_note_body_valid
               -- Tab and newline allowed, as in event notes; no other control character.
               check (btrim(body) <> '' and length(body) <= 10000
                      and translate(body, E'\t\n', '') !~ '[[:cntrl:]]'),
    -- When the contact took place (default: now).
    noted_at   timestamptz not null default now(),
    written_by bigint not null default epic_events.current_employee_id()
               references epic_events.employee (id) on delete restrict,
    created_at timestamptz not null default now()
);
create index client_note_client_idx on epic_events.client_note (client_id, noted_at desc, id desc);
create index client_note_written_by_idx on epic_events.client_note (written_by);
comment on table epic_events.client_note is
    'Contact history: who spoke to a client, when, how, what was said. Append-only; moves client.last_contact_at forward.';

alter table epic_events.client_note enable row level security;
alter table epic_events.client_note force row level security;

-- Everyone logged in reads the history (as they read every client).
create policy client_note_read on epic_events.client_note
    for select to epic_management, epic_sales, epic_support
    using ((select epic_events.current_employee_id()) is not null);
-- The client's sales contact (client_note:create:own) or anyone holding
-- client_note:create writes a note, in their own name.
create policy client_note_create on epic_events.client_note
    for insert to epic_management, epic_sales, epic_support
    with check (written_by = (select epic_events.current_employee_id())
                and ((select epic_events.has_permission('client_note:create'))
                     or ((select epic_events.has_permission('client_note:create:own'))
                         and exists (select from epic_events.client c
                                      where c.id = client_id
                                        and c.sales_contact_id = (select epic_events.current_employee_id())))));

grant select on epic_events.client_note to epic_management, epic_sales, epic_support;
grant insert (client_id, kind, body, noted_at) on epic_events.client_note to epic_management, epic_sales;
-- NOTE: no UPDATE or DELETE for anyone: the history is never rewritten.
-- written_by and created_at are the database's (defaults; the policy checks
-- written_by is the caller).

-- client_note_moves_last_contact (below) runs as the owner: management may
-- note any client, and the move must happen whoever wrote the note.
-- Bound to the department the caller's token was checked for, whatever role
-- a statement switches to half-way (0015).
create policy client_note_checked_for_management on epic_events.client_note as restrictive
    for all to epic_management
    using ((select epic_events.caller_department()) = 'management')
    with check ((select epic_events.caller_department()) = 'management');
create policy client_note_checked_for_sales on epic_events.client_note as restrictive
    for all to epic_sales
    using ((select epic_events.caller_department()) = 'sales')
    with check ((select epic_events.caller_department()) = 'sales');
create policy client_note_checked_for_support on epic_events.client_note as restrictive
    for all to epic_support
    using ((select epic_events.caller_department()) = 'support')
    with check ((select epic_events.caller_department()) = 'support');
create policy client_read_by_definer on epic_events.client
    for select to epic_owner using (true);
create policy client_last_contact_by_definer on epic_events.client
    for update to epic_owner using (true) with check (true);

-- BEFORE INSERT: a note is about a contact that happened (a day of slack for
-- the writer's clock and time zone).
create function epic_events.client_note_not_in_future() returns trigger
    language plpgsql
    set search_path = pg_catalog, epic_events, pg_temp
as $$
begin
    if new.noted_at > now() + interval '1 day' then
        raise exception 'noted_at: % is in the future', new.noted_at
            using errcode = 'check_violation', constraint = 'client_note_not_in_future',
                  table = 'client_note', column = 'noted_at';
    end if;
    return new;
end
$$;

-- AFTER INSERT: last_contact_at moves forward to the note's time, never back.
create function epic_events.client_note_moves_last_contact() returns trigger
    language plpgsql security definer
    set search_path = pg_catalog, epic_events, pg_temp
as $$
begin
    update epic_events.client c
       set last_contact_at = new.noted_at
     where c.id = new.client_id
       and (c.last_contact_at is null or c.last_contact_at < new.noted_at);
    return null;
end
$$;
comment on function epic_events.client_note_moves_last_contact() is
    'AFTER INSERT on client_note: client.last_contact_at = the latest of itself and the note''s noted_at.';

create trigger client_note_not_in_future
    before insert on epic_events.client_note
    for each row execute function epic_events.client_note_not_in_future();
create trigger client_note_moves_last_contact
    after insert on epic_events.client_note
    for each row execute function epic_events.client_note_moves_last_contact();
create trigger client_note_audit
    after insert or update or delete on epic_events.client_note
    for each row execute function epic_events.audit_row_change('id');
