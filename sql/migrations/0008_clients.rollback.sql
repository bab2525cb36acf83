-- Undo 0008: clients (and the trigram search support).
-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
set local role epic_owner;
drop table epic_events.client;
-- DROP INDEX CONCURRENTLY cannot run in the rollback's transaction; company is small.
-- squawk-ignore require-concurrent-index-deletion
drop index epic_events.company_name_trgm_idx;
reset role;
drop extension if exists pg_trgm;
