-- Scale-out through an event queue (livebill serve --queue). queue_workers
-- holds each worker's heartbeat: alive until expires_ms. queue_partitions
-- holds the lease on each partition of a queue: its owner ('' when free)
-- until expires_ms, and a generation bumped by every claim, so an owner
-- whose lease was taken over cannot renew it. event_conflicts keeps the
-- events a worker could not store because their id was already stored with
-- another body (shown with the account's rejections); a message delivered
-- again records the same row (its body's digest is in the key).
CREATE TABLE queue_workers (
	queue      TEXT COLLATE "C" NOT NULL,
	worker     TEXT COLLATE "C" NOT NULL,
	expires_ms BIGINT NOT NULL,
	PRIMARY KEY (queue, worker)
);
CREATE TABLE queue_partitions (
	queue      TEXT COLLATE "C" NOT NULL,
	part       INTEGER NOT NULL,
	owner      TEXT COLLATE "C" NOT NULL DEFAULT '',
	generation BIGINT NOT NULL DEFAULT 0,
	expires_ms BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (queue, part)
);
CREATE TABLE event_conflicts (
	account_id TEXT COLLATE "C" NOT NULL,
	event_id   TEXT COLLATE "C" NOT NULL,
	digest     TEXT NOT NULL,
	body       TEXT NOT NULL,
	seen_ms    BIGINT NOT NULL,
	PRIMARY KEY (account_id, event_id, digest)
);
