package livebill

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
// covered.
type UsageLine struct {
	Item     string `json:"item"`
	Quantity string `json:"quantity"`
	Covered  string `json:"covered"`
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
	Item string `json:"item,omitempty"`
	Time string `json:"time,omitempty"`
	// Until: a service stop that ended (a paid plan or a new pack
	// resumed the app) ended then.
	Until   string `json:"until,omitempty"`
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
