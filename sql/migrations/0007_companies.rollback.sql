-- Undo 0007: companies.
set local role epic_owner;
drop table epic_events.company;
