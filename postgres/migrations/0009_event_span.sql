-- Each account's stored event count and time span (Unix ms; 0 when it has
-- none), kept by ingestion in the row update the revision bump already
-- makes, so that settlement does not count an account's whole history on
-- every tick.
ALTER TABLE accounts ADD COLUMN event_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN first_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN last_ms BIGINT NOT NULL DEFAULT 0;
UPDATE accounts a SET event_count = s.n, first_ms = s.lo, last_ms = s.hi
FROM (SELECT account_id, COUNT(*) AS n, MIN(time_ms) AS lo, MAX(time_ms) AS hi FROM events GROUP BY account_id) s
WHERE s.account_id = a.id;
-- an account's refunds are read by account (settlement reads a group's
-- accounts one by one)
CREATE INDEX refunds_account ON refunds(account_id, seq);
