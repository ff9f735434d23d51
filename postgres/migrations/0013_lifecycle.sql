-- The account lifecycle (SPEC §4 "Arrears", "Service stop"): each
-- account's balance and state, the ledger of every charge and credit, the
-- history of states, apps stopped or disabled, pack alerts sent; and the
-- notifications out (endpoints, the outbox, deliveries and their
-- attempts). Instants are Unix ms. Accounts made before this migration
-- get their state and ledger from its Go step (sqlstore/lifecycle.go).
CREATE TABLE account_states (
	account_id TEXT COLLATE "C" PRIMARY KEY REFERENCES accounts(id),
	state      TEXT NOT NULL,
	since_ms   BIGINT NOT NULL,
	grace_ms   BIGINT NOT NULL DEFAULT 0,
	reclaim_ms BIGINT NOT NULL DEFAULT 0,
	due_ms     BIGINT NOT NULL DEFAULT 0,
	balance    TEXT NOT NULL,
	opening    TEXT NOT NULL,
	last_ms    BIGINT NOT NULL,
	terms_grace_ms   BIGINT NOT NULL,
	terms_reclaim_ms BIGINT NOT NULL
);
CREATE INDEX account_states_due ON account_states(due_ms) WHERE due_ms > 0;
CREATE TABLE ledger (
	seq         BIGSERIAL PRIMARY KEY,
	account_id  TEXT COLLATE "C" NOT NULL,
	kind        TEXT NOT NULL,
	ref         TEXT NOT NULL DEFAULT '',
	bill_date   TEXT NOT NULL DEFAULT '',
	amount      TEXT NOT NULL,
	balance     TEXT NOT NULL,
	at_ms       BIGINT NOT NULL,
	recorded_at TEXT NOT NULL
);
CREATE INDEX ledger_account ON ledger(account_id, seq);
CREATE TABLE transitions (
	seq         BIGSERIAL PRIMARY KEY,
	account_id  TEXT COLLATE "C" NOT NULL,
	app         TEXT NOT NULL DEFAULT '',
	from_state  TEXT NOT NULL,
	to_state    TEXT NOT NULL,
	reason      TEXT NOT NULL DEFAULT '',
	at_ms       BIGINT NOT NULL,
	cause       TEXT NOT NULL DEFAULT '',
	balance     TEXT NOT NULL DEFAULT '',
	grace_ms    BIGINT NOT NULL DEFAULT 0,
	reclaim_ms  BIGINT NOT NULL DEFAULT 0,
	recorded_at TEXT NOT NULL
);
CREATE INDEX transitions_account ON transitions(account_id, seq);
CREATE TABLE app_states (
	app_id      TEXT COLLATE "C" PRIMARY KEY,
	account_id  TEXT COLLATE "C" NOT NULL,
	disabled_ms BIGINT NOT NULL DEFAULT 0,
	stopped_ms  BIGINT NOT NULL DEFAULT 0,
	last_ms     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX app_states_account ON app_states(account_id, app_id);
CREATE TABLE pack_alerts (
	account_id TEXT COLLATE "C" NOT NULL,
	pack_id    TEXT COLLATE "C" NOT NULL,
	threshold  INTEGER NOT NULL,
	at_ms      BIGINT NOT NULL,
	PRIMARY KEY (account_id, pack_id, threshold)
);
CREATE TABLE webhook_endpoints (
	seq         BIGSERIAL PRIMARY KEY,
	id          TEXT COLLATE "C" NOT NULL UNIQUE,
	url         TEXT NOT NULL,
	secret      TEXT NOT NULL,
	account_id  TEXT COLLATE "C" NOT NULL DEFAULT '',
	types       TEXT NOT NULL DEFAULT '',
	description TEXT NOT NULL DEFAULT '',
	created_at  TEXT NOT NULL,
	deleted_at  TEXT NOT NULL DEFAULT ''
);
CREATE TABLE notifications (
	seq        BIGSERIAL PRIMARY KEY,
	id         TEXT COLLATE "C" NOT NULL UNIQUE,
	account_id TEXT COLLATE "C" NOT NULL,
	type       TEXT NOT NULL,
	at_ms      BIGINT NOT NULL,
	payload    TEXT NOT NULL
);
CREATE TABLE deliveries (
	seq              BIGSERIAL PRIMARY KEY,
	notification_seq BIGINT NOT NULL,
	endpoint_id      TEXT COLLATE "C" NOT NULL,
	account_id       TEXT COLLATE "C" NOT NULL,
	status           TEXT NOT NULL,
	attempts         INTEGER NOT NULL DEFAULT 0,
	next_ms          BIGINT NOT NULL,
	lease_ms         BIGINT NOT NULL DEFAULT 0,
	last_status      INTEGER NOT NULL DEFAULT 0,
	last_error       TEXT NOT NULL DEFAULT '',
	delivered_ms     BIGINT NOT NULL DEFAULT 0,
	created_ms       BIGINT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries(status, next_ms);
CREATE INDEX deliveries_order ON deliveries(endpoint_id, account_id, status, seq);
CREATE TABLE delivery_attempts (
	seq          BIGSERIAL PRIMARY KEY,
	delivery_seq BIGINT NOT NULL,
	at_ms        BIGINT NOT NULL,
	status       INTEGER NOT NULL DEFAULT 0,
	error        TEXT NOT NULL DEFAULT '',
	duration_ms  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts(delivery_seq, seq);
