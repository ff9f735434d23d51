-- industrial field devices and their cameras (JSON list of {width, height})
CREATE TABLE devices (
	account_id TEXT NOT NULL REFERENCES accounts(id),
	id         TEXT NOT NULL,
	cameras    TEXT NOT NULL,
	PRIMARY KEY (account_id, id)
);
