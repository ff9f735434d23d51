-- An operator cancels a purchase made in error: it stays listed, with the
-- time it was cancelled, and is no longer rated.
ALTER TABLE purchases ADD COLUMN cancelled_at TEXT NOT NULL DEFAULT '';
-- Accounts the settlement leaves out because their stored data cannot be
-- rated, with the revision the error was found at (a change retries them).
CREATE TABLE quarantines (
	account_id TEXT COLLATE "C" PRIMARY KEY REFERENCES accounts(id),
	revision   BIGINT NOT NULL,
	error      TEXT NOT NULL,
	since      TEXT NOT NULL
);
