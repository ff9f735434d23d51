-- purchases are rated in the order they were made (same-instant purchases
-- included), as a scenario's plans are in file order
ALTER TABLE purchases ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
