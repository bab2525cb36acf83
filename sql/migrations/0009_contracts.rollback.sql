-- Undo 0009: contracts.
-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
set local role epic_owner;
drop trigger client_reassign_moves_contracts on epic_events.client;
drop function epic_events.client_reassign_moves_contracts();
drop table epic_events.contract;
drop function epic_events.contract_signing();
drop function epic_events.contract_defaults();
