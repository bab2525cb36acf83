-- Undo 0024: the schema no longer says its version.
-- Fail fast instead of queueing behind live traffic (and blocking it):
-- each statement waits at most 5s for a lock and runs at most a minute.
set local lock_timeout = '5s';
set local statement_timeout = '1min';

do $$
declare
    yoyo regclass := to_regclass('_yoyo_migration');
begin
    if yoyo is not null then
        execute format('revoke select (migration_id) on %s from epic_owner', yoyo);
    end if;
end
$$;
-- NOTE: USAGE on yoyo's schema (public, usually) stays: 0024 cannot tell
-- whether epic_owner held it before.

set local role epic_owner;
drop function epic_events.schema_version();
