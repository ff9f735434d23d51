package http

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
)

// Client calls a livebill server.
type Client struct {
	BaseURL string // e.g. http://127.0.0.1:8080
	Key     string // API key, sent as Authorization: Bearer <key>; "" for none
	HTTP    *http.Client
	// Timeout bounds each call, its answer read to the end (0: 5
	// minutes). It is a deadline on the call's context rather than
	// http.Client.Timeout, which starts a goroutine per request (a tenth
	// of an admission call's allocations).
	Timeout time.Duration
}

// NewClient returns a client of the server at base. Its connections
// are kept open for the next calls (keepAlive).
func NewClient(base string) *Client {
	return &Client{BaseURL: strings.TrimRight(base, "/"), HTTP: &http.Client{Transport: keepAlive}}
}

// bound returns ctx with the client's Timeout.
func (c *Client) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	t := c.Timeout
	if t <= 0 {
		t = 5 * time.Minute
	}
	return context.WithTimeout(ctx, t)
}

// keepAlive is the clients' transport: net/http's default, keeping up to
// 64 idle connections to a server instead of 2, so that a program calling
// from many goroutines at once (a media server authorizing its joins)
// reuses its connections instead of opening one for most calls.
var keepAlive = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return t
}()

func (c *Client) do(ctx context.Context, method, path, ctype string, body []byte, out any) error {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	resp, err := c.send(ctx, method, path, ctype, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// send sends a request with the client's key and returns the answer, or
// the error of an answer of 300 or more.
func (c *Client) send(ctx context.Context, method, path, ctype string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.Key != "" {
		req.Header.Set("Authorization", "Bearer "+c.Key)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		return nil, problemError(method, path, resp, b)
	}
	return resp, nil
}

// problemError reads an error answer: a problem document (its code, detail
// and the single problems, one a line), or any other body as it is.
func problemError(method, path string, resp *http.Response, b []byte) error {
	var p Problem
	if json.Unmarshal(b, &p) == nil && p.Code != "" {
		msg := p.Detail
		for _, d := range p.Errors {
			if !strings.Contains(msg, d.Detail) {
				msg += "\n" + d.Detail
			}
		}
		return livebill.Errorf(p.Code, "%s", msg)
	}
	return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
}

// PushEvents sends a batch (NDJSON or a JSON array).
func (c *Client) PushEvents(ctx context.Context, body []byte) (*livebill.IngestResult, error) {
	var res livebill.IngestResult
	if err := c.do(ctx, "POST", "/v1/events", "application/x-ndjson", body, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Bills returns all of an account's issued bills, following the pages.
func (c *Client) Bills(ctx context.Context, account string) (*BillsJSON, error) {
	all := BillsJSON{Bills: []livebill.IssuedBill{}}
	err := readPages(ctx, c, "/v1/accounts/"+url.PathEscape(account)+"/bills", func(page BillsJSON) {
		all.Account, all.Through = page.Account, page.Through
		all.Bills = append(all.Bills, page.Bills...)
	})
	if err != nil {
		return nil, err
	}
	return &all, nil
}

// Rejections returns all of an account's rejected stored events,
// following the pages.
func (c *Client) Rejections(ctx context.Context, account string) (*livebill.Rejections, error) {
	var all livebill.Rejections
	err := readPages(ctx, c, "/v1/accounts/"+url.PathEscape(account)+"/rejections", func(page livebill.Rejections) {
		all.AccountID, all.Through = page.AccountID, page.Through
		all.Events = append(all.Events, page.Events...)
	})
	if err != nil {
		return nil, err
	}
	return &all, nil
}

// Ledger returns all of an account's ledger, following the pages.
func (c *Client) Ledger(ctx context.Context, account string) ([]livebill.LedgerEntry, error) {
	var all []livebill.LedgerEntry
	err := readPages(ctx, c, "/v1/accounts/"+url.PathEscape(account)+"/ledger", func(page struct {
		Ledger []livebill.LedgerEntry `json:"ledger"`
	}) {
		all = append(all, page.Ledger...)
	})
	return all, err
}

// LedgerCSV writes an account's ledger export (CSV) to w.
func (c *Client) LedgerCSV(ctx context.Context, account string, w io.Writer) error {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	resp, err := c.send(ctx, "GET", "/v1/accounts/"+url.PathEscape(account)+"/ledger?format=csv", "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(w, resp.Body)
	return err
}

// Keys returns every API key (never the keys themselves), following the
// pages.
func (c *Client) Keys(ctx context.Context) ([]KeyJSON, error) {
	var all []KeyJSON
	err := readPages(ctx, c, "/v1/keys", func(page struct {
		Keys []KeyJSON `json:"keys"`
	}) {
		all = append(all, page.Keys...)
	})
	return all, err
}

// readPages reads every page of the list at path, decoding each into a P
// for add.
func readPages[P any](ctx context.Context, c *Client, path string, add func(P)) error {
	return c.pages(ctx, path, func(raw []byte) error {
		var page P
		if err := json.Unmarshal(raw, &page); err != nil {
			return err
		}
		add(page)
		return nil
	})
}

// pages reads the list at path a page of livebill.MaxPageLimit items at a
// time, giving each page's JSON to read, until a page has no next.
func (c *Client) pages(ctx context.Context, path string, read func(page []byte) error) error {
	q := url.Values{"limit": {strconv.Itoa(livebill.MaxPageLimit)}}
	for {
		var raw json.RawMessage
		if err := c.do(ctx, "GET", path+"?"+q.Encode(), "", nil, &raw); err != nil {
			return err
		}
		if err := read(raw); err != nil {
			return err
		}
		var cursor struct {
			Next string `json:"next"`
		}
		if err := json.Unmarshal(raw, &cursor); err != nil {
			return err
		}
		if cursor.Next == "" {
			return nil
		}
		q.Set("after", cursor.Next)
	}
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

// CreateImport starts a bulk import named name (see PushImportEvents,
// FinishImport).
func (c *Client) CreateImport(ctx context.Context, name string) (*livebill.Import, error) {
	var im livebill.Import
	if err := c.Do(ctx, "POST", "/v1/imports", livebill.CreateImportInput{Name: name}, &im); err != nil {
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
