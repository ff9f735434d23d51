package billing

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
	"github.com/livebill/livebill/rating"
)

// What an account holds — its catalog, purchases, refunds — is checked
// before it is stored, so that no input the API accepts leaves an account
// that cannot be rated: each write is judged against the account as
// stored, then the account with the write added is rated once without
// usage (trialRate), which runs every rule of the catalog and the plans
// that can refuse (an unknown plan or device, two editions of one
// product for one app, a refund of a plan not running then, …).
//
// Writes of one account are judged one at a time under the account's
// slot, so two purchases made at once cannot each pass alone and break
// the rules together. Several servers sharing one database do not share
// slots: there, such a pair can still be stored, and the settlement
// quarantines the account (quarantine.go) until an operator cancels one.

// CreateAccount checks a new account — its input, its catalog, and that
// it rates — and stores it.
func (s *Service) CreateAccount(ctx context.Context, in *livebill.CreateAccountInput) (*livebill.AccountRecord, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if err := CheckAccountCatalog(in); err != nil {
		return nil, err
	}
	rec := &livebill.AccountRecord{Catalog: in.Catalog, CatalogYAML: in.CatalogYAML, Mode: in.Mode,
		Account: livebill.Account{ID: in.ID, Timezone: in.Timezone}}
	rec.Created, _ = time.Parse(time.DateOnly, in.Created)
	if in.Activated != "" {
		rec.Activated, _ = time.Parse(time.DateOnly, in.Activated)
	}
	a, err := build(rec, nil, nil, nil)
	if err != nil {
		return nil, err
	}
	if err := a.trialRate(s.Clock.Now(), nil); err != nil {
		field := "catalog"
		if in.CatalogYAML != "" {
			field = "catalog_yaml"
		}
		return nil, livebill.Errorf(livebill.EINVALID, "%s: the account would not rate: %v", field, err)
	}
	terms := a.cat.Terms()
	in.Terms = &terms
	return s.Store.CreateAccount(ctx, in)
}

// CreatePurchase checks a purchase against its account and stores it: the
// plan must be one of the account's catalog; the app, when given, one of
// the account's apps, and a per-app plan (rating.PerApp: the TRTC plans)
// needs one; the device, when given, one of the account's devices, and a
// device-bound plan (an industrial licence) needs one; and the account
// with the purchase must still rate (the plan rules of SPEC §4).
func (s *Service) CreatePurchase(ctx context.Context, in *livebill.CreatePurchaseInput) (*livebill.StoredPurchase, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	unlock, err := s.lockAccount(ctx, in.AccountID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	a, err := s.load(ctx, in.AccountID)
	if err != nil {
		return nil, err
	}
	plan, ok := a.cat.Plan(in.Plan)
	if !ok {
		ids := make([]string, len(a.cat.Plans))
		for i, p := range a.cat.Plans {
			ids[i] = p.ID
		}
		sort.Strings(ids)
		return nil, livebill.Errorf(livebill.EINVALID, "plan: catalog %s has no plan %s (plans: %s)", a.cat.Name, livebill.Shown(in.Plan), listOrNone(ids))
	}
	if in.App == "" && rating.PerApp(a.cat, plan) {
		return nil, livebill.Errorf(livebill.EINVALID, "app: missing: plan %s is bought for one app", plan.ID)
	}
	if in.App != "" {
		app, err := s.Store.FindApp(ctx, in.App)
		if err != nil && livebill.ErrorCode(err) != livebill.ENOTFOUND {
			return nil, err
		}
		if app == nil || app.AccountID != in.AccountID {
			return nil, livebill.Errorf(livebill.EINVALID, "app: %s is not an app of account %s", livebill.Shown(in.App), livebill.Shown(in.AccountID))
		}
	}
	if in.Device == "" && rating.DeviceBound(a.cat, plan) {
		return nil, livebill.Errorf(livebill.EINVALID, "device: missing: plan %s is bound to a field device", plan.ID)
	}
	if in.Device != "" && !hasDevice(a.in.Devices, in.Device) {
		return nil, livebill.Errorf(livebill.EINVALID, "device: %s is not a device of account %s", livebill.Shown(in.Device), livebill.Shown(in.AccountID))
	}
	start, err := livebill.ParseInstant(in.Start, a.loc)
	if err != nil {
		return nil, livebill.Errorf(livebill.EINVALID, "start: %v", err)
	}
	p := livebill.Purchase{ID: in.ID, App: in.App, Plan: in.Plan, Count: in.Count, Region: in.Region, Device: in.Device,
		Start: start, AutoRenew: in.AutoRenew}
	for _, q := range a.in.Purchases {
		if q.ID == in.ID {
			return nil, livebill.Errorf(livebill.ECONFLICT, "purchase %q already exists", in.ID)
		}
	}
	if err := a.trialRate(s.Clock.Now(), func(in *rating.Input) { in.Purchases = append(in.Purchases, p) }); err != nil {
		return nil, err
	}
	return s.Store.CreatePurchase(ctx, in)
}

// CreateRefund checks a refund request against its account — the
// purchase exists and is not cancelled, and the account with the refund
// still rates (a refund outside the plan's period, or of more units than
// held, is refused now, not at every later quote) — and stores it.
func (s *Service) CreateRefund(ctx context.Context, in *livebill.CreateRefundInput) (*livebill.StoredRefund, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	unlock, err := s.lockAccount(ctx, in.AccountID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	ps, err := s.Store.ListPurchases(ctx, in.AccountID)
	if err != nil {
		return nil, err
	}
	var bought *livebill.StoredPurchase
	for _, p := range ps {
		if p.ID == in.Purchase {
			bought = p
		}
	}
	switch {
	case bought == nil:
		return nil, livebill.Errorf(livebill.ENOTFOUND, "purchase: %s of account %s not found", livebill.Shown(in.Purchase), livebill.Shown(in.AccountID))
	case bought.Cancelled != "":
		return nil, livebill.Errorf(livebill.ECONFLICT, "purchase: %q was cancelled on %s; there is nothing to refund", in.Purchase, bought.Cancelled)
	}
	a, err := s.load(ctx, in.AccountID)
	if err != nil {
		return nil, err
	}
	at, err := livebill.ParseInstant(in.Time, a.loc)
	if err != nil {
		return nil, livebill.Errorf(livebill.EINVALID, "time: %v", err)
	}
	rf := livebill.RefundRequest{Plan: in.Purchase, Count: in.Count, Time: at}
	if err := a.trialRate(s.Clock.Now(), func(in *rating.Input) { in.Refunds = append(in.Refunds, rf) }); err != nil {
		return nil, err
	}
	return s.Store.CreateRefund(ctx, in)
}

// CancelPurchase cancels a purchase made in error (an operator's act): it
// stays listed with the time it was cancelled, and is rated no more, nor
// are its refunds. The account's revision is bumped, so the next
// settlement adjusts the bills issued with it, and an account quarantined
// because of it is tried again.
func (s *Service) CancelPurchase(ctx context.Context, accountID, id string) (*livebill.StoredPurchase, error) {
	unlock, err := s.lockAccount(ctx, accountID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return s.Store.CancelPurchase(ctx, accountID, id)
}

// lockAccount takes the slot of an account that exists (a slot is made
// only for one, so ids that name nothing leave nothing behind) and
// returns its unlock.
func (s *Service) lockAccount(ctx context.Context, id string) (unlock func(), err error) {
	if _, err := s.Store.FindAccount(ctx, id); err != nil {
		return nil, err
	}
	sl := s.slot(id)
	sl.mu.Lock()
	return sl.mu.Unlock, nil
}

// trialRate rates the account without usage, once change (when not nil)
// has added a write to its input, over a period that holds every
// purchase and refund and the longest plan period after the last of them
// or after now: rating refuses there what it would refuse at every later
// quote.
func (a *account) trialRate(now time.Time, change func(*rating.Input)) error {
	in := a.in
	in.Purchases = append([]livebill.Purchase(nil), in.Purchases...)
	in.Refunds = append([]livebill.RefundRequest(nil), in.Refunds...)
	if change != nil {
		change(&in)
	}
	from, last := in.Account.Created, now
	longest := time.Duration(0)
	for _, p := range in.Purchases {
		if from.IsZero() || p.Start.Before(from) {
			from = p.Start
		}
		if p.Start.After(last) {
			last = p.Start
		}
		if plan, ok := in.Catalog.Plan(p.Plan); ok {
			mo, yr, dy, _ := catalog.ParsePeriod(plan.Period)
			longest = max(longest, rating.AddPeriod(p.Start, mo, yr, dy, 1).Sub(p.Start))
		}
	}
	for _, r := range in.Refunds {
		if r.Time.After(last) {
			last = r.Time
		}
	}
	if from.IsZero() {
		from = now
	}
	y, m, d := from.In(a.loc).Date()
	in.From = time.Date(y, m, d, 0, 0, 0, 0, a.loc)
	y, m, d = last.Add(longest).In(a.loc).Date()
	in.To = time.Date(y, m, d+1, 0, 0, 0, 0, a.loc)
	if !in.From.Before(in.To) {
		in.To = in.From.AddDate(0, 0, 1)
	}
	if _, err := rating.Rate(in); err != nil {
		return err
	}
	return nil
}

func hasDevice(ds []livebill.Device, id string) bool {
	for _, d := range ds {
		if d.ID == id {
			return true
		}
	}
	return false
}

func listOrNone(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	const show = 20
	if len(ids) > show {
		return strings.Join(ids[:show], ", ") + fmt.Sprintf(", … (%d in all)", len(ids))
	}
	return strings.Join(ids, ", ")
}
