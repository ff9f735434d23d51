-- Admission leases. lease_slots is the lock: one row per (account, pool,
-- slot), naming the lease that holds it, since and until when (ends_ms,
-- negated once released); a lease takes a slot only while it is free
-- (ends_ms <= now), so servers sharing the database never grant a slot
-- twice. A lease finds its slot through its row in leases (pool, slot),
-- so the slot row has no index but its key and its updates stay in place.
-- leases is the history of every lease granted: held from acquired_ms to
-- ends_ms (moved by renewals, set by a release). meter_state: 0 nothing
-- metered yet, 1 its start event stored, 2 done (its stop event stored,
-- or a lease of a kind that is not metered).
CREATE TABLE lease_slots (
	account_id TEXT NOT NULL,
	pool       TEXT NOT NULL,
	slot       INTEGER NOT NULL,
	lease_id   TEXT NOT NULL,
	since_ms   BIGINT NOT NULL,
	ends_ms    BIGINT NOT NULL,
	PRIMARY KEY (account_id, pool, slot)
);
CREATE TABLE leases (
	account_id  TEXT NOT NULL,
	id          TEXT NOT NULL,
	app         TEXT NOT NULL,
	kind        TEXT NOT NULL,
	pool        TEXT NOT NULL,
	slot        INTEGER NOT NULL,
	holder      TEXT NOT NULL DEFAULT '',
	acquired_ms BIGINT NOT NULL,
	ends_ms     BIGINT NOT NULL,
	released    INTEGER NOT NULL DEFAULT 0,
	meter_state INTEGER NOT NULL DEFAULT 2,
	PRIMARY KEY (account_id, id)
);
CREATE INDEX leases_unmetered ON leases(ends_ms) WHERE meter_state < 2;
