package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/livebill/livebill"
)

// Notifications out (migration 0013): endpoints, the outbox
// (notifications and one delivery per endpoint that wants each) and the
// log of attempts. A notification is written by the transaction of the
// change it tells (outbox.notify), so none is lost and none is told of a
// change that did not commit.

var _ livebill.NotificationService = (*DB)(nil)

// outbox writes notifications within a transaction; it reads the
// endpoints once.
type outbox struct {
	ctx    context.Context
	s      *DB
	tx     *sql.Tx
	now    time.Time
	eps    []*livebill.Endpoint
	loaded bool
}

// notify writes a notification of type typ about the account, with data
// as its data, and a pending delivery for each endpoint that wants it;
// nothing when none does.
func (o *outbox) notify(accountID, typ string, at time.Time, data any) error {
	if !o.loaded {
		eps, err := o.s.endpoints(o.ctx, o.tx)
		if err != nil {
			return err
		}
		o.eps, o.loaded = eps, true
	}
	n := &livebill.Notification{Type: typ, AccountID: accountID, At: at.UTC()}
	var to []*livebill.Endpoint
	for _, ep := range o.eps {
		if ep.Wants(n) {
			to = append(to, ep)
		}
	}
	if len(to) == 0 {
		return nil
	}
	n.ID = livebill.NewNotificationID()
	var err error
	if n.Data, err = json.Marshal(data); err != nil {
		return fmt.Errorf("cannot write notification %s: %w", typ, err)
	}
	payload, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("cannot write notification %s: %w", typ, err)
	}
	var seq int64
	if err := o.tx.QueryRowContext(o.ctx, o.s.q(`INSERT INTO notifications (id, account_id, type, at_ms, payload) VALUES (?, ?, ?, ?, ?) RETURNING seq`),
		n.ID, accountID, typ, at.UnixMilli(), string(payload)).Scan(&seq); err != nil {
		return fmt.Errorf("cannot write notification %s: %w", typ, err)
	}
	rows := make([][]any, len(to))
	for i, ep := range to {
		rows[i] = []any{seq, ep.ID, accountID, livebill.DeliveryPending, o.now.UnixMilli(), o.now.UnixMilli()}
	}
	if err := o.s.insertRows(o.ctx, o.tx, `INSERT INTO deliveries (notification_seq, endpoint_id, account_id, status, next_ms, created_ms) VALUES `, "", rows); err != nil {
		return fmt.Errorf("cannot queue notification %s: %w", typ, err)
	}
	return nil
}

const endpointCols = `id, url, secret, account_id, types, description, created_at`

func scanEndpoint(sc interface{ Scan(...any) error }) (*livebill.Endpoint, error) {
	var e livebill.Endpoint
	var types, at string
	if err := sc.Scan(&e.ID, &e.URL, &e.Secret, &e.AccountID, &types, &e.Description, &at); err != nil {
		return nil, err
	}
	if types != "" {
		e.Types = strings.Split(types, ",")
	}
	e.CreatedAt, _ = time.Parse(time.RFC3339Nano, at)
	return &e, nil
}

// endpoints returns the endpoints not deleted, with their secrets.
func (s *DB) endpoints(ctx context.Context, tx *sql.Tx) ([]*livebill.Endpoint, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+endpointCols+` FROM webhook_endpoints WHERE deleted_at = '' ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("cannot read endpoints: %w", err)
	}
	defer rows.Close()
	var out []*livebill.Endpoint
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot read endpoint: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// CreateEndpoint registers an endpoint; the answer holds its secret, the
// only time it is shown.
func (s *DB) CreateEndpoint(ctx context.Context, in *livebill.CreateEndpointInput) (*livebill.Endpoint, error) {
	e, err := livebill.NewEndpoint(in, s.clock.Now())
	if err != nil {
		return nil, err
	}
	if in.AccountID != "" {
		if _, err := s.FindAccount(ctx, in.AccountID); err != nil {
			return nil, err
		}
	}
	if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO webhook_endpoints (`+endpointCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		e.ID, e.URL, e.Secret, e.AccountID, strings.Join(e.Types, ","), e.Description, e.CreatedAt.UTC().Format(time.RFC3339Nano)); err != nil {
		return nil, fmt.Errorf("cannot store endpoint: %w", err)
	}
	return e, nil
}

func endpointsList() listQuery {
	return listQuery{name: "endpoints", cols: endpointCols, from: "webhook_endpoints", where: "deleted_at = ''",
		key: []string{"seq"}, ints: []bool{true}}
}

func scanEndpointRow(sc func(...any) error, key []any) (*livebill.Endpoint, error) {
	e, err := scanEndpoint(scanFunc(func(dest ...any) error { return sc(append(dest, key...)...) }))
	if err != nil {
		return nil, err
	}
	e.Secret = "" // shown once, when made
	return e, nil
}

// PageEndpoints returns a page of the endpoints (without their secrets),
// in the order made.
func (s *DB) PageEndpoints(ctx context.Context, p livebill.Page) ([]*livebill.Endpoint, string, error) {
	return readList(ctx, s, endpointsList(), &p, scanEndpointRow)
}

// DeleteEndpoint removes an endpoint: its pending deliveries are not
// sent; they and the log stay.
func (s *DB) DeleteEndpoint(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE webhook_endpoints SET deleted_at = ? WHERE id = ? AND deleted_at = ''`), now(s.clock), id)
		if err != nil {
			return fmt.Errorf("cannot delete endpoint %q: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return livebill.Errorf(livebill.ENOTFOUND, "endpoint %q not found", id)
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE deliveries SET status = ?, last_error = ? WHERE endpoint_id = ? AND status = ?`),
			livebill.DeliveryFailed, "endpoint deleted", id, livebill.DeliveryPending); err != nil {
			return fmt.Errorf("cannot drop the deliveries of endpoint %q: %w", id, err)
		}
		return nil
	})
}

const deliveryCols = `d.seq, d.endpoint_id, d.status, d.attempts, d.next_ms, d.last_status, d.last_error, d.delivered_ms, d.created_ms, n.payload`

func scanDelivery(sc interface{ Scan(...any) error }, extra ...any) (*livebill.Delivery, error) {
	var d livebill.Delivery
	var next, delivered, created int64
	var payload string
	if err := sc.Scan(append([]any{&d.Seq, &d.EndpointID, &d.Status, &d.Attempts, &next, &d.LastStatus, &d.LastError, &delivered, &created, &payload}, extra...)...); err != nil {
		return nil, err
	}
	d.Payload, d.CreatedAt = []byte(payload), fromMS(created)
	var n livebill.Notification
	if err := json.Unmarshal([]byte(payload), &n); err != nil {
		return nil, fmt.Errorf("delivery %d: cannot read its notification: %w", d.Seq, err)
	}
	d.Notification = &n
	if d.Status == livebill.DeliveryPending {
		t := fromMS(next)
		d.NextAt = &t
	}
	if delivered > 0 {
		t := fromMS(delivered)
		d.DeliveredAt = &t
	}
	return &d, nil
}

// ClaimDeliveries leases the due heads: for each endpoint and account,
// its oldest pending delivery, when due at now and not leased. A head
// that fails keeps its account's later deliveries waiting (order); other
// accounts' go on.
func (s *DB) ClaimDeliveries(ctx context.Context, now, leaseUntil time.Time, limit int) ([]*livebill.Delivery, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+deliveryCols+`, e.url, e.secret FROM deliveries d
		JOIN notifications n ON n.seq = d.notification_seq
		JOIN webhook_endpoints e ON e.id = d.endpoint_id
		WHERE d.status = ? AND d.next_ms <= ? AND d.lease_ms <= ?
		AND d.seq = (SELECT MIN(h.seq) FROM deliveries h WHERE h.endpoint_id = d.endpoint_id AND h.account_id = d.account_id AND h.status = ?)
		ORDER BY d.next_ms, d.seq LIMIT ?`), livebill.DeliveryPending, now.UnixMilli(), now.UnixMilli(), livebill.DeliveryPending, limit)
	if err != nil {
		return nil, fmt.Errorf("cannot find deliveries due: %w", err)
	}
	var due []*livebill.Delivery
	for rows.Next() {
		var d *livebill.Delivery
		var url, secret string
		if d, err = scanDelivery(rows, &url, &secret); err != nil {
			rows.Close()
			return nil, err
		}
		d.URL, d.Secret = url, secret
		due = append(due, d)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, fmt.Errorf("cannot find deliveries due: %w", err)
	}
	rows.Close()
	out := due[:0]
	for _, d := range due {
		// another worker (server) may have taken it since
		res, err := s.db.ExecContext(ctx, s.q(`UPDATE deliveries SET lease_ms = ? WHERE seq = ? AND status = ? AND lease_ms <= ?`),
			leaseUntil.UnixMilli(), d.Seq, livebill.DeliveryPending, now.UnixMilli())
		if err != nil {
			return nil, fmt.Errorf("cannot lease delivery %d: %w", d.Seq, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			out = append(out, d)
		}
	}
	return out, nil
}

// RecordAttempt records an attempt at a delivery: delivered, or pending
// from next (failed for good when next is zero).
func (s *DB) RecordAttempt(ctx context.Context, seq int64, a livebill.Attempt, delivered bool, next time.Time) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		status, nextMS, deliveredMS := livebill.DeliveryPending, ms(next), int64(0)
		switch {
		case delivered:
			status, nextMS, deliveredMS = livebill.DeliveryDelivered, 0, a.At.UnixMilli()
		case next.IsZero():
			status = livebill.DeliveryFailed
		}
		res, err := tx.ExecContext(ctx, s.q(`UPDATE deliveries SET status = ?, attempts = attempts + 1, next_ms = ?, lease_ms = 0, last_status = ?,
			last_error = ?, delivered_ms = ? WHERE seq = ? AND status = ?`), status, nextMS, a.Status, a.Error, deliveredMS, seq, livebill.DeliveryPending)
		if err != nil {
			return fmt.Errorf("cannot record delivery %d: %w", seq, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // no longer pending (its endpoint deleted meanwhile): the attempt is still logged
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO delivery_attempts (delivery_seq, at_ms, status, error, duration_ms) VALUES (?, ?, ?, ?, ?)`),
			seq, a.At.UnixMilli(), a.Status, a.Error, a.Duration); err != nil {
			return fmt.Errorf("cannot log delivery %d: %w", seq, err)
		}
		return nil
	})
}

func deliveriesList(f livebill.DeliveryFilter) listQuery {
	l := listQuery{name: "deliveries", cols: deliveryCols, from: "deliveries d JOIN notifications n ON n.seq = d.notification_seq",
		key: []string{"d.seq"}, ints: []bool{true}}
	var conds []string
	for _, c := range []struct{ col, v string }{{"d.endpoint_id", f.EndpointID}, {"d.account_id", f.AccountID}, {"d.status", f.Status}} {
		if c.v != "" {
			conds = append(conds, c.col+" = ?")
			l.args = append(l.args, c.v)
		}
	}
	l.where = strings.Join(conds, " AND ")
	return l
}

func scanDeliveryRow(sc func(...any) error, key []any) (*livebill.Delivery, error) {
	return scanDelivery(scanFunc(func(dest ...any) error { return sc(append(dest, key...)...) }))
}

// PageDeliveries returns a page of deliveries (oldest first), filtered.
func (s *DB) PageDeliveries(ctx context.Context, f livebill.DeliveryFilter, p livebill.Page) ([]*livebill.Delivery, string, error) {
	return readList(ctx, s, deliveriesList(f), &p, scanDeliveryRow)
}

// FindDelivery returns a delivery and its attempts.
func (s *DB) FindDelivery(ctx context.Context, seq int64) (*livebill.Delivery, error) {
	d, err := scanDelivery(s.db.QueryRowContext(ctx, s.q(`SELECT `+deliveryCols+` FROM deliveries d JOIN notifications n ON n.seq = d.notification_seq WHERE d.seq = ?`), seq))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, livebill.Errorf(livebill.ENOTFOUND, "delivery %d not found", seq)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read delivery %d: %w", seq, err)
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT at_ms, status, error, duration_ms FROM delivery_attempts WHERE delivery_seq = ? ORDER BY seq`), seq)
	if err != nil {
		return nil, fmt.Errorf("cannot read the attempts of delivery %d: %w", seq, err)
	}
	defer rows.Close()
	d.Log = []livebill.Attempt{}
	for rows.Next() {
		var a livebill.Attempt
		var at int64
		if err := rows.Scan(&at, &a.Status, &a.Error, &a.Duration); err != nil {
			return nil, err
		}
		a.At = fromMS(at)
		d.Log = append(d.Log, a)
	}
	return d, rows.Err()
}

// Redeliver makes a delivery pending again, due now, unless its endpoint
// was deleted.
func (s *DB) Redeliver(ctx context.Context, seq int64, now time.Time) (*livebill.Delivery, error) {
	var deleted string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT e.deleted_at FROM deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.seq = ?`), seq).Scan(&deleted)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, livebill.Errorf(livebill.ENOTFOUND, "delivery %d not found", seq)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read delivery %d: %w", seq, err)
	}
	if deleted != "" {
		return nil, livebill.Errorf(livebill.ECONFLICT, "delivery %d: its endpoint was deleted", seq)
	}
	if _, err := s.db.ExecContext(ctx, s.q(`UPDATE deliveries SET status = ?, next_ms = ?, lease_ms = 0, delivered_ms = 0 WHERE seq = ?`),
		livebill.DeliveryPending, now.UnixMilli(), seq); err != nil {
		return nil, fmt.Errorf("cannot redeliver %d: %w", seq, err)
	}
	return s.FindDelivery(ctx, seq)
}
