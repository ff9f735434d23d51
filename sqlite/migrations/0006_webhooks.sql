-- per-app webhook configuration (issue 8): vendor, key, secret and the
-- assumptions webhooks leave out (subscriptions, resolutions), as JSON
CREATE TABLE webhook_configs (
	app_id     TEXT PRIMARY KEY REFERENCES apps(id),
	vendor     TEXT NOT NULL,
	api_key    TEXT NOT NULL DEFAULT '',
	config     TEXT NOT NULL,
	updated_at TEXT NOT NULL
);
CREATE INDEX webhook_configs_vendor ON webhook_configs(vendor, api_key);
