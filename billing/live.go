package billing

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/eventio"
	"github.com/livebill/livebill/meter"
	"github.com/livebill/livebill/rating"
	"github.com/livebill/livebill/scenario"
	"github.com/livebill/livebill/webhook"
)

// liveBatch is how many events a catch-up reads per query.
const liveBatch = 10_000

// liveMeter meters one account continuously. It reads the account's new
// events in arrival order (seq), holds those not yet due and applies them
// in time order once the watermark passes them, so settling or querying a
// day meters only what arrived since the last time instead of replaying
// the account's history. The store locks an account while it inserts its
// events, so seq order is commit order and reading by seq misses nothing.
//
// An event arriving for an instant the watermark has passed (a late
// event) cannot be applied in order: the meter is rebuilt by one replay,
// which re-rates the late event's day as the late-event path requires.
type liveMeter struct {
	key       string // what the meter was built for: catalog and zone
	m         *meter.Meter
	norm      *webhook.Normalizer
	held      bool  // norm holds events (of instant heldAt) not yet applied
	heldAt    int64 // Unix ms
	lastSeq   int64
	watermark int64 // every event before this instant (Unix ms) is applied
	pending   []livebill.StoredEvent
	rejected  []error // stored events that no longer parse
	applied   int64
	late      bool
}

// liveKey names what a live meter depends on besides the events.
func liveKey(a *account) string {
	return a.rec.Catalog + "\x00" + a.rec.CatalogYAML + "\x00" + a.loc.String()
}

func newLiveMeter(a *account) (*liveMeter, error) {
	m, err := meter.New(a.cat, meter.Options{Location: a.loc, Dissolutions: scenario.Dissolutions(a.in.Blocks)})
	if err != nil {
		return nil, err
	}
	lm := &liveMeter{key: liveKey(a), m: m, watermark: -1 << 62}
	lm.norm = webhook.NewNormalizer(m.Apply)
	return lm, nil
}

// liveSlot holds one account's live meter. Its lock serializes the
// account's settlement and every use of its meter; accounts are settled
// in parallel, each by one goroutine holding its slot.
type liveSlot struct {
	mu sync.Mutex
	lm *liveMeter
	// alerted: the pack alerts recorded (pack@threshold), so each is
	// written once per server run (the store keeps each once for good)
	alerted map[string]bool
	// observed: when observe last looked at the account's rating
	observed time.Time
}

// slot returns the account's slot, made on first use.
func (s *Service) slot(id string) *liveSlot {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lives == nil {
		s.lives = map[string]*liveSlot{}
	}
	sl := s.lives[id]
	if sl == nil {
		sl = &liveSlot{}
		s.lives[id] = sl
	}
	return sl
}

// meter returns the slot's meter for a, made anew when there is none or
// it was built for another catalog or zone. Its dissolutions are set to
// those of a's blocks: a new one after what the meter metered is added as
// it is; one before (or one dropped) marks the meter for a rebuild by a
// replay, as a late event does (catchUp). Callers hold sl.mu.
func (sl *liveSlot) meter(a *account) (*liveMeter, error) {
	if sl.lm == nil || sl.lm.key != liveKey(a) {
		lm, err := newLiveMeter(a)
		if err != nil {
			return nil, err
		}
		sl.lm = lm
	}
	want := scenario.Dissolutions(a.in.Blocks)
	if !slices.Equal(sl.lm.m.Dissolutions(), want) && sl.lm.m.SetDissolutions(want) != nil {
		sl.lm.late = true
	}
	return sl.lm, nil
}

// live returns the account's live meter advanced to instant to: every
// stored event before to applied, everyone present credited up to to.
// Callers hold sl.mu.
func (s *Service) live(ctx context.Context, sl *liveSlot, a *account, to time.Time) (*liveMeter, error) {
	lm, err := sl.meter(a)
	if err != nil {
		return nil, err
	}
	if err := lm.read(ctx, s.Store, a.rec.ID); err != nil {
		return nil, err
	}
	return s.catchUp(ctx, sl, a, to)
}

// catchUp advances the slot's meter, which has read the account's new
// events, to instant to; a late event among them rebuilds the meter by
// one replay first. Callers hold sl.mu.
func (s *Service) catchUp(ctx context.Context, sl *liveSlot, a *account, to time.Time) (*liveMeter, error) {
	lm := sl.lm
	if lm.late {
		// rebuild: a fresh meter reads every event again
		fresh, err := newLiveMeter(a)
		if err != nil {
			return nil, err
		}
		if err := fresh.read(ctx, s.Store, a.rec.ID); err != nil {
			return nil, err
		}
		lm = fresh
		sl.lm = lm
		atomic.AddInt64(&s.Rebuilds, 1)
	}
	lm.advance(to.UnixMilli())
	return lm, nil
}

// take holds events read for the account, in seq order (by read, or by
// a batched read); those already read are skipped. The meter may keep
// evs itself.
func (lm *liveMeter) take(evs []livebill.StoredEvent) {
	for len(evs) > 0 && evs[0].Seq <= lm.lastSeq {
		evs = evs[1:]
	}
	if len(evs) == 0 {
		return
	}
	for _, e := range evs {
		if e.Time < lm.watermark {
			lm.late = true
		}
	}
	lm.lastSeq = evs[len(evs)-1].Seq
	if len(lm.pending) == 0 {
		lm.pending = evs
	} else {
		lm.pending = append(lm.pending, evs...)
	}
}

// read takes the account's events stored since the last read.
func (lm *liveMeter) read(ctx context.Context, store livebill.Store, accountID string) error {
	for {
		evs, err := store.ListEventsAfter(ctx, accountID, lm.lastSeq, liveBatch)
		if err != nil {
			return fmt.Errorf("cannot read the new events of account %s: %w", accountID, err)
		}
		lm.take(evs)
		if len(evs) < liveBatch {
			return nil
		}
	}
}

// advance applies the held events before to in time order (ties in
// arrival order, as a replay reads them) and moves the watermark there.
func (lm *liveMeter) advance(to int64) {
	if to <= lm.watermark {
		return
	}
	sort.SliceStable(lm.pending, func(i, j int) bool {
		x, y := lm.pending[i], lm.pending[j]
		if x.Time != y.Time {
			return x.Time < y.Time
		}
		return x.Seq < y.Seq
	})
	n := sort.Search(len(lm.pending), func(i int) bool { return lm.pending[i].Time >= to })
	p := parsers.Get().(*eventio.Parser)
	defer parsers.Put(p)
	var e livebill.Event
	for _, se := range lm.pending[:n] {
		if err := p.Parse(se.Body, &e); err != nil {
			lm.rejected = append(lm.rejected, fmt.Errorf("stored event %q: %w", se.ID, err))
			continue
		}
		lm.feed(&e)
	}
	lm.applied += int64(n)
	// every instant before to is complete: the normalizer's held instant
	// and the rooms' held instants can be applied
	lm.norm.Close()
	lm.held = false
	lm.m.Advance(to)
	rest := copy(lm.pending, lm.pending[n:])
	clear(lm.pending[rest:])
	lm.pending = lm.pending[:rest]
	if rest == 0 {
		lm.pending = nil // may be part of a batched read's array (take)
	}
	lm.watermark = to
}

// feed applies the next event (in time order) as applying it through the
// normalizer would, without the normalizer's copy of every event: a
// webhook event, or one of the instant the normalizer holds, goes through
// it; another is applied straight to the meter, once what the normalizer
// holds (an earlier instant) is applied. The normalizer hands events other
// than webhooks' on unchanged and in order, so the result is the same.
func (lm *liveMeter) feed(e *livebill.Event) {
	if strings.HasPrefix(e.ID, webhook.IDPrefix) || (lm.held && e.Time == lm.heldAt) {
		lm.norm.Apply(e)
		lm.held, lm.heldAt = true, e.Time
		return
	}
	if lm.held {
		lm.norm.Close()
		lm.held = false
	}
	// the parser gives each event fresh slices, so the meter may keep them
	lm.m.Apply(e)
}

// quote rates the live meter's usage before in.To, as scenario.Compute
// rates a meter fed the events before in.To and closed there.
func (lm *liveMeter) quote(in rating.Input) (*livebill.Quote, []error, error) {
	to := in.To.UnixMilli()
	in.Records = recordsBefore(lm.m.Records(), to)
	in.Relays = relaysBefore(lm.m.Relays(), to)
	in.MAU = lm.m.MAUBefore(to)
	in.Notices = lm.m.Notices()
	q, err := rating.Rate(in)
	if err != nil {
		return nil, nil, err
	}
	q.Notices = append(q.Notices, lm.norm.Notices()...)
	errs := append(append([]error(nil), lm.rejected...), lm.m.Errors()...)
	return q, errs, nil
}

// recordsBefore keeps the windows that start before to (to is a window
// boundary: a midnight in the billing zone).
func recordsBefore(rs []meter.Record, to int64) []meter.Record {
	out := rs[:0]
	for _, r := range rs {
		if r.Window < to {
			out = append(out, r)
		}
	}
	return out
}

// relaysBefore is the relays as a meter closed at to reports them: those
// started before to, still running ones (and later stops) ending at to.
func relaysBefore(rs []meter.RelayInterval, to int64) []meter.RelayInterval {
	out := rs[:0]
	for _, r := range rs {
		if r.Start >= to {
			continue
		}
		if r.End == 0 || r.End > to {
			r.End = to
		}
		out = append(out, r)
	}
	return out
}

// LiveStats describes the continuous meters the service holds.
type LiveStats struct {
	Accounts int   `json:"accounts"`
	Applied  int64 `json:"applied"` // events applied, over all accounts
	Pending  int   `json:"pending"` // events read and not yet due
	// Sessions counts the participants (users and robots) present in
	// the meters' rooms, each meter as of its watermark.
	Sessions int   `json:"sessions"`
	Rebuilds int64 `json:"rebuilds"`
}

// Live reports the continuous meters.
func (s *Service) Live() LiveStats {
	s.mu.Lock()
	slots := make([]*liveSlot, 0, len(s.lives))
	for _, sl := range s.lives {
		slots = append(slots, sl)
	}
	s.mu.Unlock()
	st := LiveStats{Rebuilds: atomic.LoadInt64(&s.Rebuilds)}
	for _, sl := range slots {
		sl.mu.Lock()
		if lm := sl.lm; lm != nil {
			st.Accounts++
			st.Applied += lm.applied
			st.Pending += len(lm.pending)
			st.Sessions += lm.m.Present()
		}
		sl.mu.Unlock()
	}
	return st
}
