package billing

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/livebill/livebill"
)

// Grouped settlement (issue #7: a day of 100,000 accounts in seconds).
// SettleAll cuts the accounts (sorted by id) into groups. One goroutine
// locks the groups' slots, group after group in id order (so two
// SettleAlls cannot deadlock; Settle and quotes of one account take one
// slot), and hands each locked group to one of GOMAXPROCS+1 workers.
// A worker, for its group:
//
//  1. reads the group's inputs with one query per table (accounts with
//     their event spans, settlements, purchases, devices, refunds; then, for the
//     accounts due, what holds them (hold.go: an account an open import
//     holds is left out), their new events by seq and their issued bills);
//  2. computes each due account's settlement (settleAccount, the same code
//     as Settle) — workers compute different groups at once, so while
//     one waits on the store the others rate;
//  3. writes every bill and settlement of the group in one transaction.
//     Should it fail (an account settled meanwhile by another server:
//     a key already issued), each account's write is retried alone, so
//     one account's conflict does not stop the others;
//  4. unlocks the group's slots.
//
// A group whose accounts' stored events exceed settleGroupEvents is
// settled in parts, which bounds the events a worker holds in memory.

// DefaultSettleGroup is the number of accounts SettleAll settles together
// when Service.SettleGroup is 0.
const DefaultSettleGroup = 1000

// MaxSettleGroup bounds Service.SettleGroup: a group's batched queries take
// two parameters per account, and SQLite allows 32,766 per statement.
const MaxSettleGroup = 10_000

// settleGroupEvents bounds the stored events (by the accounts' event counts) of one
// group's accounts; a group holds at least one account. A variable for
// tests.
var settleGroupEvents int64 = 1_000_000

func (s *Service) settleGroups(ctx context.Context, ss livebill.SettleStore, ids []string, quar map[string]*livebill.Quarantine, tally *runTally) error {
	ids = append([]string(nil), ids...)
	sort.Strings(ids)
	size := s.SettleGroup
	if size <= 0 {
		size = DefaultSettleGroup
	}
	size = min(size, MaxSettleGroup)
	var groups [][]string
	for len(ids) > 0 {
		n := min(size, len(ids))
		groups = append(groups, ids[:n])
		ids = ids[n:]
	}
	slots := make([][]*liveSlot, len(groups))
	errs := make([]error, len(groups)+1)
	locked := make(chan int, 1)
	go func() {
		defer close(locked)
		for k, g := range groups {
			if err := ctx.Err(); err != nil {
				errs[len(groups)] = err
				return
			}
			slots[k] = make([]*liveSlot, len(g))
			for i, id := range g {
				slots[k][i] = s.slot(id)
				slots[k][i].mu.Lock()
			}
			locked <- k
		}
	}()
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) + 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range locked {
				errs[k] = s.settleRange(ctx, ss, groups[k], slots[k], quar, tally)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// settleRange settles the accounts ids, whose slots are locked, in as
// many parts as settleGroupEvents asks, unlocking each part's slots once
// it is written; accounts quarantined at their current revision (quar)
// are skipped. It returns the accounts' errors joined (judgeGroup) and
// counts the accounts in tally.
func (s *Service) settleRange(ctx context.Context, ss livebill.SettleStore, ids []string, slots []*liveSlot, quar map[string]*livebill.Quarantine, tally *runTally) error {
	var errs []error
	for len(ids) > 0 {
		g := s.loadGroup(ctx, ss, ids, slots, quar)
		s.computeGroup(ctx, g)
		s.writeGroup(ctx, ss, g)
		errs = append(errs, s.judgeGroup(ctx, g))
		g.count(s, tally)
		ids, slots = ids[len(g.ids):], slots[len(g.ids):]
	}
	return errors.Join(errs...)
}

// settleGroup is a group of accounts being settled.
type settleGroup struct {
	ids     []string    // sorted
	slots   []*liveSlot // locked until writeGroup
	errs    []error     // by account (ids): reading or computing its settlement
	werrs   []error     // by account: writing its bills
	oerrs   []error     // by account: recording what its rating found (observe)
	revs    []int64     // by account: its revision
	skipped []bool      // by account: quarantined at its revision
	quar    map[string]*livebill.Quarantine
	jobs    []*groupJob // the accounts due
	evs     map[string][]livebill.StoredEvent
	after   map[string]int64
	now     time.Time
	err     error // the group's: none of its accounts was settled
	// for the run's tally: each account's zone (nil if unknown) and
	// settlement as read
	zones []*account
	sets  map[string]*livebill.Settlement
}

// groupJob is one due account of a group.
type groupJob struct {
	k   int // in the group's ids
	sl  *liveSlot
	in  settleInput
	w   *livebill.SettleWrite
	q   *livebill.Quote // what w came from, for observe
	err error
}

// judgeGroup returns the group's errors: the group's own (the store
// failed: none of its accounts was settled), bills that could not be
// written, and the accounts newly quarantined (judge); it releases the
// quarantined accounts that settled.
func (s *Service) judgeGroup(ctx context.Context, g *settleGroup) error {
	if g.err != nil {
		if len(g.ids) == 0 {
			return g.err
		}
		return fmt.Errorf("accounts %s to %s: %w", g.ids[0], g.ids[len(g.ids)-1], g.err)
	}
	for _, j := range g.jobs {
		if j.err != nil {
			g.errs[j.k] = j.err
		}
	}
	var out []error
	for i, id := range g.ids {
		if g.oerrs[i] != nil { // the bills are written; what observe could not record is told
			out = append(out, fmt.Errorf("account %s: %w", id, g.oerrs[i]))
		}
		switch {
		case g.skipped[i]:
		case g.werrs[i] != nil:
			out = append(out, fmt.Errorf("account %s: %w", id, g.werrs[i]))
		default:
			out = append(out, s.judge(ctx, id, g.revs[i], g.quar[id], g.errs[i]))
		}
	}
	return errors.Join(out...)
}

func (g *settleGroup) unlock() {
	for _, sl := range g.slots {
		sl.mu.Unlock()
	}
}

// loadGroup reads the inputs of the accounts ids (sorted; their slots
// locked); when their events are too many it takes only a first part of
// them (at least one account).
func (s *Service) loadGroup(ctx context.Context, ss livebill.SettleStore, ids []string, slots []*liveSlot, quar map[string]*livebill.Quarantine) *settleGroup {
	g := &settleGroup{ids: ids, slots: slots, quar: quar}
	fail := func(err error) *settleGroup {
		g.err = err
		return g
	}
	recs, err := ss.FindAccounts(ctx, ids)
	if err != nil {
		return fail(err)
	}
	var events int64
	for i, id := range ids {
		if rec := recs[id]; rec != nil {
			events += rec.Events.Count
		}
		if i > 0 && events > settleGroupEvents {
			ids = ids[:i]
			g.ids, g.slots = ids, g.slots[:i]
			break
		}
	}
	sets, err := ss.FindSettlements(ctx, ids)
	if err != nil {
		return fail(err)
	}
	g.now = s.Clock.Now()
	g.errs, g.werrs, g.oerrs = make([]error, len(ids)), make([]error, len(ids)), make([]error, len(ids))
	g.revs, g.skipped = make([]int64, len(ids)), make([]bool, len(ids))
	g.zones, g.sets = make([]*account, len(ids)), sets
	g.after = map[string]int64{}
	// which accounts are due needs only their records and settlements; the
	// rest is read for those (most ticks, few or none)
	var due []string
	var dueAt []int
	for i, id := range ids {
		rec := recs[id]
		if rec == nil {
			g.errs[i] = livebill.Errorf(livebill.ENOTFOUND, "account %q not found", id)
			continue
		}
		g.revs[i] = rec.Revision
		if q := quar[id]; q != nil && q.Revision == rec.Revision {
			g.skipped[i] = true              // known not to rate; nothing changed since
			g.zones[i], _ = accountZone(rec) // for the lag
			continue
		}
		a, err := accountZone(rec)
		if err != nil {
			g.errs[i] = err
			continue
		}
		g.zones[i] = a
		if s.settleDue(a, sets[id], g.slots[i], g.now) {
			due, dueAt = append(due, id), append(dueAt, i)
		} else {
			s.written(g.slots[i], a, nil, true, g.now) // idle: let go
		}
	}
	if len(due) == 0 {
		return g
	}
	// an account an open import holds waits whole; the others settle up
	// to their first day whose ingest is not quiet (hold.go)
	holds, err := s.holds(ctx, due, g.now, false)
	if err != nil {
		return fail(err)
	}
	n := 0
	for k, id := range due {
		if holds[id].Import == "" {
			due[n], dueAt[n] = id, dueAt[k]
			n++
		}
	}
	due, dueAt = due[:n], dueAt[:n]
	if len(due) == 0 {
		return g
	}
	ps, err := ss.ListPurchasesOf(ctx, due)
	if err != nil {
		return fail(err)
	}
	ds, err := ss.ListDevicesOf(ctx, due)
	if err != nil {
		return fail(err)
	}
	rs, err := ss.ListRefundsOf(ctx, due)
	if err != nil {
		return fail(err)
	}
	lives, err := s.loadLives(ctx, due)
	if err != nil {
		return fail(err)
	}
	// accounts without a meter here resume from a checkpoint; those
	// without one either are metered from their first event, read with
	// the others' new events
	var cold []string
	for i, id := range due {
		if g.slots[dueAt[i]].lm == nil {
			cold = append(cold, id)
		}
	}
	saved, err := s.Store.HasCheckpoints(ctx, cold)
	if err != nil {
		return fail(err)
	}
	due = due[:0]
	since := map[string]string{}
	for _, i := range dueAt {
		id := ids[i]
		l := lives[id]
		if l == nil || l.state.State == livebill.AccountReclaimed {
			continue // purged: nothing to settle
		}
		a, err := build(recs[id], ps[id], ds[id], rs[id])
		if err != nil {
			g.errs[i] = err
			continue
		}
		a.live(l)
		// the new events of the accounts whose meters are here; a meter
		// made by computeGroup resumes from its checkpoint and reads its
		// own, as does an account alone in its group for its many events
		// (read and replay bound what they hold)
		alone := len(ids) == 1 && a.rec.Events.Count > settleGroupEvents
		if lm := g.slots[i].lm; lm != nil && lm.key == liveKey(a) {
			if !alone {
				g.after[id] = lm.lastSeq
			}
		} else if lm == nil && !saved[id] && a.rec.Purged == 0 && !alone {
			if g.slots[i].lm, err = newLiveMeter(a); err != nil {
				g.errs[i] = err
				continue
			}
			g.after[id] = 0
		}
		// the bills the settlement may recompute: from the day its
		// deduction state is (the meter's, or the day the last settlement
		// left open), and that month's bill; settleAccount reads more if
		// it must start earlier
		from := sets[id].Through
		if lm := g.slots[i].lm; lm != nil && lm.open != nil && lm.key == liveKey(a) {
			from = time.UnixMilli(lm.open.at).In(a.loc).Format(time.DateOnly)
		}
		if from != "" {
			since[id] = from
		}
		g.jobs = append(g.jobs, &groupJob{k: i, sl: g.slots[i], in: settleInput{a: a, st: sets[id], now: g.now, hold: holds[id].Day, issuedFrom: from}})
		due = append(due, id)
	}
	if len(due) == 0 {
		return g
	}
	if g.evs, err = ss.ListEventsAfterEach(ctx, g.after); err != nil {
		return fail(err)
	}
	bills, err := ss.ListBillsOf(ctx, due, since)
	if err != nil {
		return fail(err)
	}
	for _, j := range g.jobs {
		j.in.issued = bills[j.in.a.rec.ID]
	}
	return g
}

// computeGroup computes each due account's settlement: its meter takes
// its new events and advances, then settleAccount. The group's slots are
// held, so no one else touches these meters.
func (s *Service) computeGroup(ctx context.Context, g *settleGroup) {
	if g.err != nil {
		return
	}
	for _, j := range g.jobs {
		id := j.in.a.rec.ID
		_, batched := g.after[id]
		j.w, j.err = s.computeJob(ctx, j, g.evs[id], batched)
		j.in.issued = nil // not needed any more
	}
	g.evs = nil
}

// computeJob settles one account of the group; evs are its new events
// when the group read them (batched).
func (s *Service) computeJob(ctx context.Context, j *groupJob, evs []livebill.StoredEvent, batched bool) (*livebill.SettleWrite, error) {
	a := j.in.a
	had := j.sl.lm != nil && j.sl.lm.key == liveKey(a)
	to := s.meterTo(a, j.in.now)
	lm, err := s.meter(ctx, j.sl, a, to.UnixMilli())
	if err != nil {
		return nil, err
	}
	if had && batched {
		lm.take(evs)
	} else if err := lm.read(ctx, s.Store, a.rec.ID); err != nil {
		return nil, err
	}
	if lm, err = s.catchUp(ctx, j.sl, a, to); err != nil {
		return nil, err
	}
	w, q, err := s.settleLoop(ctx, j.sl, &j.in, lm)
	j.q = q
	return w, err
}

// writeGroup issues the group's bills and settlements in one transaction,
// or account by account if that fails, records what the accounts'
// ratings found (observe) and unlocks the group's slots.
func (s *Service) writeGroup(ctx context.Context, ss livebill.SettleStore, g *settleGroup) {
	defer g.unlock()
	defer func() {
		for _, j := range g.jobs {
			if j.err == nil && g.werrs[j.k] == nil && j.q != nil {
				g.oerrs[j.k] = s.observe(ctx, j.sl, j.in.a, j.q, j.in.now)
			}
			j.q = nil
		}
	}()
	defer func() {
		for _, j := range g.jobs {
			s.written(j.sl, j.in.a, j.w, j.err == nil && g.err == nil && g.werrs[j.k] == nil, g.now)
		}
	}()
	var writes []livebill.SettleWrite
	var owners []*groupJob
	for _, j := range g.jobs {
		if j.err == nil && j.w != nil {
			writes = append(writes, *j.w)
			owners = append(owners, j)
		}
	}
	if g.err != nil || len(writes) == 0 || ss.IssueBillsEach(ctx, writes) == nil {
		return
	}
	for k, w := range writes {
		if err := s.Store.IssueBills(ctx, w); err != nil {
			g.werrs[owners[k].k] = err
		}
	}
}

// count adds the group's accounts to the run's tally, once written and
// its errors gathered (errors).
func (g *settleGroup) count(s *Service, tally *runTally) {
	if g.err != nil {
		for range g.ids {
			tally.failedAccount()
		}
		return
	}
	written := make([]*livebill.SettleWrite, len(g.ids))
	for _, j := range g.jobs {
		if j.err == nil && g.werrs[j.k] == nil {
			written[j.k] = j.w
		}
	}
	for i, id := range g.ids {
		through := ""
		if st := g.sets[id]; st != nil {
			through = st.Through
		}
		out := accountOutcome{failed: g.errs[i] != nil || g.werrs[i] != nil, skipped: g.skipped[i]}
		if w := written[i]; w != nil {
			through, out.written, out.bills = w.Settlement.Through, true, len(w.Bills)
		}
		tally.account(s, g.zones[i], through, out)
	}
}
