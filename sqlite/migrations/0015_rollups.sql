-- Usage rollups and meter checkpoints. Each settlement writes, in the
-- transaction that records it, the usage of the days it settled (per app,
-- item and 5-minute window), the relay runs and first logins of the month
-- in them, and a checkpoint of the account's live meter and deduction at
-- its first unsettled midnight: usage, quotes and statements of settled
-- time read these instead of replaying events, and a live meter resumes
-- from its latest checkpoint. Instants are Unix ms.
CREATE TABLE usage_rollups (
	account_id TEXT NOT NULL,
	window_ms  BIGINT NOT NULL,
	app        TEXT NOT NULL,
	item       TEXT NOT NULL,
	value      BIGINT NOT NULL,
	PRIMARY KEY (account_id, window_ms, app, item)
);
-- a month's monthly items (counts, µs), read when its bill is due
CREATE INDEX usage_rollups_item ON usage_rollups(account_id, item, window_ms);
CREATE TABLE relay_rollups (
	account_id  TEXT NOT NULL,
	app         TEXT NOT NULL,
	room        TEXT NOT NULL,
	task        TEXT NOT NULL,
	destination TEXT NOT NULL,
	kbps        BIGINT NOT NULL,
	start_ms    BIGINT NOT NULL,
	end_ms      BIGINT NOT NULL
);
CREATE INDEX relay_rollups_account ON relay_rollups(account_id, start_ms);
CREATE TABLE login_rollups (
	account_id TEXT NOT NULL,
	app        TEXT NOT NULL,
	month      TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	first_ms   BIGINT NOT NULL,
	PRIMARY KEY (account_id, app, month, user_id)
);
CREATE INDEX login_rollups_first ON login_rollups(account_id, first_ms);
CREATE TABLE checkpoints (
	account_id  TEXT NOT NULL,
	at_ms       BIGINT NOT NULL,
	seq         BIGINT NOT NULL,
	meter       TEXT NOT NULL,
	fingerprint TEXT NOT NULL,
	deduction   TEXT NOT NULL,
	month_start INTEGER NOT NULL DEFAULT 0,
	made_ms     BIGINT NOT NULL,
	PRIMARY KEY (account_id, at_ms)
);
-- settlement reads an account's new events by seq (and whether any is
-- timed before a checkpoint) and its bills from a date on, whatever its
-- history
CREATE INDEX events_account_seq ON events(account_id, seq, time_ms);
CREATE INDEX bills_account_date ON bills(account_id, bill_date);
-- retention: the account's events before this instant were deleted (or
-- exported) and later ones before it are refused
ALTER TABLE accounts ADD COLUMN purged_ms BIGINT NOT NULL DEFAULT 0;
