-- Text ids sort byte by byte, as on SQLite (BINARY) and in Go, whatever
-- the database's default collation: with en_US, "a-1", "A2", "a_3" sort
-- as a_3, a-1, A2 (punctuation and case ignored at first), with "C" as
-- A2, a-1, a_3. Every id column a list is ordered by, and the columns
-- referencing them, get COLLATE "C" (equality is unchanged: both are
-- deterministic; the indexes are rebuilt in byte order).
ALTER TABLE accounts ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE apps ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE apps ALTER COLUMN account_id TYPE TEXT COLLATE "C";
ALTER TABLE purchases ALTER COLUMN account_id TYPE TEXT COLLATE "C";
ALTER TABLE purchases ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE refunds ALTER COLUMN account_id TYPE TEXT COLLATE "C";
ALTER TABLE refunds ALTER COLUMN purchase TYPE TEXT COLLATE "C";
ALTER TABLE devices ALTER COLUMN account_id TYPE TEXT COLLATE "C";
ALTER TABLE devices ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE topups ALTER COLUMN account_id TYPE TEXT COLLATE "C";
ALTER TABLE topups ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE settlements ALTER COLUMN account_id TYPE TEXT COLLATE "C";
ALTER TABLE webhook_configs ALTER COLUMN app_id TYPE TEXT COLLATE "C";
