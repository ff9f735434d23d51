-- Each account's stored event count and time span (Unix ms; 0 when it has
-- none), kept by ingestion in the row update the revision bump already
-- makes, so that settlement does not count an account's whole history on
-- every tick.
ALTER TABLE accounts ADD COLUMN event_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN first_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN last_ms BIGINT NOT NULL DEFAULT 0;
UPDATE accounts SET
	event_count = (SELECT COUNT(*) FROM events WHERE events.account_id = accounts.id),
	first_ms = COALESCE((SELECT MIN(time_ms) FROM events WHERE events.account_id = accounts.id), 0),
	last_ms = COALESCE((SELECT MAX(time_ms) FROM events WHERE events.account_id = accounts.id), 0);
-- an account's refunds are read by account (settlement reads a group's
-- accounts one by one)
CREATE INDEX refunds_account ON refunds(account_id, seq);
