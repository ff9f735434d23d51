package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/webhook"
)

var _ webhook.ConfigStore = (*DB)(nil)

// PutWebhookConfig stores or replaces an app's webhook configuration.
// It does not change the account's revision: the configuration shapes
// the events made from later callbacks, not the stored ones.
func (s *DB) PutWebhookConfig(ctx context.Context, c *webhook.Config) error {
	if _, err := s.FindApp(ctx, c.App); err != nil {
		return err
	}
	c.UpdatedAt = s.clock.Now().UTC()
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, s.q(`INSERT INTO webhook_configs (app_id, vendor, api_key, config, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (app_id) DO UPDATE SET vendor = excluded.vendor, api_key = excluded.api_key, config = excluded.config, updated_at = excluded.updated_at`),
		c.App, c.Vendor, c.Key, string(b), now(s.clock))
	return err
}

// FindWebhookConfig returns an app's webhook configuration or ENOTFOUND.
func (s *DB) FindWebhookConfig(ctx context.Context, app string) (*webhook.Config, error) {
	var raw string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT config FROM webhook_configs WHERE app_id = ?`), app).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, livebill.Errorf(livebill.ENOTFOUND, "app %q has no webhook configuration", app)
	}
	if err != nil {
		return nil, err
	}
	var c webhook.Config
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// ListWebhookConfigs returns a vendor's configurations (with that key when
// key is not empty), by app: the first limit of them when limit is above 0.
func (s *DB) ListWebhookConfigs(ctx context.Context, vendor, key string, limit int) ([]*webhook.Config, error) {
	q, args := `SELECT config FROM webhook_configs WHERE vendor = ?`, []any{vendor}
	if key != "" {
		q += ` AND api_key = ?`
		args = append(args, key)
	}
	q += ` ORDER BY app_id`
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := s.db.QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*webhook.Config
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, err
		}
		var c webhook.Config
		if err := json.Unmarshal([]byte(raw), &c); err != nil {
			return nil, err
		}
		out = append(out, &c)
	}
	return out, rows.Err()
}
