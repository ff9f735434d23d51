package billing

import (
	"sync"
	"time"

	"github.com/livebill/livebill"
)

// What the service tells its Monitor (livebill.BillingMonitor): each
// ingested batch, and each settlement run with how far settlement is
// behind and what the live meters hold.

// monitorIngest reports a batch ingested since start.
func (s *Service) monitorIngest(res *livebill.IngestResult, start time.Time) {
	if s.Monitor != nil {
		s.Monitor.Ingested(res, s.Clock.Now().Sub(start))
	}
}

// runTally sums up a settlement run as its groups finish (concurrently).
type runTally struct {
	mu  sync.Mutex
	run livebill.SettleRun
}

// accountOutcome is how a run left one account.
type accountOutcome struct {
	failed  bool // settling it failed
	skipped bool // quarantined: not tried (it counts as behind, not as failed again)
	written bool // its settlement was written, with bills issued
	bills   int
}

// account counts one account as the run leaves it: settled through the
// day through (its first day not settled, "" none); a (its zone) may be
// nil when it is not known.
func (t *runTally) account(s *Service, a *account, through string, out accountOutcome) {
	owed, ok := s.owedSince(a, through, out.failed || out.skipped)
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case out.failed:
		t.run.Failed++
	case out.written:
		t.run.Settled++
		t.run.Bills += out.bills
	}
	if ok && (t.run.OwedSince.IsZero() || owed.Before(t.run.OwedSince)) {
		t.run.OwedSince = owed
	}
}

// failedAccount counts an account that failed before its zone was known.
func (t *runTally) failedAccount() {
	t.mu.Lock()
	t.run.Failed++
	t.mu.Unlock()
}

// owedSince is when the account's first day not settled became (or
// becomes) due: the end of that day in its zone plus the settle delay.
// An account never settled owes nothing unless it is behind (settling it
// failed, or it is quarantined): then its first day is that of its
// creation or first event. false: it owes nothing.
func (s *Service) owedSince(a *account, through string, behind bool) (time.Time, bool) {
	if a == nil {
		return time.Time{}, false
	}
	var day time.Time
	if through != "" {
		d, err := time.ParseInLocation(time.DateOnly, through, a.loc)
		if err != nil {
			return time.Time{}, false
		}
		day = d
	} else {
		if !behind {
			return time.Time{}, false
		}
		first := a.rec.Created
		if ev := a.rec.Events; ev.Ever() {
			if t := time.UnixMilli(ev.First); first.IsZero() || t.Before(first) {
				first = t
			}
		}
		if first.IsZero() {
			return time.Time{}, false
		}
		y, m, d := first.In(a.loc).Date()
		day = time.Date(y, m, d, 0, 0, 0, 0, a.loc)
	}
	return day.AddDate(0, 0, 1).Add(s.SettleDelay), true
}

// report counts what the live meters hold and tells the monitor of the
// run started at start.
func (s *Service) report(t *runTally, start time.Time) {
	if s.Monitor == nil {
		return
	}
	t.mu.Lock()
	run := t.run
	t.mu.Unlock()
	live := s.Live()
	run.OpenSessions, run.LiveMeters = live.Sessions, live.Accounts
	run.Took = s.Clock.Now().Sub(start)
	s.Monitor.Settled(&run)
}
