-- livebill schema v1 (PostgreSQL)
CREATE TABLE accounts (
	id         TEXT PRIMARY KEY,
	catalog    TEXT NOT NULL,
	mode       TEXT NOT NULL DEFAULT '',
	created    TEXT NOT NULL,
	activated  TEXT NOT NULL DEFAULT '',
	balance    TEXT NOT NULL DEFAULT '0',
	timezone   TEXT NOT NULL DEFAULT '',
	created_at TEXT NOT NULL,
	revision   BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE apps (
	id         TEXT PRIMARY KEY,
	account_id TEXT NOT NULL REFERENCES accounts(id),
	name       TEXT NOT NULL DEFAULT '',
	created_at TEXT NOT NULL
);
CREATE INDEX apps_account ON apps(account_id);
CREATE TABLE purchases (
	account_id TEXT NOT NULL REFERENCES accounts(id),
	id         TEXT NOT NULL,
	app        TEXT NOT NULL DEFAULT '',
	plan       TEXT NOT NULL,
	count      BIGINT NOT NULL DEFAULT 0,
	region     TEXT NOT NULL DEFAULT '',
	device     TEXT NOT NULL DEFAULT '',
	start      TEXT NOT NULL,
	auto_renew BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (account_id, id)
);
CREATE TABLE refunds (
	seq        BIGSERIAL PRIMARY KEY,
	account_id TEXT NOT NULL REFERENCES accounts(id),
	purchase   TEXT NOT NULL,
	count      BIGINT NOT NULL DEFAULT 0,
	at         TEXT NOT NULL
);
CREATE TABLE events (
	seq         BIGSERIAL PRIMARY KEY,
	account_id  TEXT NOT NULL,
	id          TEXT NOT NULL,
	time_ms     BIGINT NOT NULL,
	app         TEXT NOT NULL,
	body        TEXT NOT NULL,
	UNIQUE (account_id, id)
);
CREATE INDEX events_time ON events(account_id, time_ms, seq);
CREATE TABLE bills (
	seq        BIGSERIAL PRIMARY KEY,
	account_id TEXT NOT NULL,
	bill_key   TEXT NOT NULL,
	kind       TEXT NOT NULL,
	bill_date  TEXT NOT NULL,
	total      TEXT NOT NULL,
	lines      TEXT NOT NULL,
	adjusts    TEXT NOT NULL DEFAULT '',
	issued_at  TEXT NOT NULL,
	UNIQUE (account_id, bill_key)
);
CREATE TABLE settlements (
	account_id TEXT PRIMARY KEY,
	through    TEXT NOT NULL,
	revision   BIGINT NOT NULL
);
