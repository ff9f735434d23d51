package billing

import (
	"context"
	"sync"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/rating"
)

// AccountInput returns what rating the account needs (catalog, zone,
// purchases, devices, refunds; no usage) and the account's revision,
// which every change of them bumps. Admission reads it.
func (s *Service) AccountInput(ctx context.Context, accountID string) (*rating.Input, int64, error) {
	a, err := s.load(ctx, accountID)
	if err != nil {
		return nil, 0, err
	}
	in := a.in
	return &in, a.rec.Revision, nil
}

// TrialStops is a livebill.StatusReader that knows one reason an app
// stops: a trial app whose usage exceeded what its packs cover (SPEC §4
// "Service stop"), as the account's quote of the current month says (its
// service_stopped notices). Every other app is active. It stands in until
// the account lifecycle (arrears, suspension, disabled apps) keeps
// statuses; a quote is computed at most once per MaxAge per account.
type TrialStops struct {
	Billing *Service
	// MaxAge is how long an account's stops are reused (default 30 s).
	MaxAge time.Duration

	mu    sync.Mutex
	cache map[string]*trialStops // by account
}

var _ livebill.StatusReader = (*TrialStops)(nil)

type trialStops struct {
	at    time.Time
	stops []livebill.Notice
}

// AppStatus returns the app's status now.
func (t *TrialStops) AppStatus(ctx context.Context, appID string) (*livebill.ServiceStatus, error) {
	app, err := t.Billing.Store.FindApp(ctx, appID)
	if err != nil {
		return nil, err
	}
	now := t.Billing.Clock.Now()
	stops, err := t.stops(ctx, app.AccountID, now)
	if err != nil {
		return nil, err
	}
	st := &livebill.ServiceStatus{Account: app.AccountID, App: appID, AccountState: livebill.AccountActive, AppState: livebill.AppActive, Since: app.CreatedAt}
	for _, n := range stops {
		if n.App != appID {
			continue
		}
		at, _ := time.Parse(time.RFC3339, n.Time) // a stop on MAU has no time: the month
		until, _ := time.Parse(time.RFC3339, n.Until)
		if at.After(now) || (!until.IsZero() && !until.After(now)) {
			continue
		}
		st.AppState, st.Reason, st.Since = livebill.AppStopped, livebill.ReasonTrialExhausted, at
	}
	return st, nil
}

// stops returns the service_stopped notices of the account's quote of
// the current month (in its billing zone) up to the end of today.
func (t *TrialStops) stops(ctx context.Context, accountID string, now time.Time) ([]livebill.Notice, error) {
	maxAge := t.MaxAge
	if maxAge <= 0 {
		maxAge = 30 * time.Second
	}
	t.mu.Lock()
	c := t.cache[accountID]
	t.mu.Unlock()
	if c != nil && !now.Before(c.at) && now.Sub(c.at) < maxAge {
		return c.stops, nil
	}
	a, err := t.Billing.load(ctx, accountID)
	if err != nil {
		return nil, err
	}
	local := now.In(a.loc)
	y, m, d := local.Date()
	from := time.Date(y, m, 1, 0, 0, 0, 0, a.loc)
	to := time.Date(y, m, d+1, 0, 0, 0, 0, a.loc)
	q, _, err := t.Billing.quote(ctx, a, from, to)
	if err != nil {
		return nil, err
	}
	c = &trialStops{at: now}
	for _, n := range q.Notices {
		if n.Code == livebill.NoticeServiceStop {
			c.stops = append(c.stops, n)
		}
	}
	t.mu.Lock()
	if t.cache == nil {
		t.cache = map[string]*trialStops{}
	}
	if len(t.cache) >= 1024 { // forget stale accounts, so the cache stays small
		for id, old := range t.cache {
			if now.Sub(old.at) >= maxAge {
				delete(t.cache, id)
			}
		}
	}
	t.cache[accountID] = c
	t.mu.Unlock()
	return c.stops, nil
}
