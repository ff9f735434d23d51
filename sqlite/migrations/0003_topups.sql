-- balance top-ups; id is the client's, so a re-sent top-up is applied once
CREATE TABLE topups (
	seq        INTEGER PRIMARY KEY,
	account_id TEXT NOT NULL REFERENCES accounts(id),
	id         TEXT NOT NULL,
	amount     TEXT NOT NULL,
	at         TEXT NOT NULL,
	UNIQUE (account_id, id)
);
