package http

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
)

// Client calls a livebill server.
type Client struct {
	BaseURL string // e.g. http://127.0.0.1:8080
	HTTP    *http.Client
}

// NewClient returns a client of the server at base.
func NewClient(base string) *Client {
	return &Client{BaseURL: strings.TrimRight(base, "/"), HTTP: &http.Client{Timeout: 5 * time.Minute}}
}

func (c *Client) do(ctx context.Context, method, path, ctype string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var eb ErrorBody
		if json.Unmarshal(b, &eb) == nil && eb.Error.Code != "" {
			msg := eb.Error.Message
			if len(eb.Error.Details) > 0 {
				msg += "\n" + strings.Join(eb.Error.Details, "\n")
			}
			return livebill.Errorf(eb.Error.Code, "%s", msg)
		}
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// PushEvents sends a batch (NDJSON or a JSON array).
func (c *Client) PushEvents(ctx context.Context, body []byte) (*livebill.IngestResult, error) {
	var res livebill.IngestResult
	if err := c.do(ctx, "POST", "/v1/events", "application/x-ndjson", body, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Bills returns an account's issued bills.
func (c *Client) Bills(ctx context.Context, account string) (*BillsJSON, error) {
	var res BillsJSON
	if err := c.do(ctx, "GET", "/v1/accounts/"+url.PathEscape(account)+"/bills", "", nil, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Settle asks the server to settle an account now.
func (c *Client) Settle(ctx context.Context, account string) ([]livebill.IssuedBill, error) {
	res, err := c.SettleWith(ctx, account, false)
	if err != nil {
		return nil, err
	}
	return res.Issued, nil
}

// SettleWith asks the server to settle an account now, with force every
// closed day whatever holds it, and returns what was issued and held.
func (c *Client) SettleWith(ctx context.Context, account string, force bool) (*billing.SettleResult, error) {
	path := "/v1/accounts/" + url.PathEscape(account) + "/settle"
	if force {
		path += "?force=true"
	}
	var res billing.SettleResult
	if err := c.do(ctx, "POST", path, "", nil, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// CreateImport starts a bulk import (see PushImportEvents, FinishImport).
func (c *Client) CreateImport(ctx context.Context) (*livebill.Import, error) {
	var im livebill.Import
	if err := c.do(ctx, "POST", "/v1/imports", "", nil, &im); err != nil {
		return nil, err
	}
	return &im, nil
}

// FindImport returns an import's state.
func (c *Client) FindImport(ctx context.Context, id string) (*livebill.Import, error) {
	var im livebill.Import
	if err := c.do(ctx, "GET", "/v1/imports/"+url.PathEscape(id), "", nil, &im); err != nil {
		return nil, err
	}
	return &im, nil
}

// PushImportEvents sends a batch (NDJSON or a JSON array) under an import.
func (c *Client) PushImportEvents(ctx context.Context, id string, body []byte) (*livebill.IngestResult, error) {
	var res livebill.IngestResult
	if err := c.do(ctx, "POST", "/v1/imports/"+url.PathEscape(id)+"/events", "application/x-ndjson", body, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// FinishImport ends an import: its accounts are settled again.
func (c *Client) FinishImport(ctx context.Context, id string) (*livebill.Import, error) {
	var im livebill.Import
	if err := c.do(ctx, "POST", "/v1/imports/"+url.PathEscape(id)+"/finish", "", nil, &im); err != nil {
		return nil, err
	}
	return &im, nil
}

// Do sends a JSON request and decodes the JSON answer into out.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	return c.do(ctx, method, path, "application/json", body, out)
}

// Usage returns metered usage at granularity "5m" or "day" over [from, to).
func (c *Client) Usage(ctx context.Context, account, from, to, granularity string) ([]livebill.UsagePoint, error) {
	var res struct {
		Usage []livebill.UsagePoint `json:"usage"`
	}
	q := url.Values{"from": {from}, "to": {to}, "granularity": {granularity}}
	if err := c.do(ctx, "GET", "/v1/accounts/"+url.PathEscape(account)+"/usage?"+q.Encode(), "", nil, &res); err != nil {
		return nil, err
	}
	return res.Usage, nil
}
