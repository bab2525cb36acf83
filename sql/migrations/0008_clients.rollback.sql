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
-- pg_trgm goes only if 0008 created it (then it is in epic_events: one found
-- elsewhere was used as it was) and only by whoever may (its owner, who
-- created it, or a superuser). Otherwise it stays, and the rollback of 0001
-- drops it with the schema: nothing fails half-way on the extension's owner.
do $$
declare
    owner oid := (select extowner from pg_extension
                   where extname = 'pg_trgm' and extnamespace = 'epic_events'::regnamespace);
begin
    if owner is null then
        return;
    elsif pg_has_role(current_user, owner, 'USAGE') then
        drop extension pg_trgm;
    else
        raise notice 'pg_trgm kept: owned by %, it goes with the schema (rollback of 0001)',
            owner::regrole;
    end if;
end
$$;
