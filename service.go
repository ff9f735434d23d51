package livebill

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The service side of livebill (`livebill serve`): accounts own apps,
// purchases and usage events; bills are computed by replaying an account's
// stored events through the same meter and rating code as `livebill quote`,
// and issued (settled) bills are stored and never rewritten.
//
// Storage packages (sqlite, postgres) implement Store; package billing
// implements BillService on top of a Store; package http exposes both.

// AccountRecord is a stored account: the rating account plus what the
// service needs to rate it.
type AccountRecord struct {
	Account
	Catalog string // built-in catalog name: trtc, cloudgaming, industrial, hst, flexmatch; or the name of CatalogYAML
	// CatalogYAML is the account's own catalog document (prices as data,
	// usually `extends: <built-in>`); empty for a built-in catalog.
	CatalogYAML string
	Mode        string    // "account" (default) or "calculator"
	CreatedAt   time.Time // when the record was made (wall/billing clock)
	Revision    int64     // bumped by every change that can alter bills
	// Events sums up the account's stored events, kept by ingestion in
	// the same row update as Revision.
	Events EventSpan
	// Purged is the instant (Unix ms) before which the account's events
	// were deleted by retention (0: none): later events before it are
	// refused, and its days before it are never metered again.
	Purged int64
}

// App is an application of an account; events name their app.
type App struct {
	ID        string    `json:"id"`
	AccountID string    `json:"account"`
	Name      string    `json:"name,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// CreateAccountInput creates an account.
type CreateAccountInput struct {
	ID      string `json:"id"`
	Catalog string `json:"catalog"`
	// CatalogYAML, when given, is the account's catalog document and
	// Catalog only names it.
	CatalogYAML string `json:"catalog_yaml,omitempty"`
	Mode        string `json:"mode,omitempty"`
	Created     string `json:"created"`             // date YYYY-MM-DD in the billing zone
	Activated   string `json:"activated,omitempty"` // date; defaults to created
	// Balance is the opening balance (decimal, may be negative; default
	// 0): the ledger's first entry.
	Balance  string `json:"balance,omitempty"`
	Timezone string `json:"timezone,omitempty"`
	// Terms are the catalog's arrears terms, which an opening balance
	// below zero starts under: the billing service fills them in (the
	// store reads no catalog); nil gives the defaults.
	Terms *Terms `json:"-"`
}

// Validate reports every problem with the input, joined.
func (in *CreateAccountInput) Validate() error {
	errs := []error{needID("account id", in.ID), needID("catalog", in.Catalog), CheckDocument("catalog_yaml", in.CatalogYAML)}
	switch in.Mode {
	case "", "account", "calculator":
	default:
		errs = append(errs, Errorf(EINVALID, "mode: must be account or calculator, not %s", Shown(in.Mode)))
	}
	if in.Created == "" {
		errs = append(errs, Errorf(EINVALID, "created: missing (a date YYYY-MM-DD)"))
	} else {
		errs = append(errs, checkDate("created", in.Created))
	}
	if in.Activated != "" {
		errs = append(errs, checkDate("activated", in.Activated))
	}
	if in.Balance != "" {
		if ok, _ := parseAmount(in.Balance, true); !ok {
			errs = append(errs, Errorf(EINVALID, "balance: must be a decimal string of at most %d digits before the point and %d after, not %s",
				MaxAmountDigits, MaxAmountDecimals, Shown(in.Balance)))
		}
	}
	if in.Timezone != "" {
		if err := CheckText("timezone", in.Timezone); err != nil {
			errs = append(errs, err)
		} else if _, err := time.LoadLocation(in.Timezone); err != nil {
			errs = append(errs, Errorf(EINVALID, "timezone: %v", err))
		}
	}
	return errors.Join(errs...)
}

// CreateAppInput registers an app under an account.
type CreateAppInput struct {
	AccountID string `json:"account"`
	ID        string `json:"id"`
	Name      string `json:"name,omitempty"`
}

// Validate reports every problem with the input, joined.
func (in *CreateAppInput) Validate() error {
	return errors.Join(needID("account", in.AccountID), needID("app id", in.ID), CheckText("name", in.Name))
}

// CreatePurchaseInput records a purchase (a plan, concurrency or licence).
type CreatePurchaseInput struct {
	AccountID string `json:"account"`
	ID        string `json:"id"`
	App       string `json:"app,omitempty"`
	Plan      string `json:"plan"`
	Count     int    `json:"count,omitempty"`
	Region    string `json:"region,omitempty"`
	Device    string `json:"device,omitempty"`
	Start     string `json:"start"` // date (00:00 in the billing zone) or RFC 3339
	AutoRenew bool   `json:"auto_renew,omitempty"`
}

// Validate reports every problem with the input, joined.
func (in *CreatePurchaseInput) Validate() error {
	errs := []error{needID("account", in.AccountID), needID("purchase id", in.ID), needID("plan", in.Plan),
		CheckText("app", in.App), CheckText("region", in.Region), CheckText("device", in.Device), checkUnits(in.Count)}
	if in.Start == "" {
		errs = append(errs, Errorf(EINVALID, "start: missing (a date or an RFC 3339 time)"))
	} else {
		errs = append(errs, checkInstantString("start", in.Start))
	}
	return errors.Join(errs...)
}

// CreateRefundInput asks to refund (part of) a purchase.
type CreateRefundInput struct {
	AccountID string `json:"account"`
	Purchase  string `json:"purchase"`
	Count     int    `json:"count,omitempty"`
	Time      string `json:"time"` // RFC 3339 or date
}

// Validate reports every problem with the input, joined.
func (in *CreateRefundInput) Validate() error {
	return errors.Join(needID("account", in.AccountID), needID("purchase", in.Purchase), checkUnits(in.Count),
		checkInstantString("time", in.Time))
}

// StoredPurchase is a purchase as stored: dates stay as written so they
// are read in the account's billing zone when rated.
type StoredPurchase struct {
	AccountID string `json:"account"`
	ID        string `json:"id"`
	App       string `json:"app,omitempty"`
	Plan      string `json:"plan"`
	Count     int    `json:"count,omitempty"`
	Region    string `json:"region,omitempty"`
	Device    string `json:"device,omitempty"`
	Start     string `json:"start"`
	AutoRenew bool   `json:"auto_renew,omitempty"`
	// Cancelled is when an operator cancelled the purchase (RFC 3339), ""
	// if never: a cancelled purchase and its refunds are not rated.
	Cancelled string `json:"cancelled,omitempty"`
}

// StoredRefund is a refund request as stored.
type StoredRefund struct {
	AccountID string `json:"account"`
	Seq       int64  `json:"seq"`
	Purchase  string `json:"purchase"`
	Count     int    `json:"count,omitempty"`
	Time      string `json:"time"`
}

// IncomingEvent is one event offered for ingestion: the already-parsed
// event and its canonical JSON body (what is stored and replayed).
type IncomingEvent struct {
	AccountID string
	Event     Event
	Body      []byte
	// Restored marks an event stored back from a retention archive: the
	// account's purge boundary, which refuses every other event before
	// it, does not apply (the restore clears it once all is stored).
	Restored bool
	// Day is the event's billing day (YYYY-MM-DD in the account's billing
	// zone). Storing the event records ingest activity on (account, Day),
	// which holds the day's settlement until it is quiet; "" records none.
	Day string
	// Import is the import the event was sent under, "" for none: the
	// import then holds the account's settlement until it is finished or
	// expires, and the batch renews its expiry. A batch naming an import
	// that does not exist (ENOTFOUND) or is finished (ECONFLICT) is
	// refused whole.
	Import string
}

// Ingestion statuses of one event.
const (
	IngestAccepted  = "accepted"  // new, durable
	IngestDuplicate = "duplicate" // already stored with the same body; acknowledged again
	IngestRejected  = "rejected"  // not stored; see Error
)

// IngestStatus is the outcome for one event of a batch, by index.
type IngestStatus struct {
	Index  int    `json:"index"` // 0-based position in the batch
	Line   int    `json:"line,omitempty"`
	ID     string `json:"id,omitempty"`
	Status string `json:"status"`
	Code   string `json:"code,omitempty"`
	Error  string `json:"error,omitempty"`
}

// IngestResult sums up a batch. Errors lists only the rejected events.
type IngestResult struct {
	Accepted  int            `json:"accepted"`
	Duplicate int            `json:"duplicate"`
	Rejected  int            `json:"rejected"`
	Errors    []IngestStatus `json:"errors"`
}

// Add counts one status into the result.
func (r *IngestResult) Add(s IngestStatus) {
	switch s.Status {
	case IngestAccepted:
		r.Accepted++
	case IngestDuplicate:
		r.Duplicate++
	default:
		r.Rejected++
		r.Errors = append(r.Errors, s)
	}
}

// StoredEvent is an event as replayed from storage.
type StoredEvent struct {
	Seq  int64
	ID   string
	Time int64 // Unix ms
	App  string
	Body []byte
}

// EventSpan sums up an account's events: how many are stored now, and
// the times of the first and last it ever stored. Retention's purge
// lowers the count and leaves the times: the first event is where the
// account's history, bills and archives begin, whether or not it is
// still stored.
type EventSpan struct {
	Count       int64 `json:"count"`
	First, Last int64 // Unix ms
}

// Ever reports whether the account ever stored an event: a count of 0
// may be of an account whose events retention deleted.
func (s EventSpan) Ever() bool { return s.Count > 0 || s.Last != 0 }

// IssuedBill is a settled bill. It is never rewritten: a change found
// later is issued as a new bill of kind adjustment.
type IssuedBill struct {
	AccountID string `json:"account"`
	Seq       int64  `json:"seq"` // issue order within the account
	Key       string `json:"key"` // identity: kind|date|signature
	Bill
	Adjusts  string    `json:"adjusts,omitempty"` // for adjustments: the key of the bill adjusted
	IssuedAt time.Time `json:"issued_at"`
	// Charge is when the bill is charged to the balance (the end of the
	// day or month it bills; see lifecycle.ChargeAt): its ledger entry's
	// instant. Set by settlement for IssueBills; the ledger keeps it.
	Charge time.Time `json:"-"`
}

// Settlement is how far an account's bills are settled.
type Settlement struct {
	AccountID string
	Through   string // first day not settled (YYYY-MM-DD); "" = nothing yet
	Revision  int64  // account revision the last settlement saw
	// Held is the first day whose bills or adjustments the last settlement
	// held back because its ingest was not quiet yet ("" none): the next
	// settlement looks again even if nothing changed.
	Held string
}

// AccountService stores accounts and their apps.
type AccountService interface {
	CreateAccount(ctx context.Context, in *CreateAccountInput) (*AccountRecord, error)
	FindAccount(ctx context.Context, id string) (*AccountRecord, error)
	ListAccounts(ctx context.Context) ([]*AccountRecord, error)
	CreateApp(ctx context.Context, in *CreateAppInput) (*App, error)
	FindApp(ctx context.Context, id string) (*App, error)
	ListApps(ctx context.Context, accountID string) ([]*App, error)
}

// PurchaseService stores purchases and refund requests.
type PurchaseService interface {
	CreatePurchase(ctx context.Context, in *CreatePurchaseInput) (*StoredPurchase, error)
	ListPurchases(ctx context.Context, accountID string) ([]*StoredPurchase, error)
	CreateRefund(ctx context.Context, in *CreateRefundInput) (*StoredRefund, error)
	ListRefunds(ctx context.Context, accountID string) ([]*StoredRefund, error)
	// CancelPurchase marks a purchase cancelled (it stays listed) and bumps
	// the account's revision, so bills issued with it are adjusted. A
	// purchase already cancelled is returned as it is.
	CancelPurchase(ctx context.Context, accountID, id string) (*StoredPurchase, error)
}

// EventService stores usage events durably and idempotently.
type EventService interface {
	// StoreEvents stores a batch in one transaction and returns a status
	// per event, in order. An event whose (account, id) is already stored
	// with the same body is a duplicate; with another body it is rejected
	// (conflict). Nothing is acknowledged before the transaction commits.
	StoreEvents(ctx context.Context, events []IncomingEvent) ([]IngestStatus, error)
	// ListEvents returns an account's events in time order (ties in
	// arrival order), with Time in [from, to) (Unix ms; to 0 = no bound).
	ListEvents(ctx context.Context, accountID string, from, to int64) ([]StoredEvent, error)
	// ListEventsPage returns at most limit (> 0) of the events ListEvents
	// returns, those that come after the event after in that order (nil:
	// from the first): reading on from the last of a page gives the next.
	ListEventsPage(ctx context.Context, accountID string, from, to int64, after *StoredEvent, limit int) ([]StoredEvent, error)
	// EventSpan returns how many events an account has stored and the
	// times of the first and last it ever stored, deleted ones included
	// (Unix ms; 0 when none).
	EventSpan(ctx context.Context, accountID string) (EventSpan, error)
	// ListEventsAfter returns an account's events with Seq > afterSeq in
	// Seq order, at most limit (0 = no limit). An account's seqs are given
	// in commit order, so reading on from the last Seq seen never skips
	// an event that commits later.
	ListEventsAfter(ctx context.Context, accountID string, afterSeq int64, limit int) ([]StoredEvent, error)
	// LastEventSeq returns the Seq of the account's last stored event (0
	// when it has none): the events committed later have greater ones.
	LastEventSeq(ctx context.Context, accountID string) (int64, error)
}

// BillStore stores issued bills and settlement state.
type BillStore interface {
	// IssueBills stores new bills and the settlement in one transaction,
	// and charges each bill to the account's balance there: a ledger
	// entry at its Charge instant, in charge order, after the transitions
	// time brought before it, and the transition it causes (under
	// w.Terms). A bill whose key (other than an adjustment) is already
	// issued is a conflict and nothing is stored.
	IssueBills(ctx context.Context, w SettleWrite) error
	ListBills(ctx context.Context, accountID string) ([]IssuedBill, error)
	FindSettlement(ctx context.Context, accountID string) (*Settlement, error)
}

// CreateDeviceInput registers an industrial field device and its cameras.
type CreateDeviceInput struct {
	AccountID string `json:"account"`
	ID        string `json:"id"`
	Cameras   []Size `json:"cameras"`
}

// Validate reports every problem with the input, joined.
func (in *CreateDeviceInput) Validate() error {
	errs := []error{needID("account", in.AccountID), needID("device id", in.ID)}
	if len(in.Cameras) > MaxListLen {
		return Errorf(EINVALID, "cameras: more than %d", MaxListLen)
	}
	for i, c := range in.Cameras {
		if c.Width <= 0 || c.Height <= 0 {
			errs = append(errs, Errorf(EINVALID, "cameras[%d]: needs a positive width and height", i))
		} else if !sizeInBounds(c.Width, c.Height) {
			errs = append(errs, Errorf(EINVALID, "cameras[%d]: width × height must be at most %d pixels", i, int64(MaxVideoArea)))
		}
	}
	return errors.Join(errs...)
}

// CreateTopUpInput adds money to an account's balance. ID is the
// client's: a re-sent top-up with the same id is applied once.
type CreateTopUpInput struct {
	AccountID string `json:"account"`
	ID        string `json:"id"`
	Amount    string `json:"amount"` // positive decimal, catalog currency
	Time      string `json:"time,omitempty"`
}

// Validate reports every problem with the input, joined.
func (in *CreateTopUpInput) Validate() error {
	errs := []error{needID("account", in.AccountID), needID("top-up id", in.ID)}
	if ok, positive := parseAmount(in.Amount, false); !ok || !positive {
		errs = append(errs, Errorf(EINVALID, "amount: must be a positive decimal string of at most %d digits before the point and %d after, not %s",
			MaxAmountDigits, MaxAmountDecimals, Shown(in.Amount)))
	}
	if in.Time != "" {
		if t, err := time.Parse(time.RFC3339Nano, in.Time); err != nil {
			errs = append(errs, Errorf(EINVALID, "time: must be RFC 3339, not %s", Shown(in.Time)))
		} else {
			errs = append(errs, CheckInstant("time", t))
		}
	}
	return errors.Join(errs...)
}

// TopUp is a stored top-up.
type TopUp struct {
	AccountID string `json:"account"`
	Seq       int64  `json:"seq"`
	ID        string `json:"id"`
	Amount    string `json:"amount"`
	Time      string `json:"time"`
}

// TopUpService stores balance top-ups.
type TopUpService interface {
	// CreateTopUp stores a top-up; the same id again returns the stored
	// one (and created false) when the amount matches, a conflict if not.
	CreateTopUp(ctx context.Context, in *CreateTopUpInput) (t *TopUp, created bool, err error)
	ListTopUps(ctx context.Context, accountID string) ([]*TopUp, error)
}

// Statement is an account's month: the bills issued with dates in it,
// top-ups, and the balance before and after. Its total is the sum of the
// bills' rounded totals (SPEC §1).
type Statement struct {
	Account        string       `json:"account"`
	Month          string       `json:"month"` // YYYY-MM
	Currency       string       `json:"currency"`
	OpeningBalance string       `json:"opening_balance"`
	TopUps         []*TopUp     `json:"topups"`
	Bills          []IssuedBill `json:"bills"`
	Total          string       `json:"total"`
	ClosingBalance string       `json:"closing_balance"`
	Final          bool         `json:"final"` // every day of the month is settled
}

// DeviceService stores industrial field devices.
type DeviceService interface {
	CreateDevice(ctx context.Context, in *CreateDeviceInput) (*Device, error)
	ListDevices(ctx context.Context, accountID string) ([]*Device, error)
}

// Store is everything a storage backend provides.
type Store interface {
	AccountService
	DeviceService
	TopUpService
	PurchaseService
	EventService
	BillStore
	HoldService
	PageService
	KeyService
	IdempotencyStore
	QuarantineStore
	LifecycleService
	NotificationService
	RollupStore
	Close() error
}

// UsageInput asks for metered usage.
type UsageInput struct {
	AccountID   string
	From, To    string // dates YYYY-MM-DD in the billing zone, [From, To)
	Granularity string // "5m" or "day"
}

// Validate reports every problem with the input, joined.
func (in *UsageInput) Validate() error {
	errs := []error{needID("account", in.AccountID)}
	var dates [2]time.Time
	for i, f := range []struct{ name, v string }{{"from", in.From}, {"to", in.To}} {
		t, err := time.Parse(time.DateOnly, f.v)
		if err != nil {
			errs = append(errs, Errorf(EINVALID, "%s: must be a date YYYY-MM-DD, not %s", f.name, Shown(f.v)))
		} else if err := CheckDate(f.name, t); err != nil {
			errs = append(errs, err)
		}
		dates[i] = t
	}
	maxDays := 0
	switch in.Granularity {
	case "5m":
		maxDays = MaxUsageDays5m
	case "day":
		maxDays = MaxUsageDaysDay
	default:
		errs = append(errs, Errorf(EINVALID, "granularity: must be 5m or day, not %s", Shown(in.Granularity)))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	from, to := dates[0], dates[1]
	if !from.Before(to) {
		return Errorf(EINVALID, "from: must be before to")
	}
	if to.After(from.AddDate(0, 0, maxDays)) {
		return Errorf(EINVALID, "to: at most %d days after from with granularity %s (from %s to %s is %d days); ask for shorter ranges",
			maxDays, in.Granularity, in.From, in.To, int(to.Sub(from).Hours()/24))
	}
	return nil
}

// UsagePoint is an item's metered quantity in one window or day.
type UsagePoint struct {
	App     string `json:"app"`
	Item    string `json:"item"`
	Start   string `json:"start"` // RFC 3339 in the billing zone
	Measure string `json:"measure"`
	Value   int64  `json:"value"` // ms for durations, a count otherwise
}

// BillService computes usage and bills from stored events.
type BillService interface {
	// Settle issues the bills of every day closed (after the settle delay)
	// on the billing clock, and adjustments for settled days that changed.
	Settle(ctx context.Context, accountID string) ([]IssuedBill, error)
	SettleAll(ctx context.Context) error
	Usage(ctx context.Context, in *UsageInput) ([]UsagePoint, error)
	// Quote rates the account's stored events over [from, to) like
	// `livebill quote`.
	Quote(ctx context.Context, accountID, from, to string) (*Quote, error)
	// Statement returns the month's statement (YYYY-MM) from issued bills.
	Statement(ctx context.Context, accountID, month string) (*Statement, error)
	// Rejections lists the account's stored events the meter refused
	// (a leave without a join, …): stored and acknowledged, never billed.
	Rejections(ctx context.Context, accountID string) (*Rejections, error)
}

// Rejections are the stored events of an account that the meter refused,
// up to Through (the live meter's watermark), in time order.
type Rejections struct {
	AccountID string      `json:"account"`
	Through   time.Time   `json:"through"`
	Events    []Rejection `json:"events"`
}

// Rejection is one refused event: its id, the field at fault and why.
type Rejection struct {
	ID     string `json:"id,omitempty"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
}

// ParseInstant reads a date (00:00 in loc) or an RFC 3339 time.
func ParseInstant(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("must be a date or an RFC 3339 time, not %q", s)
	}
	return t, nil
}

// RawEvent is one event as received: its JSON object and where it was in
// the request (1-based line of NDJSON, or index+1 of a JSON array).
type RawEvent struct {
	Line int
	Body []byte
}

// IngestService validates and stores batches of raw events: the events of
// a batch that are valid are kept, the others reported one by one.
type IngestService interface {
	Ingest(ctx context.Context, batch []RawEvent) (*IngestResult, error)
}

// SettleWrite is one account's settlement: the bills to issue, the
// settlement to record, and the terms the bills are charged under.
type SettleWrite struct {
	Settlement Settlement
	Bills      []IssuedBill
	Terms      Terms
	// Rollup, when set, is the settled days' rollups and checkpoint,
	// written in the same transaction.
	Rollup *RollupWrite
}

// SettleStore reads the inputs of many accounts in a few queries and
// writes their bills in one transaction, for settling accounts in groups
// (billing.Service.SettleAll). Maps are by account id; an account with
// nothing stored has no entry (or, for settlements, a zero one).
type SettleStore interface {
	// FindAccounts returns the accounts of ids that exist.
	FindAccounts(ctx context.Context, ids []string) (map[string]*AccountRecord, error)
	// FindSettlements returns each account's settlement; a zero one
	// (Through "") for an account not settled yet.
	FindSettlements(ctx context.Context, ids []string) (map[string]*Settlement, error)
	// ListPurchasesOf returns each account's purchases in the order made.
	ListPurchasesOf(ctx context.Context, ids []string) (map[string][]*StoredPurchase, error)
	// ListDevicesOf returns each account's devices by id.
	ListDevicesOf(ctx context.Context, ids []string) (map[string][]*Device, error)
	// ListRefundsOf returns each account's refund requests in the order made.
	ListRefundsOf(ctx context.Context, ids []string) (map[string][]*StoredRefund, error)
	// ListBillsOf returns each account's issued bills in issue order;
	// for an account in since, only those dated from since[account] (a
	// date) on, and the monthly bill of its month.
	ListBillsOf(ctx context.Context, ids []string, since map[string]string) (map[string][]IssuedBill, error)
	// ListEventsAfterEach returns, for each account of after, its events
	// with Seq > after[account] in Seq order, as ListEventsAfter does.
	ListEventsAfterEach(ctx context.Context, after map[string]int64) (map[string][]StoredEvent, error)
	// IssueBillsEach stores the bills and settlements of several accounts
	// in one transaction, with IssueBills' rules: if any bill's key is
	// already issued for its account, nothing is stored and the error is
	// a conflict.
	IssueBillsEach(ctx context.Context, writes []SettleWrite) error
}
