package admission

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
	"github.com/livebill/livebill/eventio"
	"github.com/livebill/livebill/rating"
)

// AccountSource gives what admission needs of an account: its rating
// inputs (catalog, zone, purchases, devices, refunds) and its revision,
// which any change of them bumps (billing.Service implements it).
type AccountSource interface {
	AccountInput(ctx context.Context, accountID string) (*rating.Input, int64, error)
}

// Service decides admission (livebill.Authorizer) from memory and keeps
// leases in the lease store.
//
// What a decision reads is kept in memory per account, loaded on the
// account's first decision and kept current by Run: the account's
// purchases, devices and refunds (reloaded when its revision changes), the
// limits they give now (recomputed when a period starts or ends), its apps'
// service status (StatusReader, every StatusEvery) and its rooms'
// occupancy (the account's new stored events, every EventsEvery). An
// account not asked about for EvictAfter is dropped. Leases are never
// decided from memory: the lease store grants them atomically, so servers
// sharing one database agree.
type Service struct {
	Store    livebill.Store
	Leases   livebill.LeaseStore
	Accounts AccountSource
	// Status tells apps' service status; nil: every app serves.
	Status livebill.StatusReader
	Clock  livebill.Clock
	// Meter stores the usage events of metered leases; nil: none.
	Meter *LeaseMeter
	// Logf reports background errors; nil: discarded.
	Logf func(format string, args ...any)

	// LeaseTTL is a lease's life without renewal when the request names
	// none (default 30 s); requests may ask between MinLeaseTTL and
	// MaxLeaseTTL.
	LeaseTTL, MaxLeaseTTL time.Duration
	// Reservation is how long an allowed join or publish counts before
	// its event arrives (default 10 s).
	Reservation time.Duration
	// EventsEvery: how often new events are read for occupancy (default
	// 100 ms). ReloadEvery: how often accounts' revisions are checked
	// (default 1 s). StatusEvery: how often apps' statuses are read
	// (default 5 s). EvictAfter: an account not asked about this long is
	// dropped from memory (default 10 min).
	EventsEvery, ReloadEvery, StatusEvery, EvictAfter time.Duration

	mu       sync.Mutex
	apps     map[string]string // app → account
	accounts map[string]*account
}

var _ livebill.Authorizer = (*Service)(nil)

// Bounds of a lease's time to live.
const (
	MinLeaseTTL     = time.Second
	DefaultLeaseTTL = 30 * time.Second
	DefaultMaxTTL   = 10 * time.Minute
)

// maxCachedApps bounds the app → account cache (apps never change account).
const maxCachedApps = 1 << 20

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// account is admission's memory of one account.
type account struct {
	id string
	// loadMu serializes the store reads that change the account's memory
	// (the first load, event tails, reloads), so none runs twice at once
	// and decisions never wait for the store.
	loadMu sync.Mutex

	mu       sync.Mutex // guards what follows
	loaded   bool
	input    *rating.Input
	revision int64
	limits   *Limits
	rooms    map[string]*Rooms // by app
	tracks   bool              // the catalog limits rooms: occupancy is kept
	lastSeq  int64
	status   map[string]*livebill.ServiceStatus // by app
	used     time.Time
}

// appAccount returns the account of an app, or ENOTFOUND when the app is
// unknown or not the caller's (onlyAccount): the same answer, so a key
// learns nothing of other accounts' apps.
func (s *Service) appAccount(ctx context.Context, onlyAccount, app string) (string, error) {
	s.mu.Lock()
	acct, ok := s.apps[app]
	s.mu.Unlock()
	if !ok {
		a, err := s.Store.FindApp(ctx, app)
		if err != nil && livebill.ErrorCode(err) != livebill.ENOTFOUND {
			return "", err
		}
		if a != nil {
			acct = a.AccountID
			s.mu.Lock()
			if s.apps == nil {
				s.apps = map[string]string{}
			}
			if len(s.apps) < maxCachedApps {
				s.apps[app] = acct
			}
			s.mu.Unlock()
		}
	}
	if acct == "" || (onlyAccount != "" && acct != onlyAccount) {
		return "", livebill.Errorf(livebill.ENOTFOUND, "app %q not found", app)
	}
	return acct, nil
}

// account returns the account's memory, loading it on first use.
func (s *Service) account(ctx context.Context, id string) (*account, error) {
	s.mu.Lock()
	if s.accounts == nil {
		s.accounts = map[string]*account{}
	}
	a := s.accounts[id]
	if a == nil {
		a = &account{id: id, rooms: map[string]*Rooms{}, status: map[string]*livebill.ServiceStatus{}}
		s.accounts[id] = a
	}
	s.mu.Unlock()
	a.mu.Lock()
	loaded := a.loaded
	a.mu.Unlock()
	if loaded {
		return a, nil
	}
	a.loadMu.Lock()
	defer a.loadMu.Unlock()
	a.mu.Lock()
	loaded = a.loaded
	a.mu.Unlock()
	if loaded { // another caller loaded it meanwhile
		return a, nil
	}
	err := s.reload(ctx, a, true)
	if err == nil {
		err = s.tail(ctx, a)
	}
	if err != nil {
		s.mu.Lock()
		if s.accounts[id] == a {
			delete(s.accounts, id) // the next decision tries again
		}
		s.mu.Unlock()
		return nil, err
	}
	a.mu.Lock()
	a.loaded = true
	a.mu.Unlock()
	return a, nil
}

// reload reads the account's rating inputs when its revision changed (or
// always, when force); the limits are recomputed on the next decision.
// Callers hold a.loadMu.
func (s *Service) reload(ctx context.Context, a *account, force bool) error {
	if !force {
		rec, err := s.Store.FindAccount(ctx, a.id)
		if err != nil {
			return err
		}
		a.mu.Lock()
		same := rec.Revision == a.revision
		a.mu.Unlock()
		if same {
			return nil
		}
	}
	in, rev, err := s.Accounts.AccountInput(ctx, a.id)
	if err != nil {
		return err
	}
	tracks := tracksRooms(in)
	a.mu.Lock()
	a.input, a.revision, a.limits = in, rev, nil
	if tracks && !a.tracks {
		a.lastSeq = 0 // start following rooms: read every event once
		a.rooms = map[string]*Rooms{}
	}
	a.tracks = tracks
	a.mu.Unlock()
	return nil
}

// tracksRooms reports whether the catalog has a room limit, so that
// occupancy is worth keeping.
func tracksRooms(in *rating.Input) bool {
	if in.Catalog.Admission == nil {
		return false
	}
	for _, e := range in.Catalog.Admission.Editions {
		if e != nil && (e.MaxRoomUsers != nil || e.ActiveRooms != nil || e.AudiencePerRoom != nil || e.MaxPublishers != nil) {
			return true
		}
	}
	return false
}

// tailBatch is how many events one read of a tail takes.
const tailBatch = 10_000

var parsers = sync.Pool{New: func() any { return eventio.NewParser() }}

// tail applies the account's events stored since the last read to its
// rooms. Per account, events are read in commit order (livebill.Store's
// ListEventsAfter), so none is missed. Callers hold a.loadMu.
func (s *Service) tail(ctx context.Context, a *account) error {
	a.mu.Lock()
	after, tracks := a.lastSeq, a.tracks
	a.mu.Unlock()
	if !tracks {
		return nil
	}
	for {
		evs, err := s.Store.ListEventsAfter(ctx, a.id, after, tailBatch)
		if err != nil {
			return fmt.Errorf("cannot read the new events of account %s: %w", a.id, err)
		}
		if len(evs) == 0 {
			return nil
		}
		s.apply(a, evs)
		after = evs[len(evs)-1].Seq
		if len(evs) < tailBatch {
			return nil
		}
	}
}

// apply parses stored events and applies the room events among them.
func (s *Service) apply(a *account, evs []livebill.StoredEvent) {
	p := parsers.Get().(*eventio.Parser)
	defer parsers.Put(p)
	parsed := make([]livebill.Event, 0, len(evs))
	for _, se := range evs {
		var e livebill.Event
		if p.Parse(se.Body, &e) != nil {
			continue // the meter reports it (rejections); occupancy skips it
		}
		switch e.Type {
		case livebill.RoomJoin, livebill.RoomLeave, livebill.StreamStart, livebill.StreamStop:
			parsed = append(parsed, e)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range parsed {
		e := &parsed[i]
		r := a.rooms[e.App]
		if r == nil {
			r = NewRooms()
			a.rooms[e.App] = r
		}
		r.Apply(e)
	}
	if last := evs[len(evs)-1].Seq; last > a.lastSeq {
		a.lastSeq = last
	}
}

// status returns the app's service status, read on first use. A status
// that cannot be read (the interim reader's quote may fail on account
// data) counts as serving until a later read succeeds: admission does
// not stop an app for an error of its own.
func (s *Service) status(ctx context.Context, a *account, app string) *livebill.ServiceStatus {
	if s.Status == nil {
		return nil
	}
	a.mu.Lock()
	st, ok := a.status[app]
	a.mu.Unlock()
	if ok {
		return st
	}
	st, err := s.Status.AppStatus(ctx, app)
	if err != nil {
		s.logf("admission: cannot read the status of app %s (serving meanwhile): %v", app, err)
		st = nil
	}
	a.mu.Lock()
	a.status[app] = st
	a.mu.Unlock()
	return st
}

// Authorize decides whether in.Action may start now (see
// livebill.Authorizer), and takes its lease when it needs one.
func (s *Service) Authorize(ctx context.Context, onlyAccount string, in *livebill.AuthorizeInput) (*livebill.Decision, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	acct, err := s.appAccount(ctx, onlyAccount, in.App)
	if err != nil {
		return nil, err
	}
	a, err := s.account(ctx, acct)
	if err != nil {
		return nil, err
	}
	st := s.status(ctx, a, in.App)
	var ttl time.Duration
	if livebill.LeaseAction(in.Action) {
		if ttl, err = s.ttl(in.TTLMS); err != nil {
			return nil, err
		}
	}
	now := s.Clock.Now()
	a.mu.Lock()
	a.used = now
	cat := a.input.Catalog
	v, err := s.decide(a, in, st, now)
	a.mu.Unlock()
	if err != nil || v.Lease == nil {
		return v.Decision, err
	}
	return s.lease(ctx, a, in, v, cat, now, ttl)
}

// decide runs Decide on the account's memory and makes the reservations
// of an allowed join or publish. Callers hold a.mu.
func (s *Service) decide(a *account, in *livebill.AuthorizeInput, st *livebill.ServiceStatus, now time.Time) (Verdict, error) {
	if a.limits == nil || now.Before(a.limits.At) || !now.Before(a.limits.Until) {
		l, err := ComputeLimits(a.input, now)
		if err != nil {
			return Verdict{}, err
		}
		a.limits = l
	}
	rooms := a.rooms[in.App]
	f := Facts{Now: now, Status: st, Catalog: a.input.Catalog, Editions: a.limits.Editions[in.App], Rooms: rooms,
		Concurrency: a.limits.Concurrency, Licences: a.limits.Licences, Cameras: a.limits.Cameras}
	v, err := Decide(in, &f)
	if err != nil || !v.Allow || !a.tracks {
		return v, err
	}
	if v.ReserveJoin || v.ReservePublish {
		if rooms == nil {
			rooms = NewRooms()
			a.rooms[in.App] = rooms
		}
		until := now.Add(or(s.Reservation, 10*time.Second)).UnixMilli()
		if v.ReserveJoin {
			rooms.ReserveJoin(in.Room, in.User, until)
		} else {
			rooms.ReservePublish(in.Room, in.User, until)
		}
	}
	return v, nil
}

// ttl is the lease time to live a request asks for, within bounds.
func (s *Service) ttl(ms int64) (time.Duration, error) {
	maxTTL := or(s.MaxLeaseTTL, DefaultMaxTTL)
	if ms == 0 {
		return min(or(s.LeaseTTL, DefaultLeaseTTL), maxTTL), nil
	}
	d := time.Duration(ms) * time.Millisecond
	if d < MinLeaseTTL || d > maxTTL {
		return 0, livebill.Errorf(livebill.EINVALID, "ttl_ms: must be between %d and %d, not %d", MinLeaseTTL.Milliseconds(), maxTTL.Milliseconds(), ms)
	}
	return d, nil
}

// lease takes the lease an allowed action needs. A lease of a kind the
// catalog meters is marked so, and LeaseMeter stores its usage events.
func (s *Service) lease(ctx context.Context, a *account, in *livebill.AuthorizeInput, v Verdict, cat *catalog.Catalog, now time.Time, ttl time.Duration) (*livebill.Decision, error) {
	need := v.Lease
	kind := KindOf(in.Action)
	holder := need.Holder
	if holder == "" {
		holder = in.Device
	}
	_, metered := cat.SessionItem(kind)
	l, _, err := s.Leases.AcquireLease(ctx, &livebill.AcquireLeaseInput{Account: a.id, ID: in.Lease, App: in.App, Kind: kind,
		Pool: need.Pool, Holder: holder, Capacity: need.Capacity, Now: now, Ends: now.Add(ttl), Metered: metered})
	if err != nil {
		return nil, err
	}
	switch {
	case l == nil && in.Action == livebill.ActionIndustrialOperate:
		return livebill.Denied(livebill.DenyDeviceBusy, fmt.Sprintf("device %s has a remote operator already: one at a time (seed 001)", in.Device)), nil
	case l == nil:
		return livebill.Denied(livebill.DenyConcurrencyExhausted, fmt.Sprintf("every one of the %d concurrencies of %s is leased", need.Capacity, need.Pool)), nil
	case !l.Held(now):
		d := livebill.Denied(livebill.DenyLeaseEnded, fmt.Sprintf("lease %q ended at %s; a new session needs a new lease id", l.ID, l.Ends.Format(time.RFC3339Nano)))
		d.Lease = l
		return d, nil
	}
	d := livebill.Allowed()
	d.Lease = l
	return d, nil
}

// KindOf is the session kind of a lease action.
func KindOf(action string) string {
	switch action {
	case livebill.ActionCloudGamingStart:
		return livebill.SessionCloudGaming
	case livebill.ActionCloudGamingPush:
		return livebill.SessionLivePush
	case livebill.ActionIndustrialOperate:
		return livebill.SessionOperation
	}
	return ""
}

// RenewLease renews a held lease of the caller's app for ttl (0: the
// default).
func (s *Service) RenewLease(ctx context.Context, onlyAccount, app, id string, ttl time.Duration) (*livebill.Lease, error) {
	acct, err := s.leaseAccount(ctx, onlyAccount, app, id)
	if err != nil {
		return nil, err
	}
	if ttl, err = s.ttl(ttl.Milliseconds()); err != nil {
		return nil, err
	}
	now := s.Clock.Now()
	return s.Leases.RenewLease(ctx, acct, app, id, now, now.Add(ttl))
}

// ReleaseLease releases a lease of the caller's app.
func (s *Service) ReleaseLease(ctx context.Context, onlyAccount, app, id string) (*livebill.Lease, error) {
	acct, err := s.leaseAccount(ctx, onlyAccount, app, id)
	if err != nil {
		return nil, err
	}
	return s.Leases.ReleaseLease(ctx, acct, app, id, s.Clock.Now())
}

// leaseAccount is the account of an app whose lease the caller names.
func (s *Service) leaseAccount(ctx context.Context, onlyAccount, app, id string) (string, error) {
	if err := errors.Join(livebill.CheckText("app", app), livebill.CheckText("lease", id)); err != nil {
		return "", err
	}
	return s.appAccount(ctx, onlyAccount, app)
}

// PageLeases returns a page of the account's leases held now, by pool
// and slot.
func (s *Service) PageLeases(ctx context.Context, accountID string, p livebill.Page) ([]*livebill.Lease, string, error) {
	return s.Leases.PageLeases(ctx, accountID, s.Clock.Now(), p)
}

// Run keeps the accounts' memory current until ctx ends: new events
// every EventsEvery, revisions every ReloadEvery, statuses every
// StatusEvery; accounts unused for EvictAfter are dropped, and rooms
// pruned. Errors are logged and retried on the next round.
func (s *Service) Run(ctx context.Context) {
	events := time.NewTicker(or(s.EventsEvery, 100*time.Millisecond))
	defer events.Stop()
	var lastReload, lastStatus, lastPrune time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-events.C:
		}
		now := s.Clock.Now()
		reload := now.Sub(lastReload) >= or(s.ReloadEvery, time.Second) || now.Before(lastReload)
		status := now.Sub(lastStatus) >= or(s.StatusEvery, 5*time.Second) || now.Before(lastStatus)
		prune := now.Sub(lastPrune) >= time.Minute || now.Before(lastPrune)
		for _, a := range s.loaded(now) {
			s.refresh(ctx, a, now, reload, status, prune)
		}
		if reload {
			lastReload = now
		}
		if status {
			lastStatus = now
		}
		if prune {
			lastPrune = now
		}
		if s.Meter != nil {
			s.Meter.Sweep(ctx, now)
		}
	}
}

// Refresh brings every account's memory up to date now: its new events,
// revision and statuses (what Run does on its rounds), for tests and
// callers that need a change seen at once.
func (s *Service) Refresh(ctx context.Context) {
	now := s.Clock.Now()
	for _, a := range s.loaded(now) {
		s.refresh(ctx, a, now, true, true, false)
	}
}

// loaded returns the loaded accounts, dropping those unused for
// EvictAfter.
func (s *Service) loaded(now time.Time) []*account {
	evict := or(s.EvictAfter, 10*time.Minute)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*account, 0, len(s.accounts))
	for id, a := range s.accounts {
		a.mu.Lock()
		loaded, used := a.loaded, a.used
		a.mu.Unlock()
		if !loaded {
			continue
		}
		if now.Sub(used) > evict {
			delete(s.accounts, id)
			continue
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func (s *Service) refresh(ctx context.Context, a *account, now time.Time, reload, status, prune bool) {
	a.loadMu.Lock()
	defer a.loadMu.Unlock()
	if reload {
		if err := s.reload(ctx, a, false); err != nil {
			s.logf("admission: account %s: %v", a.id, err)
		}
	}
	if err := s.tail(ctx, a); err != nil {
		s.logf("admission: account %s: %v", a.id, err)
	}
	if status && s.Status != nil {
		a.mu.Lock()
		apps := make([]string, 0, len(a.status))
		for app := range a.status {
			apps = append(apps, app)
		}
		a.mu.Unlock()
		for _, app := range apps {
			st, err := s.Status.AppStatus(ctx, app)
			if err != nil {
				s.logf("admission: status of app %s: %v", app, err)
				continue
			}
			a.mu.Lock()
			a.status[app] = st
			a.mu.Unlock()
		}
	}
	a.mu.Lock()
	for _, r := range a.rooms {
		if prune {
			r.Prune(now.UnixMilli(), Tombstone)
		} else {
			r.PruneReservations(now.UnixMilli()) // every round: they are short and may be many
		}
	}
	a.mu.Unlock()
}

func (s *Service) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}
