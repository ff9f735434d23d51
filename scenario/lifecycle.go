package scenario

import (
	"fmt"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/lifecycle"
	"github.com/livebill/livebill/meter"
	"github.com/livebill/livebill/money"
	"github.com/livebill/livebill/rating"
)

// Lifecycle is what a quote needs to apply the account lifecycle (SPEC §4
// "Arrears"; the scenario's account.balance, topups and app_actions).
type Lifecycle struct {
	Account string
	// Arrears: the arrears rule applies (the scenario gave a balance or
	// top-ups); without it only the app actions do.
	Arrears bool
	Opening money.Decimal // the balance at the period's start
	Terms   livebill.Terms
	TopUps  []lifecycle.TopUp
	Actions []lifecycle.AppAction
}

// maxRounds bounds ComputeLifecycle's rounds: each settles at least the
// next suspension, and a quote has a few.
const maxRounds = 50

// ComputeLifecycle is Compute with the account lifecycle (lc nil: none).
// The bills decide the balance, the balance when service stops, and a
// stop changes the bills after it; so the period is rated, its bills run
// through the arrears rule (lifecycle.Simulate), and if that blocks
// anything the rating did not, the period is rated again with those
// blocks. A round changes nothing before the first new block, so the
// rounds end: each settles the next one. The quote carries the lifecycle
// in Account (arrears rule only).
func ComputeLifecycle(in rating.Input, feed func(*meter.Meter) error, lc *Lifecycle) (*livebill.Quote, []error, error) {
	if lc == nil {
		return Compute(in, feed)
	}
	loc := in.Location
	if loc == nil {
		loc = in.Catalog.Location()
	}
	p := &lifecycle.Period{Account: lc.Account, Opening: lc.Opening, Start: in.From, End: in.To, Location: loc, Terms: lc.Terms,
		TopUps: lc.TopUps, Actions: lc.Actions}
	in.Blocks = nil
	for round := 0; ; round++ {
		q, rejected, err := Compute(in, feed)
		if err != nil {
			return nil, nil, err
		}
		if lc.Arrears {
			p.Bills = q.Bills
		}
		sim, err := lifecycle.Simulate(p)
		if err != nil {
			return nil, nil, err
		}
		if round == 0 && len(sim.Blocks) == 0 || round > 0 && lifecycle.SameBlocks(sim.Blocks, in.Blocks) {
			if lc.Arrears {
				q.Account = &livebill.QuoteAccount{OpeningBalance: lifecycle.Format(lc.Opening), ClosingBalance: sim.State.Balance,
					State: sim.State.State, Ledger: sim.Ledger, Transitions: sim.Transitions}
			}
			return q, rejected, nil
		}
		if round == maxRounds {
			return nil, nil, fmt.Errorf("cannot settle the account lifecycle: the stops still change after %d rounds", maxRounds)
		}
		in.Blocks = sim.Blocks
	}
}

// Dissolutions are the meter's dissolutions of blocks, sorted as a meter
// keeps them: each block dissolves its rooms where it starts.
func Dissolutions(bs []livebill.Block) []meter.Dissolution {
	if len(bs) == 0 {
		return nil
	}
	out := make([]meter.Dissolution, len(bs))
	for i, b := range bs {
		out[i] = meter.Dissolution{App: b.App, At: b.From.UnixMilli()}
	}
	meter.SortDissolutions(out)
	return out
}
