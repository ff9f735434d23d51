-- two purchases made at once must not share a place in the order made
CREATE UNIQUE INDEX IF NOT EXISTS purchases_account_seq ON purchases (account_id, seq) WHERE seq > 0;
