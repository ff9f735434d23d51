package billing

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/lifecycle"
	"github.com/livebill/livebill/money"
)

// The account lifecycle in the service (SPEC §4 "Arrears", "Service
// stop"). The store keeps the balance, the states and their history, and
// moves them in the transactions of the charges and credits (the
// lifecycle package's Machine). The service:
//
//   - rates an account with the spans its recorded history blocks
//     (suspensions, disabled apps): their rooms dissolved, their usage
//     not billed;
//   - settles with what the bills it issues will do: if charging them
//     suspends the account before the days they close, the days after the
//     suspension are rated again with it (settleLoop), as `livebill quote`
//     does (scenario.ComputeLifecycle);
//   - makes the transitions time brings (AdvanceLifecycles: the end of a
//     grace, a reclaim), on the settlement ticker, at their exact instants;
//   - records the trial stops and restarts the deduction finds, and pack
//     usage alerts (observe);
//   - tells the state of an app (AppStatus: livebill.StatusReader) and
//     lets an operator disable and enable one.

var _ livebill.StatusReader = (*Service)(nil)

// accountLife is an account's lifecycle as stored.
type accountLife struct {
	state *livebill.AccountState
	trs   []livebill.Transition
	apps  []*livebill.AppState
}

// loadLife reads an account's lifecycle.
func (s *Service) loadLife(ctx context.Context, id string) (*accountLife, error) {
	st, err := s.Store.FindAccountState(ctx, id)
	if err != nil {
		return nil, err
	}
	trs, err := s.Store.ListTransitions(ctx, id)
	if err != nil {
		return nil, err
	}
	apps, err := s.Store.ListAppStates(ctx, id)
	if err != nil {
		return nil, err
	}
	return &accountLife{state: st, trs: trs, apps: apps}, nil
}

// loadLives reads the lifecycles of accounts ids (those that exist), a
// few queries for them all.
func (s *Service) loadLives(ctx context.Context, ids []string) (map[string]*accountLife, error) {
	sts, err := s.Store.FindAccountStates(ctx, ids)
	if err != nil {
		return nil, err
	}
	trs, err := s.Store.ListTransitionsOf(ctx, ids)
	if err != nil {
		return nil, err
	}
	apps, err := s.Store.ListAppStatesOf(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*accountLife, len(sts))
	for id, st := range sts {
		out[id] = &accountLife{state: st, trs: trs[id], apps: apps[id]}
	}
	return out, nil
}

// gone is the error of a reclaimed account.
func gone(st *livebill.AccountState) error {
	return livebill.Errorf(livebill.EGONE, "account %q was reclaimed on %s (suspended %s); its data is purged, its bills and ledger kept",
		st.AccountID, st.Since.Format(time.RFC3339), st.Since.Add(-st.Terms.ReclaimAfter).Format(time.DateOnly))
}

// live sets the account's lifecycle: what its history blocks is what its
// rating and its meter leave out.
func (a *account) live(l *accountLife) {
	a.life = l
	a.in.Blocks = lifecycle.Blocks(l.trs)
}

// ---- settlement

// maxSettleRounds bounds settleLoop's rounds (each settles the next
// suspension the bills cause; a settlement has one or two).
const maxSettleRounds = 20

// settleLoop settles an account (settleAccount) with the blocks its
// history records, then foresees what charging the bills will do: if it
// suspends the account before the end of the days settled (a settlement
// catching up on several days), those days' usage after the suspension
// is blocked, and the account is settled again with it. sl is the
// account's slot, held; lm its meter advanced for the settlement, or nil
// to advance it here. It returns the write and the quote it came from.
func (s *Service) settleLoop(ctx context.Context, sl *liveSlot, in *settleInput, lm *liveMeter) (*livebill.SettleWrite, *livebill.Quote, error) {
	a := in.a
	recorded := a.in.Blocks
	defer func() { a.in.Blocks = recorded }()
	for round := 0; ; round++ {
		if lm == nil || round > 0 {
			var err error
			if lm, err = s.live(ctx, sl, a, s.meterTo(a, in.now)); err != nil {
				return nil, nil, err
			}
		}
		in.lm = lm
		w, q, err := s.settleAccount(ctx, in)
		if err != nil || w == nil || a.life == nil {
			return w, q, err
		}
		w.Terms = a.cat.Terms()
		m, err := lifecycle.New(*a.life.state)
		if err != nil {
			return nil, nil, err
		}
		m.SetTerms(w.Terms)
		_, foreseen, err := m.Charge(w.Bills)
		if err != nil {
			return nil, nil, err
		}
		blocks := lifecycle.Blocks(append(slices.Clone(a.life.trs), foreseen...))
		if lifecycle.SameBlocks(blocks, a.in.Blocks) || round == maxSettleRounds {
			return w, q, nil
		}
		a.in.Blocks = blocks
	}
}

// ---- what time brings

// AdvanceLifecycles makes the transitions time brought by now: accounts in
// arrears past their grace are suspended (at the grace's end), accounts
// suspended past their reclaim date are reclaimed (purged); with Owns
// set, only the accounts it owns. It goes on past an account's error and
// returns them joined.
func (s *Service) AdvanceLifecycles(ctx context.Context) error {
	now := s.Clock.Now()
	var errs []error
	done := map[string]int{}
	for {
		due, err := s.Store.DueAccounts(ctx, now)
		if err != nil {
			return err
		}
		progress := false
		for _, st := range due {
			if done[st.AccountID] > 2 || (s.Owns != nil && !s.Owns(st.AccountID)) { // failed before: once per tick is enough; another worker's
				continue
			}
			done[st.AccountID]++
			progress = true
			sl := s.slot(st.AccountID) // no settlement of the account meanwhile
			sl.mu.Lock()
			err := s.advance(ctx, sl, st, now)
			sl.mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("account %s: %w", st.AccountID, err))
			}
		}
		if !progress || len(due) < 1000 {
			return errors.Join(errs...)
		}
	}
}

// advance makes one account's due transitions; the caller holds its slot.
func (s *Service) advance(ctx context.Context, sl *liveSlot, st *livebill.AccountState, now time.Time) error {
	switch st.State {
	case livebill.AccountArrears:
		_, err := s.Store.AdvanceAccount(ctx, st.AccountID, now)
		return err
	case livebill.AccountSuspended:
		if _, err := s.Store.ReclaimAccount(ctx, st.AccountID, now); err != nil {
			return err
		}
		sl.lm = nil // its meter, of purged events
	}
	return nil
}

// ---- what the deduction finds

// Pack usage thresholds notified (percent of a pack's minutes used; the
// seed's usage alerts).
var packThresholds = []int{80, 100}

// observe records what an account's rating (to the watermark) shows of
// its apps and packs: a trial app stopped at the end of the window its
// packs fell short in, or running again since a paid plan or a new pack;
// a pack crossing 80 % and 100 % used. Called with the account's slot held.
func (s *Service) observe(ctx context.Context, sl *liveSlot, a *account, q *livebill.Quote, now time.Time) error {
	if q == nil || a.life == nil {
		return nil
	}
	sl.observed = now
	var errs []error
	stopped := map[string]bool{}
	for _, ap := range a.life.apps {
		if !ap.Stopped.IsZero() {
			stopped[ap.AppID] = true
		}
	}
	current := map[string]time.Time{} // app → the stop in effect now
	resumed := map[string]time.Time{} // app → its last restart before now
	var order []string
	for _, st := range q.Stops {
		if st.At.After(now) {
			continue
		}
		if _, ok := current[st.App]; !ok {
			order = append(order, st.App)
		}
		if st.Resume.IsZero() || st.Resume.After(now) {
			current[st.App] = st.At
		} else {
			delete(current, st.App)
			resumed[st.App] = st.Resume
		}
	}
	for _, app := range order {
		if at, ok := current[app]; ok && !stopped[app] {
			_, err := s.Store.SetAppState(ctx, app, []livebill.AppChange{{Action: livebill.AppStop, At: at, Cause: "trial packs exhausted"}})
			errs = append(errs, err)
		}
	}
	for _, ap := range a.life.apps {
		if _, ok := current[ap.AppID]; ok || ap.Stopped.IsZero() {
			continue
		}
		at, ok := resumed[ap.AppID]
		if !ok {
			at = now
		}
		_, err := s.Store.SetAppState(ctx, ap.AppID, []livebill.AppChange{{Action: livebill.AppStart, At: at, Cause: "a paid plan or a new pack"}})
		errs = append(errs, err)
	}
	today := now.In(a.loc).Format(time.DateOnly)
	for _, p := range q.Packs {
		if p.End <= today || p.Used == "0" {
			continue // expired (its alerts are past), or unused
		}
		granted, err1 := money.Parse(p.Granted)
		used, err2 := money.Parse(p.Used)
		if err1 != nil || err2 != nil || !granted.IsPositive() {
			continue
		}
		for _, t := range packThresholds {
			key := fmt.Sprintf("%s@%d", p.ID, t)
			if sl.alerted[key] || used.Mul(money.Int(100)).LessThan(granted.Mul(money.Int(int64(t)))) {
				continue
			}
			if _, err := s.Store.RecordPackAlert(ctx, a.rec.ID, livebill.PackAlert{Pack: p.ID, Kind: p.Kind, App: p.App, Threshold: t,
				Granted: p.Granted, Used: p.Used, End: p.End}); err != nil {
				errs = append(errs, err)
				continue
			}
			if sl.alerted == nil {
				sl.alerted = map[string]bool{}
			}
			sl.alerted[key] = true
		}
	}
	return errors.Join(errs...)
}

// ---- status

// AppStatus tells whether an app may serve now, and why not
// (livebill.StatusReader): its account suspended or reclaimed, the app
// disabled by an operator or its trial stopped; an account in arrears
// still serves.
func (s *Service) AppStatus(ctx context.Context, appID string) (*livebill.ServiceStatus, error) {
	ap, err := s.Store.FindAppState(ctx, appID)
	if err != nil {
		return nil, err
	}
	st, err := s.Store.FindAccountState(ctx, ap.AccountID)
	if err != nil {
		return nil, err
	}
	return statusOf(st, ap), nil
}

// statusOf is the service status of an app (ap nil: of the account).
func statusOf(st *livebill.AccountState, ap *livebill.AppState) *livebill.ServiceStatus {
	out := &livebill.ServiceStatus{Account: st.AccountID, AccountState: st.State, Since: st.Since}
	switch st.State {
	case livebill.AccountArrears:
		out.Reason, out.GraceUntil = livebill.ReasonAccountArrears, st.GraceUntil
	case livebill.AccountSuspended:
		out.Reason = livebill.ReasonAccountSuspended
	case livebill.AccountReclaimed:
		out.Reason = livebill.ReasonAccountReclaimed
	}
	if ap == nil {
		return out
	}
	out.App = ap.AppID
	state, reason, since := ap.State()
	out.AppState = state
	switch st.State {
	case livebill.AccountSuspended, livebill.AccountReclaimed:
		out.AppState = livebill.AppStopped // every app stops with its account
	default:
		if reason != "" {
			out.Reason, out.Since = reason, since
		}
	}
	return out
}

// AccountStatus returns an account's state and the status of each of its
// apps (those never stopped or disabled are active).
func (s *Service) AccountStatus(ctx context.Context, accountID string) (*livebill.AccountState, map[string]*livebill.ServiceStatus, error) {
	st, err := s.Store.FindAccountState(ctx, accountID)
	if err != nil {
		return nil, nil, err
	}
	aps, err := s.Store.ListAppStates(ctx, accountID)
	if err != nil {
		return nil, nil, err
	}
	out := map[string]*livebill.ServiceStatus{}
	for _, ap := range aps {
		out[ap.AppID] = statusOf(st, ap)
	}
	return st, out, nil
}

// AppStatusOf is the status of one of the account's apps given what
// AccountStatus returned.
func AppStatusOf(st *livebill.AccountState, apps map[string]*livebill.ServiceStatus, appID string) *livebill.ServiceStatus {
	if s := apps[appID]; s != nil {
		return s
	}
	return statusOf(st, &livebill.AppState{AppID: appID, AccountID: st.AccountID})
}

// SetAppEnabled disables or enables one of the account's apps by hand
// (SPEC §4; seed 003 非欠费停服说明): at once, on the service clock. A
// disabled app's rooms are dissolved and its usage is not billed until it
// is enabled again.
func (s *Service) SetAppEnabled(ctx context.Context, accountID, appID string, enabled bool) (*livebill.ServiceStatus, error) {
	app, err := s.Store.FindApp(ctx, appID)
	if err != nil || app.AccountID != accountID {
		return nil, livebill.Errorf(livebill.ENOTFOUND, "app %q of account %q not found", appID, accountID)
	}
	st, err := s.Store.FindAccountState(ctx, accountID)
	if err != nil {
		return nil, err
	}
	if st.State == livebill.AccountReclaimed {
		return nil, gone(st)
	}
	action := livebill.AppDisable
	if enabled {
		action = livebill.AppEnable
	}
	if _, err := s.Store.SetAppState(ctx, appID, []livebill.AppChange{{Action: action, At: s.Clock.Now(), Cause: "operator"}}); err != nil {
		return nil, err
	}
	return s.AppStatus(ctx, appID)
}
