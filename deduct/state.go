package deduct

import (
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/livebill/livebill/money"
)

// A deduction can start from a state instead of from the account's first
// window: the balance and first use of each pack and the apps stopped at
// a window boundary. A run over all the usage, and a run from its state
// at a boundary over the usage from there, give the same deductions, stops
// and balances for the windows from that boundary on, provided the grants
// and the paid plans before it are the same (the caller checks that:
// rating.Fingerprint). The service keeps the state at each settled day's
// end and rates from there, not from the account's first month.

// State is a deduction's state at instant At, a midnight of the billing
// zone (a day's minutes are ceiled from its first window).
type State struct {
	At    int64         `json:"at"`
	Packs []PackBalance `json:"packs,omitempty"`
	Stops []StopState   `json:"stops,omitempty"`
}

// PackBalance is a pack's balance in a State.
type PackBalance struct {
	ID       string `json:"id"`
	Used     string `json:"used"` // pack minutes used, exact decimal
	FirstUse int64  `json:"first_use"`
}

// StopState is a service stop in a State: its window and what it blocked
// so far (when it resumes is worked out again from the grants
// and plans of the run that starts from the state).
type StopState struct {
	App          string           `json:"app"`
	At           int64            `json:"at"`
	Blocked      map[string]int64 `json:"blocked,omitempty"`
	FirstBlocked int64            `json:"first_blocked,omitempty"`
}

// capture is the run's state at instant at, once every window before it
// is deducted.
func capture(at int64, res *Result, offer []*Pack, spans []packSpan) State {
	st := State{At: at}
	for _, p := range res.Packs {
		used := p.Used
		if i := slices.Index(offer, p); i >= 0 && spans[i].fixed && spans[i].used != 0 {
			used = used.Add(money.Int(spans[i].used).Shift(-fixedPlaces))
		}
		if used.IsZero() && p.FirstUse < 0 {
			continue
		}
		st.Packs = append(st.Packs, PackBalance{ID: p.ID, Used: used.String(), FirstUse: p.FirstUse})
	}
	// every stop, not only each app's last (the one that may still block):
	// a run from the state then reports the same stops as the whole run,
	// for the notices of the days before the state (a stop needs a pack or
	// plan to resume, so an app has a few)
	for _, ss := range res.stops {
		for _, s := range ss {
			st.Stops = append(st.Stops, StopState{App: s.App, At: s.At, Blocked: maps.Clone(s.Blocked), FirstBlocked: s.FirstBlocked})
		}
	}
	// in the order the whole run made them: by window, then app
	sort.Slice(st.Stops, func(i, j int) bool {
		x, y := st.Stops[i], st.Stops[j]
		if x.At != y.At {
			return x.At < y.At
		}
		return x.App < y.App
	})
	return st
}

// opening sets the packs' balances from the opening state. A pack of the
// state the grants do not have is an error: the state is of other grants.
func opening(o *State, offer []*Pack, spans []packSpan) error {
	if o == nil {
		return nil
	}
	for _, pb := range o.Packs {
		i := slices.IndexFunc(offer, func(p *Pack) bool { return p.ID == pb.ID })
		if i < 0 {
			return fmt.Errorf("cannot deduct from the state at %d: it has pack %s, which is not granted", o.At, pb.ID)
		}
		used, err := money.Parse(pb.Used)
		if err != nil || used.IsNegative() {
			return fmt.Errorf("cannot deduct from the state at %d: pack %s used %q", o.At, pb.ID, pb.Used)
		}
		p, sp := offer[i], &spans[i]
		p.FirstUse = pb.FirstUse
		if f := used.Shift(fixedPlaces); sp.fixed && f.IsInteger() && f.LessThanOrEqual(money.Int(sp.granted)) {
			sp.used = f.IntPart()
		} else {
			sp.flush(p)
			sp.fixed = false
			p.Used = used
		}
	}
	return nil
}

// resumeOf is when an app stopped at instant at runs again: a paid plan
// bought from then on (Options.Resume), or the next pack covering the app
// (next month's free pack), from when it is bought (a plan bought at
// 09:30 is valid from 00:00 but runs the app from 09:30); 0 if neither.
func resumeOf(opt Options, offer []*Pack, app string, at int64) int64 {
	var resume int64
	if opt.Resume != nil {
		if r := opt.Resume(app, at); r > 0 {
			resume = max(r, at)
		}
	}
	for _, p := range offer {
		st := max(p.Start.UnixMilli(), p.bought().UnixMilli())
		if st >= at && p.Minutes > 0 && (p.App == "" || p.App == app) && (resume == 0 || st < resume) {
			resume = st
		}
	}
	return resume
}
