-- Undo 0008: clients (and the trigram search support).
set local role epic_owner;
drop table epic_events.client;
drop index epic_events.company_name_trgm_idx;
reset role;
drop extension if exists pg_trgm;
