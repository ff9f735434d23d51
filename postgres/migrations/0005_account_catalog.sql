-- an account may carry its own catalog document (extending a built-in one)
ALTER TABLE accounts ADD COLUMN catalog_yaml TEXT NOT NULL DEFAULT '';
