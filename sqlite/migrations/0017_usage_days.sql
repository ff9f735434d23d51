-- Daily usage rollups. Each settlement writes, in the transaction that
-- records it and next to the 5-minute rollups of the days it settles,
-- their sums per app, item and billing day (the day's midnight in the
-- account's zone, Unix ms): usage by day of settled time reads these, a
-- few rows per day instead of 288 windows per item.
CREATE TABLE usage_days (
	account_id TEXT NOT NULL,
	day_ms     BIGINT NOT NULL,
	app        TEXT NOT NULL,
	item       TEXT NOT NULL,
	value      BIGINT NOT NULL,
	PRIMARY KEY (account_id, day_ms, app, item)
);
-- The days of an account settled before this migration have no daily
-- rows: those starting before usage_days_from (after its last 5-minute
-- window then) are read from the 5-minute rollups. Days settled again
-- after it get their rows, but are still read from the 5-minute ones.
ALTER TABLE accounts ADD COLUMN usage_days_from BIGINT NOT NULL DEFAULT 0;
UPDATE accounts SET usage_days_from = (SELECT MAX(r.window_ms) + 1 FROM usage_rollups r WHERE r.account_id = accounts.id)
	WHERE EXISTS (SELECT 1 FROM usage_rollups r WHERE r.account_id = accounts.id);
