package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/livebill/livebill"
)

var _ livebill.PageService = (*DB)(nil)

// listQuery is one of the lists the API pages through: the rows of a table
// (filtered by where, with args) in the order of its sort key, read after
// a cursor with keyset paging (WHERE (key) > (cursor) ORDER BY key LIMIT
// n), so a page costs an index range scan whatever its depth.
type listQuery struct {
	name  string   // the list, as named in its cursors
	cols  string   // the columns scan reads; the sort key comes last
	from  string   // table
	where string   // filter, "" for none
	key   []string // sort key columns
	ints  []bool   // which sort key columns are integers
	args  []any
}

// sql returns the query of a page after cursor (nil: from the start) of
// at most limit rows (0: no limit), and its arguments.
func (l listQuery) sql(cursor []string, limit int) (string, []any, error) {
	q := `SELECT ` + l.cols + `, ` + strings.Join(l.key, ", ") + ` FROM ` + l.from
	args := append([]any(nil), l.args...)
	var conds []string
	if l.where != "" {
		conds = append(conds, l.where)
	}
	if cursor != nil {
		marks := make([]string, len(l.key))
		for i, v := range cursor {
			marks[i] = "?"
			if l.ints[i] {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return "", nil, livebill.Errorf(livebill.EINVALID, "after: not a cursor of this list (use the next value a page of %s gave)", l.name)
				}
				args = append(args, n)
			} else {
				args = append(args, v)
			}
		}
		if len(l.key) == 1 {
			conds = append(conds, l.key[0]+` > ?`)
		} else {
			conds = append(conds, `(`+strings.Join(l.key, ", ")+`) > (`+strings.Join(marks, ", ")+`)`)
		}
	}
	if len(conds) > 0 {
		q += ` WHERE ` + strings.Join(conds, " AND ")
	}
	q += ` ORDER BY ` + strings.Join(l.key, ", ")
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	return q, args, nil
}

// readList reads a list: every row when p is nil, else one page and the
// cursor of the next. scan reads a row's columns, then its sort key values
// into key.
func readList[T any](ctx context.Context, s *DB, l listQuery, p *livebill.Page, scan func(sc func(...any) error, key []any) (T, error)) ([]T, string, error) {
	var cursor []string
	limit := 0
	if p != nil {
		var err error
		if cursor, err = livebill.ParseCursor(p.After, l.name, len(l.key)); err != nil {
			return nil, "", err
		}
		limit = p.Size() + 1 // one more tells whether a next page exists
	}
	q, args, err := l.sql(cursor, limit)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("cannot list %s: %w", l.name, err)
	}
	defer rows.Close()
	var out []T
	var last []string
	for rows.Next() {
		if p != nil && len(out) == p.Size() {
			return out, livebill.Cursor(l.name, last...), nil
		}
		key := make([]any, len(l.key))
		vals := make([]string, len(l.key))
		for i := range key {
			if l.ints[i] {
				key[i] = new(int64)
			} else {
				key[i] = &vals[i]
			}
		}
		v, err := scan(rows.Scan, key)
		if err != nil {
			return nil, "", fmt.Errorf("cannot list %s: %w", l.name, err)
		}
		for i, k := range key {
			if n, ok := k.(*int64); ok {
				vals[i] = strconv.FormatInt(*n, 10)
			}
		}
		last = vals
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("cannot list %s: %w", l.name, err)
	}
	return out, "", nil
}

// The lists. Each is read whole by its List method and a page at a time by
// its Page method.

func accountsList() listQuery {
	return listQuery{name: "accounts", cols: accountCols, from: "accounts", key: []string{"id"}, ints: []bool{false}}
}

func scanAccountRow(sc func(...any) error, key []any) (*livebill.AccountRecord, error) {
	return scanAccount(scanFunc(func(dest ...any) error { return sc(append(dest, key...)...) }))
}

// scanFunc makes a function a row scanner.
type scanFunc func(...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

func appsList(accountID string) listQuery {
	return listQuery{name: "apps", cols: "id, account_id, name, created_at", from: "apps", where: "account_id = ?", args: []any{accountID},
		key: []string{"id"}, ints: []bool{false}}
}

func scanAppRow(sc func(...any) error, key []any) (*livebill.App, error) {
	return scanApp(scanFunc(func(dest ...any) error { return sc(append(dest, key...)...) }))
}

func devicesList(accountID string) listQuery {
	return listQuery{name: "devices", cols: "cameras", from: "devices", where: "account_id = ?", args: []any{accountID},
		key: []string{"id"}, ints: []bool{false}}
}

func scanDeviceRow(sc func(...any) error, key []any) (*livebill.Device, error) {
	var b string
	if err := sc(append([]any{&b}, key...)...); err != nil {
		return nil, err
	}
	d := livebill.Device{ID: *key[0].(*string)}
	var cams []cameraJSON
	if err := json.Unmarshal([]byte(b), &cams); err != nil {
		return nil, err
	}
	for _, c := range cams {
		d.Cameras = append(d.Cameras, livebill.Size{Width: c.Width, Height: c.Height})
	}
	return &d, nil
}

func purchasesList(accountID string) listQuery {
	return listQuery{name: "purchases", cols: "account_id, app, plan, count, region, device, start, auto_renew, cancelled_at", from: "purchases",
		where: "account_id = ?", args: []any{accountID}, key: []string{"seq", "id"}, ints: []bool{true, false}}
}

func scanPurchaseRow(sc func(...any) error, key []any) (*livebill.StoredPurchase, error) {
	var p livebill.StoredPurchase
	var auto int
	if err := sc(append([]any{&p.AccountID, &p.App, &p.Plan, &p.Count, &p.Region, &p.Device, &p.Start, &auto, &p.Cancelled}, key...)...); err != nil {
		return nil, err
	}
	p.ID = *key[1].(*string)
	p.AutoRenew = auto != 0
	return &p, nil
}

func refundsList(accountID string) listQuery {
	return listQuery{name: "refunds", cols: "account_id, purchase, count, at", from: "refunds",
		where: "account_id = ?", args: []any{accountID}, key: []string{"seq"}, ints: []bool{true}}
}

func scanRefundRow(sc func(...any) error, key []any) (*livebill.StoredRefund, error) {
	var r livebill.StoredRefund
	if err := sc(append([]any{&r.AccountID, &r.Purchase, &r.Count, &r.Time}, key...)...); err != nil {
		return nil, err
	}
	r.Seq = *key[0].(*int64)
	return &r, nil
}

func topUpsList(accountID string) listQuery {
	return listQuery{name: "topups", cols: "account_id, id, amount, at", from: "topups",
		where: "account_id = ?", args: []any{accountID}, key: []string{"seq"}, ints: []bool{true}}
}

func scanTopUpRow(sc func(...any) error, key []any) (*livebill.TopUp, error) {
	var t livebill.TopUp
	if err := sc(append([]any{&t.AccountID, &t.ID, &t.Amount, &t.Time}, key...)...); err != nil {
		return nil, err
	}
	t.Seq = *key[0].(*int64)
	return &t, nil
}

func billsList(accountID string) listQuery {
	return listQuery{name: "bills", cols: "account_id, bill_key, kind, bill_date, total, lines, adjusts, issued_at", from: "bills",
		where: "account_id = ?", args: []any{accountID}, key: []string{"seq"}, ints: []bool{true}}
}

func scanBillRow(sc func(...any) error, key []any) (livebill.IssuedBill, error) {
	var b livebill.IssuedBill
	var lines, at string
	if err := sc(append([]any{&b.AccountID, &b.Key, &b.Kind, &b.Date, &b.Total, &lines, &b.Adjusts, &at}, key...)...); err != nil {
		return b, err
	}
	b.Seq = *key[0].(*int64)
	if err := json.Unmarshal([]byte(lines), &b.Lines); err != nil {
		return b, err
	}
	if b.Lines == nil {
		b.Lines = []livebill.Line{}
	}
	b.IssuedAt, _ = time.Parse(time.RFC3339Nano, at)
	return b, nil
}

// PageAccounts returns a page of the accounts by id.
func (s *DB) PageAccounts(ctx context.Context, p livebill.Page) ([]*livebill.AccountRecord, string, error) {
	return readList(ctx, s, accountsList(), &p, scanAccountRow)
}

// PageApps returns a page of an account's apps by id.
func (s *DB) PageApps(ctx context.Context, accountID string, p livebill.Page) ([]*livebill.App, string, error) {
	return readList(ctx, s, appsList(accountID), &p, scanAppRow)
}

// PageDevices returns a page of an account's devices by id.
func (s *DB) PageDevices(ctx context.Context, accountID string, p livebill.Page) ([]*livebill.Device, string, error) {
	return readList(ctx, s, devicesList(accountID), &p, scanDeviceRow)
}

// PagePurchases returns a page of an account's purchases in the order made.
func (s *DB) PagePurchases(ctx context.Context, accountID string, p livebill.Page) ([]*livebill.StoredPurchase, string, error) {
	return readList(ctx, s, purchasesList(accountID), &p, scanPurchaseRow)
}

// PageRefunds returns a page of an account's refund requests in the order
// made.
func (s *DB) PageRefunds(ctx context.Context, accountID string, p livebill.Page) ([]*livebill.StoredRefund, string, error) {
	return readList(ctx, s, refundsList(accountID), &p, scanRefundRow)
}

// PageTopUps returns a page of an account's top-ups in the order made.
func (s *DB) PageTopUps(ctx context.Context, accountID string, p livebill.Page) ([]*livebill.TopUp, string, error) {
	return readList(ctx, s, topUpsList(accountID), &p, scanTopUpRow)
}

// PageBills returns a page of an account's issued bills in issue order.
func (s *DB) PageBills(ctx context.Context, accountID string, p livebill.Page) ([]livebill.IssuedBill, string, error) {
	return readList(ctx, s, billsList(accountID), &p, scanBillRow)
}

// all reads a whole list (the List methods).
func all[T any](ctx context.Context, s *DB, l listQuery, scan func(func(...any) error, []any) (T, error)) ([]T, error) {
	out, _, err := readList(ctx, s, l, nil, scan)
	return out, err
}
