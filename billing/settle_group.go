package billing

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livebill/livebill"
)

// Grouped settlement (issue #7: a day of 100,000 accounts in seconds).
// SettleAll takes the accounts in groups and, for each group:
//
//  1. locks the group's slots (in id order, so two SettleAlls cannot
//     deadlock; Settle and quotes of one account take one slot), so no
//     one else settles or meters these accounts meanwhile;
//  2. reads the group's inputs with one query per table (accounts, event
//     spans, settlements, purchases, devices, refunds; then, for the
//     accounts due, their new events by seq and their issued bills);
//  3. computes each due account's settlement (settleAccount, the same code
//     as Settle) on GOMAXPROCS goroutines, each account on one;
//  4. writes every bill and settlement of the group in one transaction.
//     Should it fail (an account settled meanwhile by another server:
//     a key already issued), each account's write is retried alone, so
//     one account's conflict does not stop the others.
//
// A group is cut short when its accounts' stored events exceed
// settleGroupEvents, which bounds the events one group holds in memory.

// DefaultSettleGroup is the number of accounts SettleAll settles together
// when Service.SettleGroup is 0.
const DefaultSettleGroup = 1000

// settleGroupEvents bounds the stored events (by EventSpan count) of one
// group's accounts; a group holds at least one account.
const settleGroupEvents = 1_000_000

func (s *Service) settleGroups(ctx context.Context, ss livebill.SettleStore, ids []string) error {
	ids = append([]string(nil), ids...)
	sort.Strings(ids)
	size := s.SettleGroup
	if size <= 0 {
		size = DefaultSettleGroup
	}
	var errs []error
	for len(ids) > 0 {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		n, err := s.settleGroup(ctx, ss, ids[:min(size, len(ids))])
		errs = append(errs, err)
		ids = ids[n:]
	}
	return errors.Join(errs...)
}

// groupJob is one due account of a group.
type groupJob struct {
	sl  *liveSlot
	in  settleInput
	w   *livebill.SettleWrite
	err error
}

// settleGroup settles the accounts g (sorted ids) or, when their events
// are too many, a first part of them; it returns how many it took and
// their errors joined, each prefixed with its account.
func (s *Service) settleGroup(ctx context.Context, ss livebill.SettleStore, g []string) (int, error) {
	slots := make([]*liveSlot, len(g))
	for i, id := range g {
		slots[i] = s.slot(id)
		slots[i].mu.Lock()
	}
	locked := slots
	defer func() {
		for _, sl := range locked {
			sl.mu.Unlock()
		}
	}()
	groupErr := func(err error) (int, error) {
		return len(g), fmt.Errorf("accounts %s to %s: %w", g[0], g[len(g)-1], err)
	}
	recs, err := ss.FindAccounts(ctx, g)
	if err != nil {
		return groupErr(err)
	}
	spans, err := ss.EventSpans(ctx, g)
	if err != nil {
		return groupErr(err)
	}
	var events int64
	for i, id := range g {
		events += spans[id].Count
		if i > 0 && events > settleGroupEvents {
			for _, sl := range slots[i:] {
				sl.mu.Unlock()
			}
			g, slots, locked = g[:i], slots[:i], slots[:i]
			break
		}
	}
	sets, err := ss.FindSettlements(ctx, g)
	if err != nil {
		return groupErr(err)
	}
	ps, err := ss.ListPurchasesOf(ctx, g)
	if err != nil {
		return groupErr(err)
	}
	ds, err := ss.ListDevicesOf(ctx, g)
	if err != nil {
		return groupErr(err)
	}
	rs, err := ss.ListRefundsOf(ctx, g)
	if err != nil {
		return groupErr(err)
	}
	now := s.Clock.Now()
	errs := make([]error, len(g))
	var jobs []*groupJob
	after := map[string]int64{}
	for i, id := range g {
		rec := recs[id]
		if rec == nil {
			errs[i] = livebill.Errorf(livebill.ENOTFOUND, "account %q not found", id)
			continue
		}
		a, err := build(rec, ps[id], ds[id], rs[id])
		if err != nil {
			errs[i] = err
			continue
		}
		if !s.settleDue(a, sets[id], now) {
			continue
		}
		lm, err := slots[i].meter(a)
		if err != nil {
			errs[i] = err
			continue
		}
		jobs = append(jobs, &groupJob{sl: slots[i], in: settleInput{a: a, st: sets[id], span: spans[id], now: now}})
		after[id] = lm.lastSeq
	}
	if len(jobs) > 0 {
		if err := s.loadJobs(ctx, ss, jobs, after); err != nil {
			return groupErr(err)
		}
		s.computeJobs(ctx, jobs, now)
		s.writeJobs(ctx, ss, jobs)
	}
	byID := make(map[string]int, len(g))
	for i, id := range g {
		byID[id] = i
	}
	for _, j := range jobs {
		errs[byID[j.in.a.rec.ID]] = j.err
	}
	var out []error
	for i, err := range errs {
		if err != nil {
			out = append(out, fmt.Errorf("account %s: %w", g[i], err))
		}
	}
	return len(g), errors.Join(out...)
}

// loadJobs reads the due accounts' new events into their live meters and
// their issued bills.
func (s *Service) loadJobs(ctx context.Context, ss livebill.SettleStore, jobs []*groupJob, after map[string]int64) error {
	evs, err := ss.ListEventsAfterEach(ctx, after)
	if err != nil {
		return err
	}
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.in.a.rec.ID
		j.sl.lm.take(evs[ids[i]])
		delete(evs, ids[i]) // freed as the meters take them
	}
	bills, err := ss.ListBillsOf(ctx, ids)
	if err != nil {
		return err
	}
	for i, j := range jobs {
		j.in.issued = bills[ids[i]]
	}
	return nil
}

// computeJobs advances each due account's meter and computes its
// settlement, on GOMAXPROCS goroutines (each account on one: its slot is
// held by this group, its meter touched by no one else).
func (s *Service) computeJobs(ctx context.Context, jobs []*groupJob, now time.Time) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1)) - 1
				if k >= len(jobs) {
					return
				}
				j := jobs[k]
				lm, err := s.catchUp(ctx, j.sl, j.in.a, s.meterTo(j.in.a, now))
				if err != nil {
					j.err = err
					continue
				}
				j.in.lm = lm
				j.w, j.err = s.settleAccount(&j.in)
				j.in.issued = nil // not needed any more
			}
		}()
	}
	wg.Wait()
}

// writeJobs issues the group's bills and settlements in one transaction,
// or account by account if that fails.
func (s *Service) writeJobs(ctx context.Context, ss livebill.SettleStore, jobs []*groupJob) {
	var writes []livebill.SettleWrite
	var owners []*groupJob
	for _, j := range jobs {
		if j.err == nil && j.w != nil {
			writes = append(writes, *j.w)
			owners = append(owners, j)
		}
	}
	if len(writes) == 0 || ss.IssueBillsEach(ctx, writes) == nil {
		return
	}
	for k, w := range writes {
		if err := s.Store.IssueBills(ctx, w.Settlement, w.Bills); err != nil {
			owners[k].err = err
		}
	}
}
