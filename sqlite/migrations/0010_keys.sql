-- API keys (SHA-256 of the key only; the key itself is shown once) and
-- the answers kept for Idempotency-Key replays.
CREATE TABLE api_keys (
	seq        INTEGER PRIMARY KEY,
	id         TEXT NOT NULL UNIQUE,
	name       TEXT NOT NULL DEFAULT '',
	account_id TEXT NOT NULL DEFAULT '',
	hash       TEXT NOT NULL,
	created_at TEXT NOT NULL,
	revoked_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX api_keys_account ON api_keys(account_id, revoked_at);
CREATE TABLE idempotency_keys (
	principal    TEXT NOT NULL,
	idem_key     TEXT NOT NULL,
	fingerprint  TEXT NOT NULL,
	status       INTEGER NOT NULL DEFAULT 0,
	content_type TEXT NOT NULL DEFAULT '',
	body         TEXT NOT NULL DEFAULT '',
	created_ms   BIGINT NOT NULL,
	PRIMARY KEY (principal, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_ms);
-- lists are read a page at a time in their order, per account
CREATE INDEX apps_account_id ON apps(account_id, id);
CREATE INDEX topups_account_seq ON topups(account_id, seq);
CREATE INDEX bills_account_seq ON bills(account_id, seq);
