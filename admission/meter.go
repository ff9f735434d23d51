package admission

import (
	"context"
	"encoding/json"
	"sort"
	"time"

	"github.com/livebill/livebill"
)

// Ingester stores usage events for an account (billing.Service).
type Ingester interface {
	IngestFor(ctx context.Context, onlyAccount string, batch []livebill.RawEvent) (*livebill.IngestResult, error)
}

// LeaseMeter stores the usage events of metered leases, so a leased
// session is metered like any usage: a lease of a kind the account's
// catalog meters (an item with `sessions: <kind>`) is a session, stored as
// a session.start event at its acquisition and a session.stop event at
// its end (its release, or its expiry when it was not renewed). The
// events go through ingestion, with the ids lease:<id>:start and
// lease:<id>:stop, so storing one twice (a retry, two servers sweeping)
// stores it once.
//
// Sweep finds the leases whose events are due and stores them; the
// service runs it every round (100 ms by default), so the events follow
// the lease by about that much.
type LeaseMeter struct {
	Ingest Ingester
	Leases livebill.LeaseStore
	Logf   func(format string, args ...any)
}

// sweepBatch bounds the leases one sweep handles.
const sweepBatch = 1000

// Sweep stores the due events of metered leases.
func (m *LeaseMeter) Sweep(ctx context.Context, now time.Time) {
	ls, err := m.Leases.UnmeteredLeases(ctx, now, sweepBatch)
	if err != nil {
		m.logf("admission: lease metering: %v", err)
		return
	}
	byAccount := map[string][]livebill.UnmeteredLease{}
	var accounts []string
	for _, l := range ls {
		if byAccount[l.Account] == nil {
			accounts = append(accounts, l.Account)
		}
		byAccount[l.Account] = append(byAccount[l.Account], l)
	}
	sort.Strings(accounts)
	for _, acct := range accounts {
		m.store(ctx, acct, byAccount[acct], now)
	}
}

// sessionEvent is a session.start/stop as stored (SPEC §7.1 form).
type sessionEvent struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Time    string `json:"time"`
	App     string `json:"app"`
	Session string `json:"session"`
	Kind    string `json:"kind,omitempty"`
}

func (m *LeaseMeter) store(ctx context.Context, account string, ls []livebill.UnmeteredLease, now time.Time) {
	var batch []livebill.RawEvent
	add := func(e sessionEvent) {
		b, _ := json.Marshal(e)
		batch = append(batch, livebill.RawEvent{Line: len(batch) + 1, Body: b})
	}
	for _, l := range ls {
		if !l.MeterStarted {
			add(sessionEvent{ID: "lease:" + l.ID + ":start", Type: "session.start", Time: l.Acquired.UTC().Format(time.RFC3339Nano),
				App: l.App, Session: l.ID, Kind: l.Kind})
		}
		if !l.Held(now) {
			add(sessionEvent{ID: "lease:" + l.ID + ":stop", Type: "session.stop", Time: l.Ends.UTC().Format(time.RFC3339Nano),
				App: l.App, Session: l.ID})
		}
	}
	res, err := m.Ingest.IngestFor(ctx, account, batch)
	if err != nil {
		m.logf("admission: account %s: cannot store lease events: %v", account, err)
		return // tried again next round
	}
	for _, e := range res.Errors {
		// not retried: the same event would be refused again
		m.logf("admission: account %s: lease event %s refused: %s", account, e.ID, e.Error)
	}
	for _, l := range ls {
		stopped := !l.Held(now)
		if err := m.Leases.SetLeaseMetered(ctx, account, l.ID, stopped); err != nil {
			m.logf("admission: %v", err)
		}
	}
}

func (m *LeaseMeter) logf(format string, args ...any) {
	if m.Logf != nil {
		m.Logf(format, args...)
	}
}
