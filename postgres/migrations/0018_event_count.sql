-- Retention's purge did not take the events it deleted off the account's
-- event count: the accounts it purged have theirs counted again. Their
-- first and last times, those of their history, stay.
UPDATE accounts SET event_count = (SELECT COUNT(*) FROM events WHERE events.account_id = accounts.id)
WHERE purged_ms > 0;
