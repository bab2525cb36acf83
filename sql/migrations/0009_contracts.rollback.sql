-- Undo 0009: contracts.
set local role epic_owner;
drop trigger client_reassign_moves_contracts on epic_events.client;
drop function epic_events.client_reassign_moves_contracts();
drop table epic_events.contract;
drop function epic_events.contract_signing();
drop function epic_events.contract_defaults();
