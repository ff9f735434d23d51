-- Settlement waits for quiet. ingest_days records, per account and
-- billing day (YYYY-MM-DD in the account's zone), when events for that
-- day were last stored (server clock, Unix ms); a day is settled once that
-- is older than the quiet delay. Rows older than any delay are pruned.
CREATE TABLE ingest_days (
	account_id TEXT COLLATE "C" NOT NULL,
	day        TEXT NOT NULL,
	last_ms    BIGINT NOT NULL,
	PRIMARY KEY (account_id, day)
);
CREATE INDEX ingest_days_last ON ingest_days(last_ms);
-- Bulk imports hold the accounts their batches sent events for until they
-- finish, or expire timeout_ms after their last batch (finished_ms 0: not
-- finished). account_id is the account whose key started it ('' for an
-- operator's); name is the client's label.
CREATE TABLE imports (
	id          TEXT COLLATE "C" PRIMARY KEY,
	account_id  TEXT COLLATE "C" NOT NULL DEFAULT '',
	name        TEXT NOT NULL DEFAULT '',
	created_ms  BIGINT NOT NULL,
	timeout_ms  BIGINT NOT NULL,
	expires_ms  BIGINT NOT NULL,
	finished_ms BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE import_accounts (
	import_id  TEXT COLLATE "C" NOT NULL,
	account_id TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY (import_id, account_id)
);
CREATE INDEX import_accounts_account ON import_accounts(account_id);
-- the first day a settlement held back (its ingest not quiet yet), so the
-- next settlement looks again
ALTER TABLE settlements ADD COLUMN held TEXT NOT NULL DEFAULT '';
