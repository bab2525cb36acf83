-- Undo 0010: events.
set local role epic_owner;
drop table epic_events.event;
drop function epic_events.event_needs_signed_contract();
