package billing

import (
	"encoding/json"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/deduct"
)

// Bounded memory: a live meter is let go once a settlement has stored
// what it holds of settled days (written), and dropped whole when its
// account has no session open, no event waiting and no event of the last
// MeterIdle (by the events' own times): the next use resumes it from the
// account's checkpoint and the events after it. So the service holds meters for the accounts with
// sessions open or recent events, not for every account it ever metered.

// DefaultMeterIdle is how long a live meter with nothing open is kept
// after its last new event, when Service.MeterIdle is 0.
const DefaultMeterIdle = 15 * time.Minute

func (s *Service) meterIdle() time.Duration {
	if s.MeterIdle <= 0 {
		return DefaultMeterIdle
	}
	return s.MeterIdle
}

// written is told, with the account's slot held, that its settlement w
// was stored (ok) or not (w nil: the account was not due): the live meter
// lets go of the usage the write's rollups now hold, and of itself if it
// is idle.
func (s *Service) written(sl *liveSlot, a *account, w *livebill.SettleWrite, ok bool, now time.Time) {
	lm := sl.lm
	if lm == nil {
		return
	}
	var cp *livebill.Checkpoint // the deduction state the meter now starts from
	if ok && w != nil && w.Rollup != nil {
		if w.Rollup.To > lm.from {
			cp = w.Rollup.Checkpoint
		}
		lm.forget(w.Rollup.To, nil)
	}
	// a meter with no checkpoint to resume from is kept (its account
	// has not had a day settled with events yet)
	if ok && lm.from != noRollups && !lm.m.Open() && len(lm.pending) == 0 && now.Sub(time.UnixMilli(lm.last)) >= s.meterIdle() {
		sl.lm = nil
		s.evicted.Add(1)
		return
	}
	// decoded only for a meter kept (most are let go once settled)
	if cp != nil {
		var st deduct.State
		if json.Unmarshal(cp.Deduction, &st) == nil {
			lm.open = &opening{at: cp.At, fingerprint: cp.Fingerprint, state: &st}
		}
	}
}
