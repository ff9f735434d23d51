package billing

import (
	"context"
	"encoding/json"
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
	"github.com/livebill/livebill/deduct"
	"github.com/livebill/livebill/eventio"
	"github.com/livebill/livebill/meter"
	"github.com/livebill/livebill/scenario"
	"github.com/livebill/livebill/webhook"
)

// liveBatch is how many events a catch-up reads per query; a variable
// for tests.
var liveBatch = 10_000

// replayPage is how many events a meter made again reads per query
// (replay); a variable for tests.
var replayPage = 10_000

// maxHeld bounds the new events a live meter holds at once (read); a
// variable for tests.
var maxHeld = 100_000

// maxSnaps bounds the midnight states a live meter keeps in memory until
// a settlement stores them (more only while settlement is held for weeks:
// the oldest go, and a late event then resumes from a stored checkpoint).
const maxSnaps = 62

// noRollups is a live meter's from when it holds the account's whole
// history (it was metered from the first event, not from a checkpoint).
const noRollups = math.MinInt64 / 4

// liveMeter meters one account continuously. It reads the account's new
// events in arrival order (seq), holds those not yet due and applies them
// in time order once the watermark passes them, so settling or querying a
// day meters only what arrived since the last time instead of replaying
// the account's history. The store locks an account while it inserts its
// events, so seq order is commit order and reading by seq misses nothing.
//
// It holds the usage from instant from on; the usage before it is in the
// store's rollups (rollups.go). At each midnight of the billing zone it
// crosses it keeps its state (snaps), which the settlement of the day
// before stores as the account's checkpoint. An event arriving for an
// instant the watermark has passed (a late event) cannot be applied in
// order: the meter is made again from the newest checkpoint not after the
// event (resume), replaying only the events after that.
type liveMeter struct {
	key       string // what the meter was built for: catalog and zone
	loc       *time.Location
	m         *meter.Meter
	norm      *webhook.Normalizer
	held      bool  // norm holds events (of instant heldAt) not yet applied
	heldAt    int64 // Unix ms
	lastSeq   int64
	watermark int64 // every event before this instant (Unix ms) is applied
	pending   []livebill.StoredEvent
	rejected  []error // stored events that no longer parse
	applied   int64
	// late: an event before the watermark arrived, or a dissolution
	// before it changed; dirty is the earliest instant concerned
	late  bool
	dirty int64
	// reread: more new events than it holds were read (overflow), none
	// before the watermark: they are read again from it (catchUp)
	reread bool
	from   int64      // the meter's usage starts here (noRollups: all of it)
	fresh  bool       // no rollups are stored from from on (it forgot up to them)
	snaps  []liveSnap // its states at the midnights it crossed after from
	open   *opening   // the deduction's state at from or before, when known
	last   int64      // the latest event time it took (Unix ms)
	next   int64      // the next midnight to cross (0: not known yet)
}

// liveSnap is a live meter's state at a midnight (liveState's encoding)
// and the last event seq it had read then.
type liveSnap struct {
	at, seq int64
	data    []byte
}

// opening is a deduction state (rating.Input.Opening) and the fingerprint
// of the rating inputs it holds for.
type opening struct {
	at          int64
	fingerprint string
	state       *deduct.State
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
	lm := &liveMeter{key: liveKey(a), loc: a.loc, m: m, watermark: -1 << 62, from: noRollups}
	lm.norm = webhook.NewNormalizer(m.Apply)
	return lm, nil
}

// liveStateVersion is the version of the encoding of a live meter's state
// in a checkpoint (the meter and the normalizer version their own parts).
const liveStateVersion = 1

type liveState struct {
	V        int             `json:"v"`
	Meter    json.RawMessage `json:"meter"`
	Norm     json.RawMessage `json:"norm"`
	Rejected []string        `json:"rejected,omitempty"`
}

// snapshot encodes the live meter's state at instant at: every event
// before it applied, the meter advanced there.
func (lm *liveMeter) snapshot(at int64) ([]byte, error) {
	ms, err := lm.m.Checkpoint(at)
	if err != nil {
		return nil, err
	}
	ns, err := lm.norm.Checkpoint()
	if err != nil {
		return nil, err
	}
	st := liveState{V: liveStateVersion, Meter: ms, Norm: ns}
	for _, e := range lm.rejected {
		st.Rejected = append(st.Rejected, e.Error())
	}
	return json.Marshal(&st)
}

// restoreLive makes a live meter from a state snapshot wrote at instant
// at; the events from at on are still to be read (lastSeq is seq).
func restoreLive(a *account, at, seq int64, data []byte) (*liveMeter, error) {
	var st liveState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("cannot read the checkpoint: %w", err)
	}
	if st.V != liveStateVersion {
		return nil, fmt.Errorf("%w: live state version %d, not %d", meter.ErrCheckpointVersion, st.V, liveStateVersion)
	}
	m, from, err := meter.Restore(a.cat, meter.Options{Location: a.loc}, st.Meter)
	if err != nil {
		return nil, err
	}
	norm, err := webhook.RestoreNormalizer(m.Apply, st.Norm)
	if err != nil {
		return nil, err
	}
	lm := &liveMeter{key: liveKey(a), loc: a.loc, m: m, norm: norm, lastSeq: seq, watermark: at, from: from}
	for _, r := range st.Rejected {
		lm.rejected = append(lm.rejected, errors.New(r))
	}
	return lm, nil
}

// clone is a copy of the live meter's state to meter on apart (a quote
// of a period ending after the watermark): its events, usage and errors
// so far.
func (lm *liveMeter) clone(a *account) (*liveMeter, error) {
	data, err := lm.snapshot(lm.from)
	if err != nil {
		return nil, err
	}
	c, err := restoreLive(a, lm.watermark, lm.lastSeq, data)
	if err != nil {
		return nil, err
	}
	c.pending = slices.Clone(lm.pending)
	return c, nil
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

// meter returns the slot's meter for a, resumed from the account's newest
// checkpoint when there is none or it was built for another catalog or
// zone (advanced toward instant to as it reads: replay). Its
// dissolutions are set to those of a's blocks: a new one after what the
// meter metered is added as it is; one before (or one dropped) marks the
// meter to be made again from a checkpoint before it, as a late event
// does (catchUp). Callers hold sl.mu.
func (s *Service) meter(ctx context.Context, sl *liveSlot, a *account, to int64) (*liveMeter, error) {
	if sl.lm == nil || sl.lm.key != liveKey(a) {
		lm, err := s.resume(ctx, a, nil, math.MaxInt64, to)
		if err != nil {
			return nil, err
		}
		sl.lm = lm
	}
	lm := sl.lm
	want := scenario.Dissolutions(a.in.Blocks)
	if have := lm.m.Dissolutions(); !slices.Equal(have, want) && lm.m.SetDissolutions(want) != nil {
		lm.late = true
		lm.dirty = min(lm.dirtyOr(), firstChange(have, want))
	}
	return lm, nil
}

// dirtyOr is dirty, or the largest instant when the meter is not late.
func (lm *liveMeter) dirtyOr() int64 {
	if !lm.late {
		return math.MaxInt64
	}
	return lm.dirty
}

// firstChange is the instant of the first dissolution where two lists
// (sorted) differ.
func firstChange(a, b []meter.Dissolution) int64 {
	for i := 0; i < len(a) || i < len(b); i++ {
		switch {
		case i >= len(a):
			return b[i].At
		case i >= len(b):
			return a[i].At
		case a[i] != b[i]:
			return min(a[i].At, b[i].At)
		}
	}
	return math.MaxInt64
}

// live returns the account's live meter advanced to instant to: every
// stored event before to applied, everyone present credited up to to.
// Callers hold sl.mu.
func (s *Service) live(ctx context.Context, sl *liveSlot, a *account, to time.Time) (*liveMeter, error) {
	lm, err := s.meter(ctx, sl, a, to.UnixMilli())
	if err != nil {
		return nil, err
	}
	if err := lm.read(ctx, s.Store, a.rec.ID); err != nil {
		return nil, err
	}
	return s.catchUp(ctx, sl, a, to)
}

// catchUp advances the slot's meter, which has read the account's new
// events, to instant to; a late event among them makes the meter again
// from a checkpoint before it first. Callers hold sl.mu.
func (s *Service) catchUp(ctx context.Context, sl *liveSlot, a *account, to time.Time) (*liveMeter, error) {
	lm := sl.lm
	if lm.late {
		fresh, err := s.resume(ctx, a, lm, lm.dirty, to.UnixMilli())
		if err != nil {
			return nil, err
		}
		lm = fresh
		sl.lm = lm
		atomic.AddInt64(&s.Rebuilds, 1)
	} else if lm.reread {
		// the events it let go are all from its watermark on: it reads
		// them again from there, a page at a time
		lm.reread = false
		if err := s.replay(ctx, a, lm, lm.lastSeq, to.UnixMilli()); err != nil {
			return nil, err
		}
	}
	if err := lm.advance(to.UnixMilli()); err != nil {
		return nil, err
	}
	return lm, nil
}

// resume makes the account's live meter from the newest checkpoint at or
// before instant at whose events are all still to be had: the old meter's
// own at the start of its usage (the rollups end there), else a stored
// one no event stored since came before; without one, from the account's
// first event. It reads the events from the checkpoint on, applying those
// before instant to as it goes (replay). (The old meter's states at later
// midnights are not used: the usage before them is in the old meter only.)
func (s *Service) resume(ctx context.Context, a *account, old *liveMeter, at, to int64) (*liveMeter, error) {
	id := a.rec.ID
	if old != nil && old.key == liveKey(a) {
		for i := len(old.snaps) - 1; i >= 0; i-- {
			sn := old.snaps[i]
			if sn.at > at || sn.at > old.from {
				continue
			}
			lm, err := restoreLive(a, sn.at, sn.seq, sn.data)
			if err != nil {
				break // stored checkpoints then, or the events
			}
			if o := old.open; o != nil && o.at <= lm.from {
				lm.open = o
			}
			lm.snaps = []liveSnap{sn}
			// the old meter's late events are after the snap: what it read
			// is replayed, what it did not is read after
			if err := s.readFrom(ctx, a, lm, old.lastSeq, to); !errors.Is(err, errDissolved) {
				return lm, err
			}
			break
		}
	}
	// Events stored from now on are read after the replay (read), and
	// judged late or not then; so are those the checks below do not see.
	last, err := s.Store.LastEventSeq(ctx, id)
	if err != nil {
		return nil, err
	}
	before := at
	for {
		cp, err := s.Store.FindCheckpoint(ctx, id, before, false)
		if livebill.ErrorCode(err) == livebill.ENOTFOUND {
			break
		}
		if err != nil {
			return nil, err
		}
		t, late, err := s.Store.EarliestAfter(ctx, id, cp.Seq)
		if err != nil {
			return nil, err
		}
		if late && t < cp.At {
			// an event stored since is before it: so are the checkpoints
			// after that event's time
			before = min(cp.At-1, t)
			continue
		}
		if cp, err = s.Store.FindCheckpoint(ctx, id, cp.At, true); err != nil {
			return nil, err
		}
		lm, err := restoreLive(a, cp.At, cp.Seq, cp.Meter)
		if err != nil {
			break // of another version: metered again from the events
		}
		var st deduct.State
		if json.Unmarshal(cp.Deduction, &st) == nil && st.At == cp.At {
			lm.open = &opening{at: cp.At, fingerprint: cp.Fingerprint, state: &st}
		}
		lm.snaps = []liveSnap{{cp.At, cp.Seq, cp.Meter}}
		if err := s.readFrom(ctx, a, lm, last, to); !errors.Is(err, errDissolved) {
			return lm, err
		}
		before = cp.At - 1
	}
	if a.rec.Purged > 0 {
		return nil, livebill.Errorf(livebill.ECONFLICT, "account %q: its events before %s were deleted by retention and no checkpoint after that can be resumed from: it cannot be metered again",
			id, time.UnixMilli(a.rec.Purged).In(a.loc).Format(time.RFC3339))
	}
	lm, err := newLiveMeter(a)
	if err != nil {
		return nil, err
	}
	return lm, s.replay(ctx, a, lm, last, to)
}

// errDissolved is a checkpoint made before a dissolution it does not have.
var errDissolved = errors.New("the account's dissolutions changed before its checkpoint")

// readFrom replays the account's events from a checkpoint's meter on.
// errDissolved: the checkpoint's dissolutions are not the account's.
func (s *Service) readFrom(ctx context.Context, a *account, lm *liveMeter, last, to int64) error {
	if want := scenario.Dissolutions(a.in.Blocks); !slices.Equal(lm.m.Dissolutions(), want) && lm.m.SetDissolutions(want) != nil {
		return errDissolved
	}
	return s.replay(ctx, a, lm, last, to)
}

// replay takes the account's events from the meter's watermark on, those
// of seq last or before, or of its checkpoint's seq if greater (later
// ones are left to read), a page at a time
// in time order. Once a page is read every event before its last instant
// is, so it applies them, up to instant to or the service's cut (where
// live meters are kept, whatever the period asked): a meter made again
// holds a page of events and those from there on, not every event since
// its checkpoint (for an account never settled, all it ever had).
func (s *Service) replay(ctx context.Context, a *account, lm *liveMeter, last, to int64) error {
	to = max(to, s.cut().UnixMilli())
	// a checkpoint stored since last was read has seen events up to its seq
	last = max(last, lm.lastSeq)
	lm.lastSeq = last
	next := s.eventPages(ctx, a.rec.ID, lm.watermark, 0, replayPage)
	for {
		page, err := next()
		if err != nil {
			return fmt.Errorf("cannot read the events of account %s: %w", a.rec.ID, err)
		}
		for _, e := range page {
			if e.Seq <= last {
				lm.pending = append(lm.pending, e)
				lm.last = max(lm.last, e.Time)
			}
		}
		if len(page) < replayPage {
			return nil
		}
		if err := lm.advance(min(page[len(page)-1].Time, to)); err != nil {
			return err
		}
	}
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
		lm.last = max(lm.last, e.Time)
		if e.Time < lm.watermark {
			lm.dirty = min(lm.dirtyOr(), e.Time)
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

// read takes the account's events stored since the last read. They come
// in arrival order, not time order, so they are held until the meter
// passes them. More than maxHeld of them (an import) are not held: they
// are read again a page at a time in time order (replay) by catchUp,
// from the watermark, or, when one is before it, as for a late event,
// by the meter made again from before the earliest.
func (lm *liveMeter) read(ctx context.Context, store livebill.Store, accountID string) error {
	since := lm.lastSeq
	for {
		evs, err := store.ListEventsAfter(ctx, accountID, lm.lastSeq, liveBatch)
		if err != nil {
			return fmt.Errorf("cannot read the new events of account %s: %w", accountID, err)
		}
		lm.take(evs)
		if len(evs) < liveBatch {
			return nil
		}
		if len(lm.pending) >= maxHeld {
			return lm.overflow(ctx, store, accountID, since)
		}
	}
}

// overflow lets go of the events held and marks them, with those read
// since seq since and those stored after them up to the last stored, to
// be replayed: from the watermark (reread) when none is before it, else
// from before the earliest (late); later ones are read as new.
func (lm *liveMeter) overflow(ctx context.Context, store livebill.Store, accountID string, since int64) error {
	last, err := store.LastEventSeq(ctx, accountID)
	if err != nil {
		return err
	}
	// asked after LastEventSeq, so it sees every event up to last
	t, any, err := store.EarliestAfter(ctx, accountID, since)
	if err != nil {
		return err
	}
	earliest := lm.dirtyOr()
	if any {
		earliest = min(earliest, t)
	}
	for _, e := range lm.pending {
		earliest = min(earliest, e.Time)
	}
	if earliest < lm.watermark {
		lm.late, lm.dirty = true, earliest
	} else {
		lm.reread = true
	}
	clear(lm.pending)
	lm.pending = nil
	lm.lastSeq = max(lm.lastSeq, last)
	return nil
}

// advance applies the held events before to in time order (ties in
// arrival order, as a replay reads them) and moves the watermark there,
// keeping the meter's state at each midnight it crosses.
func (lm *liveMeter) advance(to int64) error {
	if to <= lm.watermark {
		return nil
	}
	sort.SliceStable(lm.pending, func(i, j int) bool {
		x, y := lm.pending[i], lm.pending[j]
		if x.Time != y.Time {
			return x.Time < y.Time
		}
		return x.Seq < y.Seq
	})
	n := sort.Search(len(lm.pending), func(i int) bool { return lm.pending[i].Time >= to })
	if lm.next == 0 || lm.next <= lm.watermark {
		start := lm.watermark
		if start < -1<<61 { // metered from the first event
			if n == 0 {
				start = to - 1
			} else {
				start = lm.pending[0].Time
			}
		}
		lm.next = nextMidnight(start, lm.loc)
	}
	p := parsers.Get().(*eventio.Parser)
	defer parsers.Put(p)
	var e livebill.Event
	for _, se := range lm.pending[:n] {
		for lm.next <= se.Time {
			if err := lm.cross(lm.next); err != nil {
				return err
			}
		}
		if err := p.Parse(se.Body, &e); err != nil {
			lm.rejected = append(lm.rejected, fmt.Errorf("stored event %q: %w", se.ID, err))
			continue
		}
		lm.feed(&e)
	}
	for lm.next <= to {
		if err := lm.cross(lm.next); err != nil {
			return err
		}
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
	return nil
}

// cross advances the meter to midnight at, every event before it
// applied, and keeps its state there.
func (lm *liveMeter) cross(at int64) error {
	lm.norm.Close()
	lm.held = false
	lm.m.Advance(at)
	data, err := lm.snapshot(at)
	if err != nil {
		return err
	}
	lm.snaps = append(lm.snaps, liveSnap{at, lm.lastSeq, data})
	if len(lm.snaps) > maxSnaps {
		lm.snaps = slices.Delete(lm.snaps, 0, len(lm.snaps)-maxSnaps)
	}
	lm.next = nextMidnight(at, lm.loc)
	return nil
}

// nextMidnight is the first midnight of loc after instant t (Unix ms).
func nextMidnight(t int64, loc *time.Location) int64 {
	y, m, d := time.UnixMilli(t).In(loc).Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, loc).UnixMilli()
}

// snap returns the state kept at midnight at, if any.
func (lm *liveMeter) snap(at int64) (liveSnap, bool) {
	for _, sn := range lm.snaps {
		if sn.at == at {
			return sn, true
		}
	}
	return liveSnap{}, false
}

// forget lets go of the usage before b, now stored as rollups with the
// checkpoint at b (open: its deduction state, nil if none was stored).
func (lm *liveMeter) forget(b int64, open *opening) {
	if b <= lm.from {
		return
	}
	lm.m.ForgetBefore(b)
	lm.from, lm.fresh = b, true
	lm.snaps = slices.DeleteFunc(lm.snaps, func(sn liveSnap) bool { return sn.at < b })
	if open != nil {
		lm.open = open
	} else if lm.open != nil && lm.open.at > b {
		lm.open = nil
	}
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
	// the parser validated the event and gives each fresh slices, so the
	// meter may keep them
	lm.m.ApplyValid(e)
}

// tail is a copy of the live meter, which has read the account's events
// (live), fed those up to to (after the watermark: some may still
// arrive) and closed there, as a replay of the events before to is.
func (lm *liveMeter) tail(a *account, to int64) (*liveMeter, error) {
	c, err := lm.clone(a)
	if err != nil {
		return nil, err
	}
	if err := c.advance(to); err != nil {
		return nil, err
	}
	c.m.Close(to)
	return c, nil
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
	// Evicted counts the meters let go while idle (evict.go).
	Evicted int64 `json:"evicted"`
}

// Live reports the continuous meters.
func (s *Service) Live() LiveStats {
	s.mu.Lock()
	slots := make([]*liveSlot, 0, len(s.lives))
	for _, sl := range s.lives {
		slots = append(slots, sl)
	}
	s.mu.Unlock()
	st := LiveStats{Rebuilds: atomic.LoadInt64(&s.Rebuilds), Evicted: s.evicted.Load()}
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
