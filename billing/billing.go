// Package billing is the service's billing logic on top of a livebill.Store:
// it validates and ingests events, computes usage and quotes by replaying
// an account's stored events through the same meter and rating code as
// `livebill quote` (scenario.Compute), and settles closed days into issued
// bills, with adjustments when a settled day changes later.
package billing

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
	"github.com/livebill/livebill/eventio"
	"github.com/livebill/livebill/internal/yamlerr"
	"github.com/livebill/livebill/meter"
	"github.com/livebill/livebill/money"
	"github.com/livebill/livebill/rating"

	"go.yaml.in/yaml/v3"
)

// Service implements livebill.BillService and livebill.IngestService.
type Service struct {
	Store livebill.Store
	Clock livebill.Clock
	// SettleDelay is how long after a day closes (on the billing clock)
	// it is settled, so events arriving a little late still make the
	// day's own bill.
	SettleDelay time.Duration
	// Lateness is how long after its time an event may arrive and still
	// be metered in order by the continuous meter (default
	// webhook.DefaultLateness). A later one costs a rebuild of the
	// account's meter by one replay; its numbers are the same.
	Lateness time.Duration
	// Rebuilds counts the continuous meters rebuilt for late events.
	Rebuilds int64
	// IssuedQuotes counts the quotes (QuoteBills) that read settled days'
	// daily bills as issued rather than rating them again.
	IssuedQuotes int64
	// DailyUsageReads counts the usage reads by day that took settled
	// days from the daily rollups rather than summing their 5-minute ones.
	DailyUsageReads int64
	// SettleGroup is how many accounts SettleAll settles together (their
	// inputs read in a few queries, their bills written in one
	// transaction); 0 means DefaultSettleGroup.
	SettleGroup int
	// ObserveEvery is how often an account with sessions open is looked
	// at between settlements (a trial app stops when its packs run out);
	// 0 means DefaultObserveEvery.
	ObserveEvery time.Duration
	// SettleQuiet is how long an account's ingest for a billing day must
	// have been quiet before the day is settled (bills or adjustments);
	// 0 means DefaultSettleQuiet. See hold.go.
	SettleQuiet time.Duration
	// ImportTimeout is how long an import holds its accounts after its
	// last batch unless finished; 0 means DefaultImportTimeout.
	ImportTimeout time.Duration
	// EventMaxAge and EventMaxFuture bound the times of ingested events
	// around the billing clock: an event older than EventMaxAge, or more
	// than EventMaxFuture ahead, is rejected with the field time named
	// (0 means DefaultEventMaxAge, DefaultEventMaxFuture).
	EventMaxAge, EventMaxFuture time.Duration
	// Monitor, when set, is told of each batch ingested and each
	// settlement run (SettleAll).
	Monitor livebill.BillingMonitor
	// CheckpointDays is how many days of daily checkpoints each account
	// keeps (rollups.go); 0 means DefaultCheckpointDays.
	CheckpointDays int
	// MeterIdle is how long a live meter with no session open and no
	// new event is kept after a settlement before it is let go (evict.go);
	// 0 means DefaultMeterIdle.
	MeterIdle time.Duration
	// Retention is how long an account's events are kept after their
	// day is settled (retention.go); 0 means DefaultRetention,
	// NoRetention keeps them for ever.
	Retention time.Duration
	// Archive, when set, keeps the events retention deletes.
	Archive livebill.EventArchive
	// ArchivePage is how many events retention reads from the store at a
	// time to archive them; 0 means DefaultArchivePage.
	ArchivePage int
	// Events, when set, takes the events ingestion validated instead of
	// the store: an event queue (package nats) whose workers store them.
	Events livebill.EventSink
	// Owns, when set, restricts SettleAll (settlement and the lifecycle's
	// transitions) to the accounts it reports true for: a queue worker's,
	// those of the partitions it owns. Settle and quotes of one account
	// are not restricted.
	Owns func(accountID string) bool

	mu       sync.Mutex           // guards lives (not the slots' meters)
	lives    map[string]*liveSlot // by account: its live meter and settlement lock
	zones    zoneCache            // accounts' billing zones, for ingestion
	pruned   atomic.Int64         // when holds were last pruned (Unix ms)
	evicted  atomic.Int64         // live meters let go while idle
	retained atomic.Int64         // when retention last ran (Unix ms)
}

var (
	_ livebill.BillService   = (*Service)(nil)
	_ livebill.IngestService = (*Service)(nil)
)

// Default bounds of ingested event times (docs/decisions.md, "Input
// limits"): two years back, so last year's history can be imported whole
// at any time of this year; an hour ahead, for clock skew.
const (
	DefaultEventMaxAge    = 730 * 24 * time.Hour
	DefaultEventMaxFuture = time.Hour
)

// EventBounds returns the event times ingestion accepts at now.
func (s *Service) EventBounds(now time.Time) livebill.TimeBounds {
	age, ahead := s.EventMaxAge, s.EventMaxFuture
	if age <= 0 {
		age = DefaultEventMaxAge
	}
	if ahead <= 0 {
		ahead = DefaultEventMaxFuture
	}
	clock := now.UTC().Format(time.RFC3339)
	return livebill.TimeBounds{Earliest: now.Add(-age), Latest: now.Add(ahead),
		TooOld: fmt.Sprintf("more than %s before the server's clock (%s): older events are not accepted", livebill.Days(age), clock),
		TooNew: fmt.Sprintf("more than %s after the server's clock (%s): events from the future are not accepted", livebill.Days(ahead), clock)}
}

// New returns a service on store with the given clock.
func New(store livebill.Store, clock livebill.Clock) *Service {
	if clock == nil {
		clock = livebill.SystemClock{}
	}
	return &Service{Store: store, Clock: clock}
}

// CheckAccountCatalog checks the catalog of a new account: a built-in name,
// or a document that parses and extends, if anything, a built-in catalog
// (the server reads no file a request names).
func CheckAccountCatalog(in *livebill.CreateAccountInput) error {
	if in.CatalogYAML == "" {
		return CheckCatalog(in.Catalog)
	}
	var head struct {
		Extends string `yaml:"extends"`
	}
	if err := yaml.Unmarshal([]byte(in.CatalogYAML), &head); err != nil {
		return livebill.Errorf(livebill.EINVALID, "catalog_yaml: %s", yamlerr.Message(err))
	}
	if head.Extends != "" {
		if err := CheckCatalog(head.Extends); err != nil {
			return livebill.Errorf(livebill.EINVALID, "catalog_yaml: extends: %v", err)
		}
	}
	if _, err := catalog.Parse([]byte(in.CatalogYAML), in.Catalog); err != nil {
		return err
	}
	return nil
}

// CheckCatalog reports whether name is a catalog the service can rate.
func CheckCatalog(name string) error {
	for _, b := range catalog.Builtin() {
		if b == name {
			return nil
		}
	}
	return livebill.Errorf(livebill.EINVALID, "catalog: %q is not a built-in catalog (%s)", name, strings.Join(catalog.Builtin(), ", "))
}

// ---- ingestion

// Ingest parses and validates each event, resolves its account by its app
// and stores the valid ones in one transaction. Every event needs an id
// (unique per account). Each is tagged with its billing day, on which the
// store records ingest activity (settlement waits for quiet), and with
// the import of ctx (WithImport), which then holds its account.
func (s *Service) Ingest(ctx context.Context, batch []livebill.RawEvent) (*livebill.IngestResult, error) {
	return s.IngestFor(ctx, "", batch)
}

// IngestFor is Ingest for a caller limited to one account (an account's
// API key): an event of an app that is not that account's is rejected
// (forbidden), whether the app exists or not, so the caller learns
// nothing of other accounts' apps. onlyAccount "" allows every account.
func (s *Service) IngestFor(ctx context.Context, onlyAccount string, batch []livebill.RawEvent) (*livebill.IngestResult, error) {
	start := s.Clock.Now()
	imp := importOf(ctx)
	days := map[string]billingDay{} // per account, the day of its last event
	res := &livebill.IngestResult{Errors: []livebill.IngestStatus{}}
	statuses := make([]livebill.IngestStatus, len(batch))
	var good []livebill.IncomingEvent
	var goodIdx []int
	apps := map[string]string{}
	purges := map[string]int64{} // per account, its purge boundary (retention.go)
	bounds := s.EventBounds(s.Clock.Now())
	p := parsers.Get().(*eventio.Parser)
	defer parsers.Put(p)
	for i, raw := range batch {
		st := livebill.IngestStatus{Index: i, Line: raw.Line}
		reject := func(code string, err error) {
			st.Status, st.Code, st.Error = livebill.IngestRejected, code, err.Error()
			statuses[i] = st
		}
		var e livebill.Event
		if err := p.Parse(raw.Body, &e); err != nil {
			var ee *livebill.EventError
			if errors.As(err, &ee) {
				ee.Line = raw.Line
				st.ID = ee.ID
			}
			reject(livebill.EINVALID, err)
			continue
		}
		e.Line = raw.Line
		st.ID = e.ID
		if e.ID == "" {
			reject(livebill.EINVALID, &livebill.EventError{Line: raw.Line, Field: "id", Reason: "missing (the ingest API needs an id unique per account)"})
			continue
		}
		if err := bounds.Check(&e); err != nil {
			reject(livebill.EINVALID, err)
			continue
		}
		acct, ok := apps[e.App]
		if !ok {
			app, err := s.Store.FindApp(ctx, e.App)
			if err != nil && livebill.ErrorCode(err) != livebill.ENOTFOUND {
				return nil, err
			}
			if app != nil {
				acct = app.AccountID
			}
			apps[e.App] = acct
		}
		if onlyAccount != "" && acct != onlyAccount {
			reject(livebill.EFORBIDDEN, &livebill.EventError{Line: raw.Line, ID: e.ID, Field: "app", Reason: fmt.Sprintf("app %q is not an app of account %q, which this key is limited to", e.App, onlyAccount)})
			continue
		}
		if acct == "" {
			reject(livebill.ENOTFOUND, &livebill.EventError{Line: raw.Line, ID: e.ID, Field: "app", Reason: fmt.Sprintf("app %q is not registered", e.App)})
			continue
		}
		purged, ok := purges[acct]
		if !ok {
			rec, err := s.Store.FindAccount(ctx, acct)
			if err != nil {
				return nil, err
			}
			purged = rec.Purged
			purges[acct] = purged
		}
		if e.Time < purged {
			loc, err := s.zoneOf(ctx, acct)
			if err != nil {
				return nil, err
			}
			if loc == nil {
				loc = time.UTC
			}
			reject(livebill.EINVALID, purgedError(&e, purged, loc))
			continue
		}
		body, err := canonical(raw.Body)
		if err != nil {
			reject(livebill.EINVALID, err)
			continue
		}
		day, ok := days[acct]
		if !ok || e.Time < day.lo || e.Time >= day.hi { // a batch's events are mostly of one day
			if day, err = s.dayOf(ctx, acct, e.Time); err != nil {
				return nil, err
			}
			days[acct] = day
		}
		good = append(good, livebill.IncomingEvent{AccountID: acct, Event: e, Body: body, Day: day.day, Import: imp})
		goodIdx = append(goodIdx, i)
	}
	good, goodIdx, err := s.dropReclaimed(ctx, good, goodIdx, statuses, batch)
	if err != nil {
		return nil, err
	}
	var sink livebill.EventSink = s.Store
	if s.Events != nil {
		sink = s.Events
	}
	stored, err := sink.StoreEvents(ctx, good)
	if err != nil {
		return nil, err
	}
	for j, st := range stored {
		i := goodIdx[j]
		st.Index, st.Line = i, batch[i].Line
		statuses[i] = st
	}
	for _, st := range statuses {
		res.Add(st)
	}
	s.monitorIngest(res, start)
	return res, nil
}

// dropReclaimed rejects the events of reclaimed accounts (their apps are
// purged, but another server may still know an app it found before the
// reclaim): one read of the batch's accounts' states.
func (s *Service) dropReclaimed(ctx context.Context, good []livebill.IncomingEvent, goodIdx []int, statuses []livebill.IngestStatus, batch []livebill.RawEvent) ([]livebill.IncomingEvent, []int, error) {
	if len(good) == 0 {
		return good, goodIdx, nil
	}
	sts, err := s.Store.FindAccountStates(ctx, livebill.AccountIDs(good))
	if err != nil {
		return nil, nil, err
	}
	keep, keepIdx := good[:0], goodIdx[:0]
	for j, e := range good {
		if st := sts[e.AccountID]; st != nil && st.State == livebill.AccountReclaimed {
			i := goodIdx[j]
			statuses[i] = livebill.IngestStatus{Index: i, Line: batch[i].Line, ID: e.Event.ID, Status: livebill.IngestRejected, Code: livebill.EGONE,
				Error: (&livebill.EventError{Line: batch[i].Line, ID: e.Event.ID, Field: "app", Reason: fmt.Sprintf("the account of app %q was reclaimed", e.Event.App)}).Error()}
			continue
		}
		keep, keepIdx = append(keep, e), append(keepIdx, goodIdx[j])
	}
	return keep, keepIdx, nil
}

// canonical re-encodes a JSON object with sorted keys, no spaces and one
// form per number value (billing/canonical.go), so a re-sent event
// compares equal to the stored one however it was written.
func canonical(b []byte) ([]byte, error) {
	if out, ok := canonicalScan(b, make([]byte, 0, len(b))); ok {
		return out, nil
	}
	return canonicalStd(b)
}

// parsers are the fast event parsers ingestion and replay use (each holds
// a 1 MiB intern cache, so they are reused).
var parsers = sync.Pool{New: func() any { return eventio.NewParser() }}

// ---- replay

// account is what rating an account needs.
type account struct {
	rec  *livebill.AccountRecord
	cat  *catalog.Catalog
	loc  *time.Location
	in   rating.Input // without records, period; Blocks from life
	life *accountLife // nil when not read
}

// catalogs caches the parsed built-in catalogs by name: parsing the YAML
// took 40% of a settlement. Catalogs are read-only once parsed. An
// account's own document is parsed each time (a cache of those would grow
// with the accounts).
var catalogs sync.Map // name → *catalog.Catalog

func loadCatalog(rec *livebill.AccountRecord) (*catalog.Catalog, error) {
	k := rec.Catalog
	if c, ok := catalogs.Load(k); ok && rec.CatalogYAML == "" {
		return c.(*catalog.Catalog), nil
	}
	var cat *catalog.Catalog
	var err error
	if rec.CatalogYAML != "" {
		cat, err = catalog.Parse([]byte(rec.CatalogYAML), rec.Catalog)
	} else {
		cat, err = catalog.Load(rec.Catalog)
	}
	if err != nil {
		return nil, err
	}
	if rec.CatalogYAML == "" {
		catalogs.Store(k, cat)
	}
	return cat, nil
}

func (s *Service) load(ctx context.Context, id string) (*account, error) {
	rec, err := s.Store.FindAccount(ctx, id)
	if err != nil {
		return nil, err
	}
	ps, err := s.Store.ListPurchases(ctx, id)
	if err != nil {
		return nil, err
	}
	ds, err := s.Store.ListDevices(ctx, id)
	if err != nil {
		return nil, err
	}
	rs, err := s.Store.ListRefunds(ctx, id)
	if err != nil {
		return nil, err
	}
	l, err := s.loadLife(ctx, id)
	if err != nil {
		return nil, err
	}
	if l.state.State == livebill.AccountReclaimed {
		return nil, gone(l.state)
	}
	a, err := build(rec, ps, ds, rs)
	if err != nil {
		return nil, err
	}
	a.live(l)
	return a, nil
}

// zones caches time.LoadLocation, which reads and parses the zone's file
// each time (tens of µs, for every account settled).
var zones sync.Map // name → *time.Location

func loadZone(name string) (*time.Location, error) {
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	zones.Store(name, l)
	return l, nil
}

// accountZone is the part of an account its record alone gives: its
// catalog and billing zone (enough to tell whether it is due).
func accountZone(rec *livebill.AccountRecord) (*account, error) {
	if err := checkHistory(rec); err != nil {
		return nil, err
	}
	cat, err := loadCatalog(rec)
	if err != nil {
		return nil, err
	}
	loc := cat.Location()
	if rec.Timezone != "" {
		if loc, err = loadZone(rec.Timezone); err != nil {
			return nil, livebill.Errorf(livebill.EINVALID, "account %q: timezone: %v", rec.ID, err)
		}
	}
	return &account{rec: rec, cat: cat, loc: loc}, nil
}

// checkHistory refuses an account whose stored history starts before
// livebill.EarliestTime (an event dated 0024 or 1970 stored by an older
// version): settlement and replays rate an account from its first event,
// day by day, and would run for centuries. Only the event span on the
// account's row is read, before anything is replayed.
func checkHistory(rec *livebill.AccountRecord) error {
	if sp := rec.Events; sp.Ever() && sp.First < livebill.EarliestTime.UnixMilli() {
		return livebill.Errorf(livebill.ECONFLICT, "account %q: its first stored event, at %s, is before %s: the account cannot be rated",
			rec.ID, time.UnixMilli(sp.First).UTC().Format(time.RFC3339), livebill.EarliestTime.Format(time.DateOnly))
	}
	for _, d := range []struct {
		name string
		t    time.Time
	}{{"created", rec.Created}, {"activated", rec.Activated}} {
		if !d.t.IsZero() && d.t.Before(livebill.EarliestTime) {
			return livebill.Errorf(livebill.ECONFLICT, "account %q: %s %s is before %s: the account cannot be rated",
				rec.ID, d.name, d.t.Format(time.DateOnly), livebill.EarliestTime.Format(time.DateOnly))
		}
	}
	return nil
}

// build makes what rating an account needs from its stored record,
// purchases, devices and refunds.
func build(rec *livebill.AccountRecord, ps []*livebill.StoredPurchase, ds []*livebill.Device, rs []*livebill.StoredRefund) (*account, error) {
	a, err := accountZone(rec)
	if err != nil {
		return nil, err
	}
	cat, loc := a.cat, a.loc
	inZone := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		y, m, d := t.Date()
		return time.Date(y, m, d, 0, 0, 0, 0, loc)
	}
	acct := livebill.Account{ID: rec.ID, Balance: rec.Balance, Timezone: rec.Timezone,
		Created: inZone(rec.Created), Activated: inZone(rec.Activated)}
	if acct.Activated.IsZero() {
		acct.Activated = acct.Created
	}
	a.in = rating.Input{Catalog: cat, Location: loc, Mode: rec.Mode, Account: acct}
	cancelled := map[string]bool{}
	for _, p := range ps {
		if p.Cancelled != "" {
			cancelled[p.ID] = true
			continue
		}
		start, err := livebill.ParseInstant(p.Start, loc)
		if err != nil {
			return nil, livebill.Errorf(livebill.EINVALID, "purchase %q: start: %v", p.ID, err)
		}
		if err := livebill.CheckInstant("start", start); err != nil {
			return nil, livebill.Errorf(livebill.ECONFLICT, "account %q: stored purchase %q: %v", rec.ID, p.ID, err)
		}
		a.in.Purchases = append(a.in.Purchases, livebill.Purchase{ID: p.ID, App: p.App, Plan: p.Plan, Count: p.Count,
			Region: p.Region, Device: p.Device, Start: start, AutoRenew: p.AutoRenew})
	}
	for _, d := range ds {
		a.in.Devices = append(a.in.Devices, *d)
	}
	for _, r := range rs {
		if cancelled[r.Purchase] { // void with its purchase
			continue
		}
		t, err := livebill.ParseInstant(r.Time, loc)
		if err != nil {
			return nil, livebill.Errorf(livebill.EINVALID, "refund of %q: time: %v", r.Purchase, err)
		}
		if err := livebill.CheckInstant("time", t); err != nil {
			return nil, livebill.Errorf(livebill.ECONFLICT, "account %q: stored refund of %q: %v", rec.ID, r.Purchase, err)
		}
		a.in.Refunds = append(a.in.Refunds, livebill.RefundRequest{Plan: r.Purchase, Count: r.Count, Time: t})
	}
	return a, nil
}

// quote rates [from, to): the usage of settled time from the rollups, the
// rest from the continuous meter, advanced to to when to is before its
// watermark (every event before to has arrived, or is late), else a copy
// of it fed the events up to to (those of the last Lateness too) and
// closed there, as a replay of the events before to is. The deduction
// starts from its state at the newest checkpoint before from that holds.
func (s *Service) quote(ctx context.Context, a *account, from, to time.Time, issued bool) (*livebill.Quote, []error, error) {
	sl := s.slot(a.rec.ID)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	src, lm, err := s.source(ctx, sl, a, to)
	if err != nil {
		return nil, nil, err
	}
	if issued {
		q, err := s.quoteIssued(ctx, a, src, lm, from, to)
		if err != nil {
			return nil, nil, err
		}
		if q != nil {
			return q, src.errorsOf(), nil
		}
	}
	op, err := s.openingFor(ctx, a, lm, from.UnixMilli())
	if err != nil {
		return nil, nil, err
	}
	in := a.in
	in.From, in.To = from, to
	start := settleStart(&settleInput{a: a, now: s.Clock.Now()}).UnixMilli()
	if op != nil {
		in.Opening, start = op.state, op.at
	}
	start = min(start, from.UnixMilli())
	q, _, err := s.rateSpan(ctx, a, src, in, start, start, nil)
	if err != nil {
		return nil, nil, err
	}
	return q, src.errorsOf(), nil
}

// source is the live meter to read the usage before to from: the
// account's own, advanced to to when to is before the watermark, else a
// copy fed the events up to to and closed there (tail); and the account's
// own. Callers hold sl.mu.
func (s *Service) source(ctx context.Context, sl *liveSlot, a *account, to time.Time) (src, lm *liveMeter, err error) {
	cut := s.cut()
	if to.Before(cut) {
		cut = to
	}
	if lm, err = s.live(ctx, sl, a, cut); err != nil {
		return nil, nil, err
	}
	if !to.After(s.cut()) {
		return lm, lm, nil
	}
	src, err = lm.tail(a, to.UnixMilli())
	return src, lm, err
}

// cut is the continuous meters' watermark at now: events may arrive up to
// Lateness after their time and still be metered in order.
func (s *Service) cut() time.Time { return s.Clock.Now().Add(-s.lateness()) }

func parseDate(s, field string, loc *time.Location) (time.Time, error) {
	t, err := time.ParseInLocation(time.DateOnly, s, loc)
	if err != nil {
		return time.Time{}, livebill.Errorf(livebill.EINVALID, "%s: must be a date YYYY-MM-DD, not %q", field, s)
	}
	if err := livebill.CheckDate(field, time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)); err != nil {
		return time.Time{}, err
	}
	return t, nil
}

// Quote rates the account's stored events over [from, to).
func (s *Service) Quote(ctx context.Context, accountID, from, to string) (*livebill.Quote, error) {
	return s.quoteOf(ctx, accountID, from, to, false)
}

// QuoteBills is Quote without its usage lines (Usage is nil): the bills,
// summary lines, total, packs and notices, for a page that shows those
// (the console's month to date). The daily bills of settled days are
// read as issued rather than rated again (quoteIssued), which makes it
// cheap on a busy account late in its month.
func (s *Service) QuoteBills(ctx context.Context, accountID, from, to string) (*livebill.Quote, error) {
	q, err := s.quoteOf(ctx, accountID, from, to, true)
	if err != nil {
		return nil, err
	}
	q.Usage = nil
	return q, nil
}

func (s *Service) quoteOf(ctx context.Context, accountID, from, to string, issued bool) (*livebill.Quote, error) {
	a, err := s.load(ctx, accountID)
	if err != nil {
		return nil, err
	}
	f, err := parseDate(from, "from", a.loc)
	if err != nil {
		return nil, err
	}
	t, err := parseDate(to, "to", a.loc)
	if err != nil {
		return nil, err
	}
	if !f.Before(t) {
		return nil, livebill.Errorf(livebill.EINVALID, "from: must be before to")
	}
	if t.After(f.AddDate(livebill.MaxQuoteYears, 0, 0)) {
		return nil, livebill.Errorf(livebill.EINVALID, "to: at most %d years after from", livebill.MaxQuoteYears)
	}
	q, rejected, err := s.quote(ctx, a, f, t, issued)
	if err != nil {
		return nil, err
	}
	if len(rejected) > 0 {
		q.Notices = append(q.Notices, livebill.Notice{Code: "events_rejected",
			Message: fmt.Sprintf("%d stored events were rejected by the meter (first: %v)", len(rejected), rejected[0])})
	}
	return q, nil
}

// Usage returns metered usage per app, item and 5-minute window or day.
func (s *Service) Usage(ctx context.Context, in *livebill.UsageInput) ([]livebill.UsagePoint, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	a, err := s.load(ctx, in.AccountID)
	if err != nil {
		return nil, err
	}
	from, err := parseDate(in.From, "from", a.loc)
	if err != nil {
		return nil, err
	}
	to, err := parseDate(in.To, "to", a.loc)
	if err != nil {
		return nil, err
	}
	recs, err := s.records(ctx, a, from, to, in.Granularity == "day")
	if err != nil {
		return nil, err
	}
	// each record is put at its window (or day) start, sorted by start,
	// app and item, and equal keys summed: no map of every key (a month's
	// 5-minute usage of a busy account is tens of thousands of points)
	lo, hi := from.UnixMilli(), to.UnixMilli()
	keep := recs[:0]
	var day billingDay
	for _, r := range recs {
		if r.Window < lo || r.Window >= hi {
			continue
		}
		if in.Granularity == "day" {
			if r.Window < day.lo || r.Window >= day.hi {
				start := livebill.DayStart(r.Window, a.loc)
				day = billingDay{lo: start, hi: time.UnixMilli(start).In(a.loc).AddDate(0, 0, 1).UnixMilli()}
			}
			r.Window = day.lo
		}
		keep = append(keep, r)
	}
	slices.SortFunc(keep, func(x, y meter.Record) int {
		if c := cmp.Compare(x.Window, y.Window); c != 0 {
			return c
		}
		if c := strings.Compare(x.App, y.App); c != 0 {
			return c
		}
		return strings.Compare(x.Item, y.Item)
	})
	out := make([]livebill.UsagePoint, 0, len(keep))
	measures := map[string]string{}
	var startOf int64
	var startStr string
	for i, r := range keep {
		if i > 0 && r.Window == keep[i-1].Window && r.App == keep[i-1].App && r.Item == keep[i-1].Item {
			out[len(out)-1].Value += r.Value
			continue
		}
		measure, ok := measures[r.Item]
		if !ok {
			if it, found := a.cat.Item(r.Item); found {
				measure = it.Measure
			}
			measures[r.Item] = measure
		}
		if startStr == "" || r.Window != startOf {
			startOf, startStr = r.Window, time.UnixMilli(r.Window).In(a.loc).Format(time.RFC3339)
		}
		out = append(out, livebill.UsagePoint{App: r.App, Item: r.Item, Measure: measure, Value: r.Value, Start: startStr})
	}
	return out, nil
}

// records is the metered usage of [from, to): rollups for settled time,
// the live meter for the rest (source). By day (byDay), settled days are
// read from the daily rollups, each at its day's start (settledUsage). An
// account whose meter is not in memory and whose span ends by its newest
// checkpoint is read from the rollups alone, without resuming its meter.
func (s *Service) records(ctx context.Context, a *account, from, to time.Time, byDay bool) ([]meter.Record, error) {
	sl := s.slot(a.rec.ID)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	lo, hi := from.UnixMilli(), to.UnixMilli()
	if sl.lm == nil {
		ok, err := s.settledThrough(ctx, a, hi)
		if err != nil {
			return nil, err
		}
		if ok {
			return s.settledUsage(ctx, a, lo, hi, byDay)
		}
	}
	src, _, err := s.source(ctx, sl, a, to)
	if err != nil {
		return nil, err
	}
	// the rollups before the meter's from (a midnight), the meter's
	// windows after
	split := min(max(src.from, lo), hi)
	recs, err := s.settledUsage(ctx, a, lo, split, byDay)
	if err != nil {
		return nil, err
	}
	for _, r := range src.m.Records() {
		if r.Window >= split && r.Window < hi {
			recs = append(recs, r)
		}
	}
	return recs, nil
}

// settledThrough reports whether the account's usage before to is all in
// the rollups: its newest checkpoint is at or after to and no event
// stored since it is before it.
func (s *Service) settledThrough(ctx context.Context, a *account, to int64) (bool, error) {
	cp, err := s.Store.FindCheckpoint(ctx, a.rec.ID, math.MaxInt64, false)
	if livebill.ErrorCode(err) == livebill.ENOTFOUND || (err == nil && cp.At < to) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	t, late, err := s.Store.EarliestAfter(ctx, a.rec.ID, cp.Seq)
	return err == nil && !(late && t < cp.At), err
}

// settledUsage is the usage of settled time [lo, hi) (midnights of the
// billing zone) from the rollups: by day, each day's sums from the daily
// rollups, at the day's start (the days settled before they were kept,
// from the 5-minute ones); else the 5-minute windows.
func (s *Service) settledUsage(ctx context.Context, a *account, lo, hi int64, byDay bool) ([]meter.Record, error) {
	if lo >= hi {
		return nil, nil
	}
	var out []meter.Record
	windowsTo := hi // the 5-minute windows are read for [lo, windowsTo)
	if byDay {
		days, complete, err := s.Store.ListUsageDays(ctx, a.rec.ID, lo, hi)
		if err != nil {
			return nil, err
		}
		windowsTo = lo
		if complete > lo {
			windowsTo = livebill.DayStart(complete, a.loc)
			if windowsTo < complete {
				windowsTo = time.UnixMilli(windowsTo).In(a.loc).AddDate(0, 0, 1).UnixMilli()
			}
			windowsTo = min(windowsTo, hi)
		}
		for _, d := range days {
			if d.Day >= windowsTo {
				out = append(out, meter.Record{App: d.App, Item: d.Item, Window: d.Day, Value: d.Value})
			}
		}
		if windowsTo < hi {
			atomic.AddInt64(&s.DailyUsageReads, 1)
		}
	}
	if lo < windowsTo {
		ws, err := s.Store.ListUsageRollups(ctx, a.rec.ID, lo, windowsTo, nil)
		if err != nil {
			return nil, err
		}
		for _, w := range ws {
			out = append(out, meter.Record{App: w.App, Item: w.Item, Window: w.Window, Value: w.Value})
		}
	}
	return out, nil
}

// ---- settlement

// SettleAll settles every account (with Owns set, every account it
// owns); it goes on past an account's error and returns them joined. On a store that reads and writes in batches
// (livebill.SettleStore) accounts are settled in groups (settleGroups);
// otherwise one by one. The Monitor is told of the run.
//
// An account whose stored data cannot be rated is quarantined (judge):
// reported once, then skipped while its revision stays the same, so one
// bad account neither fails its group nor is retried and logged on every
// tick.
func (s *Service) SettleAll(ctx context.Context) error {
	start := s.Clock.Now()
	tally := &runTally{}
	err := s.settleAll(ctx, tally)
	s.report(tally, start)
	return err
}

func (s *Service) settleAll(ctx context.Context, tally *runTally) error {
	// what time brought first: a day's bills are rated with the
	// suspensions that ended their graces recorded; an account that fails
	// there does not stop the others' settlement
	lerr := s.AdvanceLifecycles(ctx)
	if err := s.settleAccounts(ctx, tally); err != nil || lerr != nil {
		return errors.Join(lerr, err)
	}
	return nil
}

func (s *Service) settleAccounts(ctx context.Context, tally *runTally) (err error) {
	if err := s.pruneHolds(ctx, s.Clock.Now()); err != nil {
		return err
	}
	var accts []*livebill.AccountRecord
	listed := false
	defer func() {
		// after the run, over the accounts it listed: the anchors are the
		// checkpoints it stored; its failures (an archive that cannot be
		// written) are the run's. Not when the listing failed: the next
		// run retains.
		if !listed {
			return
		}
		if rerr := s.retain(ctx, s.Clock.Now(), accts); rerr != nil {
			err = errors.Join(err, fmt.Errorf("retention: %w", rerr))
		}
	}()
	accts, err = s.Store.ListAccounts(ctx)
	if err != nil {
		return err
	}
	listed = true
	if s.Owns != nil {
		mine := accts[:0:0]
		for _, a := range accts {
			if s.Owns(a.ID) {
				mine = append(mine, a)
			}
		}
		accts = mine
	}
	qs, err := s.Store.ListQuarantines(ctx)
	if err != nil {
		return err
	}
	quar := make(map[string]*livebill.Quarantine, len(qs))
	for _, q := range qs {
		quar[q.AccountID] = q
	}
	if ss, ok := s.Store.(livebill.SettleStore); ok {
		ids := make([]string, len(accts))
		for i, a := range accts {
			ids[i] = a.ID
		}
		return s.settleGroups(ctx, ss, ids, quar, tally)
	}
	var errs []error
	for _, a := range accts {
		skipped := quar[a.ID] != nil && quar[a.ID].Revision == a.Revision
		var bills []livebill.IssuedBill
		var err error
		if !skipped {
			if bills, err = s.Settle(ctx, a.ID); err != nil {
				errs = append(errs, fmt.Errorf("account %s: %w", a.ID, err))
			}
		}
		z, zerr := accountZone(a)
		st, serr := s.Store.FindSettlement(ctx, a.ID)
		if zerr != nil || serr != nil {
			tally.failedAccount()
			continue
		}
		tally.account(s, z, st.Through, accountOutcome{failed: err != nil, skipped: skipped, written: len(bills) > 0, bills: len(bills)})
	}
	return errors.Join(errs...)
}

// SettleThrough is the first day not yet closed for settlement at now:
// 00:00 of the day containing now − delay, in loc.
func SettleThrough(now time.Time, delay time.Duration, loc *time.Location) time.Time {
	y, m, d := now.Add(-delay).In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

// Settle issues the account's bills for closed days and months, and an
// adjustment (dated the last day settled now: the next bill) for every
// issued bill whose recomputed content differs from what was issued.
// Issued bills are never rewritten. Days whose ingest is not quiet yet,
// and every day while an open import holds the account, wait (see
// SettleWith to force them).
func (s *Service) Settle(ctx context.Context, accountID string) ([]livebill.IssuedBill, error) {
	res, err := s.SettleWith(ctx, accountID, SettleOptions{})
	if err != nil {
		return nil, err
	}
	return res.Issued, nil
}

// SettleWith settles one account as Settle does, or with opts.Force every
// closed day whatever holds it, and says what was held. The bills are
// computed by settleAccount, as for every account of a grouped SettleAll.
func (s *Service) SettleWith(ctx context.Context, accountID string, opts SettleOptions) (*SettleResult, error) {
	if _, err := s.Store.FindAccount(ctx, accountID); err != nil {
		return nil, err
	}
	// the account's slot (made only for an account that exists) keeps
	// anyone else from settling or metering it until its bills are issued;
	// its inputs are read under it, so none changes between reading them
	// and issuing (a settlement in between would be undone)
	sl := s.slot(accountID)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	now := s.Clock.Now()
	// what time brought first (the end of a grace), as the ticker does
	if st, err := s.Store.FindAccountState(ctx, accountID); err != nil {
		return nil, err
	} else if due := st.Due(); !due.IsZero() && !due.After(now) {
		if err := s.advance(ctx, sl, st, now); err != nil {
			return nil, err
		}
	}
	a, err := s.load(ctx, accountID)
	if err != nil {
		if rec, e := s.Store.FindAccount(ctx, accountID); e == nil {
			return nil, s.judgeOne(ctx, rec, err)
		}
		return nil, err
	}
	st, err := s.Store.FindSettlement(ctx, accountID)
	if err != nil {
		return nil, err
	}
	res := &SettleResult{Issued: []livebill.IssuedBill{}}
	if !s.settleDue(a, st, sl, now) {
		return res, nil
	}
	holds, err := s.holds(ctx, []string{accountID}, now, opts.Force)
	if err != nil {
		return nil, err
	}
	hold := holds[accountID]
	if hold.Import != "" {
		res.HeldFrom, res.HeldBy, res.Import, res.HeldUntil = st.Through, "import", hold.Import, hold.ImportExpires
		if res.HeldFrom == "" {
			res.HeldFrom = settleStart(&settleInput{a: a, now: now}).Format(time.DateOnly)
		}
		return res, nil
	}
	issued, err := s.Store.ListBills(ctx, accountID)
	if err != nil {
		return nil, err
	}
	w, q, err := s.settleLoop(ctx, sl, &settleInput{a: a, st: st, issued: issued, now: now, hold: hold.Day}, nil)
	if err != nil {
		return nil, s.judgeOne(ctx, a.rec, err)
	}
	if w == nil {
		return res, s.judgeOne(ctx, a.rec, nil)
	}
	if err := s.Store.IssueBills(ctx, *w); err != nil {
		s.written(sl, a, w, false, now)
		return nil, err
	}
	s.written(sl, a, w, true, now)
	res.Issued = append(res.Issued, w.Bills...)
	if w.Settlement.Held != "" {
		res.HeldFrom, res.HeldBy, res.HeldUntil = w.Settlement.Held, "quiet", hold.LastIngest.Add(s.settleQuiet())
	}
	if err := s.observe(ctx, sl, a, q, now); err != nil {
		return res, err
	}
	return res, s.judgeOne(ctx, a.rec, nil)
}

type keyedBill struct {
	key string
	livebill.Bill
}

// keyed names each bill: kind|date, and for purchase bills the items and
// apps of their lines and an ordinal among equal ones.
func keyed(bills []livebill.Bill) []keyedBill {
	out := make([]keyedBill, 0, len(bills))
	n := map[string]int{}
	for _, b := range bills {
		k := b.Kind + "|" + b.Date
		if b.Kind == livebill.BillPurchase {
			var sig []string
			for _, l := range b.Lines {
				sig = append(sig, l.Item+"@"+l.App)
			}
			k += "|" + strings.Join(sig, ",")
			n[k]++
			k += fmt.Sprintf("#%d", n[k])
		}
		out = append(out, keyedBill{k, b})
	}
	return out
}

// keyKindDate returns the kind and date a bill key (keyed) starts with:
// of an adjustment, those of the bill it adjusts, from its Adjusts.
func keyKindDate(key string) (kind, date string) {
	kind, rest, _ := strings.Cut(key, "|")
	date, _, _ = strings.Cut(rest, "|")
	return kind, date
}

// due reports whether a bill's period is closed by through.
func due(b livebill.Bill, through time.Time, loc *time.Location) bool {
	d, err := time.ParseInLocation(time.DateOnly, b.Date, loc)
	if err != nil {
		return false
	}
	if b.Kind == livebill.BillMonthly {
		return !d.AddDate(0, 1, 0).After(through)
	}
	return d.Before(through)
}

func lineKey(l livebill.Line) string {
	return l.Item + "\x00" + l.App + "\x00" + l.Unit + "\x00" + l.UnitPrice + "\x00" + l.Per
}

func dec(s string) money.Decimal {
	if s == "" {
		return money.Decimal{}
	}
	d, err := money.Parse(s)
	if err != nil {
		return money.Decimal{}
	}
	return d
}

func nonzero(m map[string]*livebill.Line) []*livebill.Line {
	var out []*livebill.Line
	for _, l := range m {
		if !dec(l.Quantity).IsZero() || !dec(l.Amount).IsZero() {
			out = append(out, l)
		}
	}
	return out
}

// diff returns the adjustment that turns what is in force into b, and
// whether there is any difference.
func diff(b livebill.Bill, old map[string]*livebill.Line, oldTotal money.Decimal, cur money.Currency) (livebill.Bill, bool) {
	adj := livebill.Bill{Kind: livebill.BillAdjustment, Lines: []livebill.Line{}}
	done := map[string]bool{}
	for _, l := range b.Lines {
		k := lineKey(l)
		done[k] = true
		q, amt := dec(l.Quantity), dec(l.Amount)
		if o := old[k]; o != nil {
			q, amt = q.Sub(dec(o.Quantity)), amt.Sub(dec(o.Amount))
		}
		if q.IsZero() && amt.IsZero() {
			continue
		}
		d := l
		d.Quantity, d.Amount = q.String(), amt.String()
		adj.Lines = append(adj.Lines, d)
	}
	var gone []string
	for k := range old {
		if !done[k] {
			gone = append(gone, k)
		}
	}
	sort.Strings(gone)
	for _, k := range gone {
		o := *old[k]
		if dec(o.Quantity).IsZero() && dec(o.Amount).IsZero() {
			continue
		}
		o.Quantity, o.Amount = dec(o.Quantity).Neg().String(), dec(o.Amount).Neg().String()
		adj.Lines = append(adj.Lines, o)
	}
	total := dec(b.Total).Sub(oldTotal)
	adj.Total = total.StringFixed(cur.Minor)
	return adj, len(adj.Lines) > 0 || !total.IsZero()
}

// Statement builds the month's statement. Its balances come from the
// ledger: the opening balance is the account's opening entry plus every
// entry before the month (bills by the date they bill, an adjustment in
// the month it is dated, top-ups by when they count in the billing zone);
// the closing balance adds the month's. It lists the bills dated in the
// month and its top-ups; its total is the sum of the bills' rounded
// totals (SPEC §1), which the ledger charged.
func (s *Service) Statement(ctx context.Context, accountID, month string) (*livebill.Statement, error) {
	a, err := s.load(ctx, accountID)
	if err != nil {
		return nil, err
	}
	start, err := time.ParseInLocation("2006-01", month, a.loc)
	if err != nil {
		return nil, livebill.Errorf(livebill.EINVALID, "month: must be YYYY-MM, not %q", month)
	}
	end := start.AddDate(0, 1, 0)
	cur, err := money.LookupCurrency(a.cat.Currency)
	if err != nil {
		return nil, err
	}
	st := &livebill.Statement{Account: accountID, Month: month, Currency: cur.Code,
		TopUps: []*livebill.TopUp{}, Bills: []livebill.IssuedBill{}}
	entries, err := s.Store.ListLedger(ctx, accountID)
	if err != nil {
		return nil, err
	}
	var bal, moved money.Decimal
	inMonth := map[string]bool{} // top-ups counted in the month, by id
	for _, e := range entries {
		var when int // -1 before the month, 0 in it, 1 after
		switch e.Kind {
		case livebill.LedgerOpening:
			when = -1
		case livebill.LedgerTopUp:
			switch {
			case e.At.Before(start):
				when = -1
			case e.At.Before(end):
				inMonth[e.Ref] = true
			default:
				when = 1
			}
		default: // a bill, by its date
			switch {
			case e.Date < month:
				when = -1
			case strings.HasPrefix(e.Date, month):
			default:
				when = 1
			}
		}
		switch when {
		case -1:
			bal = bal.Add(dec(e.Amount))
		case 0:
			moved = moved.Add(dec(e.Amount))
		}
	}
	tops, err := s.Store.ListTopUps(ctx, accountID)
	if err != nil {
		return nil, err
	}
	for _, t := range tops {
		if inMonth[t.ID] {
			st.TopUps = append(st.TopUps, t)
		}
	}
	bills, err := s.Store.ListBills(ctx, accountID)
	if err != nil {
		return nil, err
	}
	var total money.Decimal
	for _, b := range bills {
		if strings.HasPrefix(b.Date, month) {
			total = total.Add(dec(b.Total))
			st.Bills = append(st.Bills, b)
		}
	}
	st.OpeningBalance = bal.StringFixed(cur.Minor)
	st.Total = total.StringFixed(cur.Minor)
	st.ClosingBalance = bal.Add(moved).StringFixed(cur.Minor)
	set, err := s.Store.FindSettlement(ctx, accountID)
	if err != nil {
		return nil, err
	}
	st.Final = set.Through != "" && set.Through >= end.Format(time.DateOnly)
	return st, nil
}
