package livebill

import "time"

// Quote is what `livebill quote` prints and `POST /v1/quote` returns
// (SPEC §7.3). Decimals are strings so no precision is lost in JSON.
type Quote struct {
	Currency string      `json:"currency"`
	Total    string      `json:"total"`
	Lines    []Line      `json:"lines"`
	Usage    []UsageLine `json:"usage"`
	Bills    []Bill      `json:"bills"`
	Notices  []Notice    `json:"notices"`
	Packs    []PackState `json:"packs,omitempty"`
	// Stops are the apps' trial stops (SPEC §4 "Service stop"), as the
	// service_stopped notices tell them.
	Stops []TrialStop `json:"-"`
	// Account is the balance through the period and the account's
	// lifecycle, when the quote applies the arrears rule (a scenario that
	// gives a balance or top-ups).
	Account *QuoteAccount `json:"account,omitempty"`
}

// TrialStop is a trial app's service stop: at the end of the 5-minute
// window its packs fell short in, until Resume (zero: not in the period).
type TrialStop struct {
	App    string
	At     time.Time
	Resume time.Time
}

// QuoteAccount is a quote's account lifecycle: the opening balance (the
// scenario's account.balance), every charge and credit with the balance
// after it, the transitions and the state at the period's end.
type QuoteAccount struct {
	OpeningBalance string        `json:"opening_balance"`
	ClosingBalance string        `json:"closing_balance"`
	State          string        `json:"state"`
	Ledger         []LedgerEntry `json:"ledger"`
	Transitions    []Transition  `json:"transitions"`
}

// Line is a priced item: quantity billed after packages and its exact cost.
type Line struct {
	Item      string `json:"item"`
	App       string `json:"app,omitempty"`
	Quantity  string `json:"quantity"`
	Unit      string `json:"unit"`
	UnitPrice string `json:"unit_price"`
	Per       string `json:"per"`
	Amount    string `json:"amount"`
}

// UsageLine is the raw metered quantity of an item and how much packages
// covered. Blocked is usage metered while the service was stopped (a
// trial out of packs, a suspended account, a disabled app): not billed,
// not in Quantity; durations in exact minutes.
type UsageLine struct {
	Item     string `json:"item"`
	Quantity string `json:"quantity"`
	Covered  string `json:"covered"`
	Blocked  string `json:"blocked,omitempty"`
}

// Bill is a daily or monthly bill, or the bill of a purchase. Its total is
// the sum of its lines rounded half-up to the currency's minor unit.
type Bill struct {
	Kind  string `json:"kind"` // daily, monthly, purchase, adjustment
	Date  string `json:"date"` // the day, or the first day of the month
	Total string `json:"total"`
	Lines []Line `json:"lines"`
}

// Bill kinds.
const (
	BillDaily      = "daily"
	BillMonthly    = "monthly"
	BillPurchase   = "purchase"
	BillAdjustment = "adjustment"
)

// Notice tells the reader something the numbers alone do not.
type Notice struct {
	Code string `json:"code"`
	App  string `json:"app,omitempty"`
	Room string `json:"room,omitempty"`
	User string `json:"user,omitempty"`
	Task string `json:"task,omitempty"`
	Item string `json:"item,omitempty"`
	Time string `json:"time,omitempty"`
	// Reason is why a service stopped (service_stopped, usage_blocked):
	// ReasonTrialExhausted, ReasonAccountSuspended, ReasonAppDisabled.
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// Notice codes.
const (
	NoticeAboveTopTier  = "resolution_above_top_tier"
	NoticeServiceStop   = "service_stopped"
	NoticeBlockedUsage  = "usage_blocked"
	NoticeRefundRefused = "refund_refused"
)

// PackState reports what a package covered and what remains.
type PackState struct {
	ID        string `json:"id"`
	Kind      string `json:"kind"`
	App       string `json:"app,omitempty"`
	Start     string `json:"start"`
	End       string `json:"end"`
	Granted   string `json:"granted"`
	Used      string `json:"used"`
	Remaining string `json:"remaining"`
}
