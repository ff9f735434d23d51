// Package catalog holds prices as data: every item, price, tier bound,
// allowance and ratio table of a product, loaded from YAML. The built-in
// catalogs (trtc, cloudgaming, industrial, hst, flexmatch) are embedded;
// a user catalog file can extend one and override or add prices.
//
// Loading validates: unknown keys are rejected, tiers ascend, prices are
// non-negative decimals, and every item a rule of the catalog can produce
// is present. Rating an item marked `unpublished` (no price) fails with an
// error naming the item unless an override sets a price.
package catalog

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/internal/yamlerr"
	"github.com/livebill/livebill/money"
	"go.yaml.in/yaml/v3"
)

//go:embed builtin/*.yaml
var builtinFS embed.FS

// Measures: how an item's raw usage becomes a billable quantity.
const (
	MeasureDuration   = "duration_ms" // ms per rounding window → ceil minutes
	MeasureCount      = "count"       // a count per month, less a free allowance, in steps
	MeasurePeak       = "peak_kbps"   // the month's peak bandwidth, in Mbps
	MeasureDurationUS = "duration_us" // µs → hours, pro rata
	MeasurePurchase   = "purchase"    // bought, not metered
)

// Rounding windows of a duration.
const (
	RoundDay   = "day"
	RoundMonth = "month"
)

// Catalog is one product's price list.
type Catalog struct {
	Name     string `yaml:"name"`
	Title    string `yaml:"title"`
	Extends  string `yaml:"extends"` // user catalogs: the built-in catalog this one overrides
	Currency string `yaml:"currency"`
	Timezone string `yaml:"timezone"`
	// Metering is the A/V model: "trtc" (one tier per receiver by the
	// aggregate of received areas) or "hst" (every received stream counts).
	Metering        string `yaml:"metering"`
	ResolutionTiers []Tier `yaml:"resolution_tiers"`
	// TopTierArea: aggregates above it are billed at the top tier with the
	// notice resolution_above_top_tier.
	TopTierArea int64      `yaml:"top_tier_area"`
	Items       []*Item    `yaml:"items"`
	Plans       []*Plan    `yaml:"plans"`
	FreePack    *FreePack  `yaml:"free_pack"`
	GiftRatios  Ratios     `yaml:"gift_ratios"`
	FreeTiers   []FreeTier `yaml:"free_tiers"`
	// LicenceArea is the pixel area one industrial licence serves.
	LicenceArea int64 `yaml:"licence_area"`
	// Admission is what admission refuses by the catalog's data: the
	// editions' feature and limit tables (nil: no such tables).
	Admission *Admission `yaml:"admission"`
	// Arrears sets the account lifecycle's periods (SPEC §4 "Arrears");
	// absent, the defaults (24 hours, 60 days).
	Arrears *Arrears `yaml:"arrears"`
	// Digest identifies the catalog's content: SHA-256 of its document
	// (and of the built-in one it extends), in hex. A stored deduction
	// state holds only for the prices and ratios it was computed with.
	Digest string `yaml:"-"`
	// SessionTimeout closes a room participant or task with no event of
	// its own for longer than this, at its last event plus the timeout
	// (a Go duration such as "24h"; default DefaultSessionTimeout).
	SessionTimeout string `yaml:"session_timeout"`

	loc            *time.Location
	sessionTimeout time.Duration
	items          map[string]*Item
	plans          map[string]*Plan
	// derived is data computed from the catalog on first use (a catalog
	// is read-only once parsed); init gives each parsed catalog its own.
	derived *derived
}

// derived holds what rating recomputed for every account: the item
// positions and the parsed ratio tables. It is computed once per catalog
// value, behind once, and read-only afterwards.
type derived struct {
	once       sync.Once
	order      map[string]int             // item id → position in Items (first one)
	freeTables []map[string]money.Decimal // parallel to FreePack.Tables
	freeErrs   []error
	gift       map[string]money.Decimal
	giftErr    error
	memo       sync.Map // Memo's values, by key
}

// Memo returns what build derives from the catalog, built once per parsed
// catalog and key (concurrent first callers may both build; one value
// wins): data other packages derive from a catalog, such as the meter's
// interned items. The value must be treated as read-only. A catalog that
// was not parsed builds anew on each call.
func (c *Catalog) Memo(key any, build func() any) any {
	if c.derived == nil {
		return build()
	}
	if v, ok := c.derived.memo.Load(key); ok {
		return v
	}
	v, _ := c.derived.memo.LoadOrStore(key, build())
	return v
}

// get returns the catalog's derived data, computing it on first use. A
// catalog that was not parsed (no init) gets fresh, uncached data.
func (c *Catalog) get() *derived {
	d := c.derived
	if d == nil {
		d = &derived{}
	}
	d.once.Do(func() {
		d.order = make(map[string]int, len(c.Items))
		for i, it := range c.Items {
			if _, dup := d.order[it.ID]; !dup {
				d.order[it.ID] = i
			}
		}
		if c.FreePack != nil {
			d.freeTables = make([]map[string]money.Decimal, len(c.FreePack.Tables))
			d.freeErrs = make([]error, len(c.FreePack.Tables))
			for i, t := range c.FreePack.Tables {
				d.freeTables[i], d.freeErrs[i] = t.Ratios.Parse()
			}
		}
		d.gift, d.giftErr = c.GiftRatios.Parse()
	})
	return d
}

// Tier is a resolution tier: areas up to MaxArea (inclusive); the last tier
// may leave MaxArea 0 for "above the previous one".
type Tier struct {
	Name    string `yaml:"name"`
	MaxArea int64  `yaml:"max_area"`
}

// Item is a priced usage item.
type Item struct {
	ID      string `yaml:"id"`
	Name    string `yaml:"name"`
	Unit    string `yaml:"unit"`
	Price   string `yaml:"price"`
	Per     int64  `yaml:"per"` // price is per this many units (default 1)
	Measure string `yaml:"measure"`
	// Rounding is the duration accumulation window: day (default) or month.
	Rounding string `yaml:"rounding"`
	// FreePerMonth is subtracted from a count each month (per app, or per
	// account with FreeScope account).
	FreePerMonth int64  `yaml:"free_per_month"`
	FreeScope    string `yaml:"free_scope"`
	// Step bills a count in started steps (screenshots: started thousands).
	Step int64 `yaml:"step"`
	// FreeBelow: a peak below this many units costs nothing.
	FreeBelow   string `yaml:"free_below"`
	Unpublished bool   `yaml:"unpublished"`
	// Sessions: the item meters the time admission leases of this kind
	// run (livebill.Session…: cloudgaming.session, cloudgaming.push,
	// industrial.operation); a duration item.
	Sessions string `yaml:"sessions"`

	price, freeBelow money.Decimal
}

// Plan is something bought ahead: a TRTC plan, a concurrency, a licence.
type Plan struct {
	ID      string `yaml:"id"`
	Product string `yaml:"product"`
	Edition string `yaml:"edition"`
	Price   string `yaml:"price"`
	// Period: month, year, or Nd (days).
	Period      string `yaml:"period"`
	GiftMinutes int64  `yaml:"gift_minutes"`
	MAU         int64  `yaml:"mau"`
	Trial       bool   `yaml:"trial"`
	// HourlyRefund is the hourly rate a refund is charged at.
	HourlyRefund string `yaml:"hourly_refund"`
	// Refundable within this many days when untouched (TRTC plans: 5).
	RefundDays int `yaml:"refund_days"`
	// PromoFor/PromoMax: a promotional edition only for accounts that never
	// bought one of PromoFor, at most PromoMax purchases.
	PromoExcludes []string `yaml:"promo_excludes"`
	PromoMax      int      `yaml:"promo_max"`

	price, hourly money.Decimal
}

// FreePack is the monthly free pack granted to every account.
type FreePack struct {
	Minutes int64 `yaml:"minutes"`
	Months  int   `yaml:"months"`
	// Tables by account creation date: the last table whose From is on or
	// before the creation date applies.
	Tables []RatioTable `yaml:"tables"`
}

// RatioTable maps items to pack minutes per usage minute.
type RatioTable struct {
	From   string `yaml:"from"` // YYYY-MM-DD; empty for the first table
	Ratios Ratios `yaml:"ratios"`
}

// Ratios maps an item to pack minutes per usage minute.
type Ratios map[string]string

// Arrears are the periods of the arrears rule: in arrears GraceHours
// hours → suspended; suspended ReclaimDays days → reclaimed.
type Arrears struct {
	GraceHours  *int `yaml:"grace_hours"`
	ReclaimDays *int `yaml:"reclaim_days"`
}

// Terms returns the catalog's arrears terms.
func (c *Catalog) Terms() livebill.Terms {
	t := livebill.Terms{Grace: livebill.DefaultGrace, ReclaimAfter: livebill.DefaultReclaimAfter}
	if a := c.Arrears; a != nil {
		if a.GraceHours != nil {
			t.Grace = time.Duration(*a.GraceHours) * time.Hour
		}
		if a.ReclaimDays != nil {
			t.ReclaimAfter = time.Duration(*a.ReclaimDays) * 24 * time.Hour
		}
	}
	return t
}

// FreeTier is a monthly free allowance of an item for an account's first
// months (FlexMatch).
type FreeTier struct {
	Item   string `yaml:"item"`
	Amount string `yaml:"amount"` // in the item's billing unit
	Months int    `yaml:"months"`
}

// Builtin returns the names of the built-in catalogs.
func Builtin() []string {
	ents, _ := builtinFS.ReadDir("builtin")
	var names []string
	for _, e := range ents {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	return names
}

// Load returns the built-in catalog with that name, or reads a catalog
// file (which may extend a built-in one).
func Load(nameOrPath string) (*Catalog, error) {
	if b, err := builtinFS.ReadFile("builtin/" + nameOrPath + ".yaml"); err == nil {
		return Parse(b, nameOrPath)
	}
	if !strings.ContainsAny(nameOrPath, "/.") {
		return nil, livebill.Errorf(livebill.ENOTFOUND, "unknown catalog %q (built-in: %s)", nameOrPath, strings.Join(Builtin(), ", "))
	}
	b, err := os.ReadFile(nameOrPath)
	if err != nil {
		return nil, livebill.Errorf(livebill.EINVALID, "cannot read catalog: %v", err)
	}
	if empty(b) {
		return nil, livebill.Errorf(livebill.EINVALID, "catalog %s: the file is empty", filepath.Base(nameOrPath))
	}
	return Parse(b, filepath.Base(nameOrPath))
}

// empty tells whether b holds no YAML document (nothing, blanks or
// comments only).
func empty(b []byte) bool {
	var n yaml.Node
	return errors.Is(yaml.NewDecoder(bytes.NewReader(b)).Decode(&n), io.EOF)
}

// Parse decodes and validates a catalog document. A document with
// `extends` is merged onto that built-in catalog: its items and plans
// replace the ones with the same id field by field, or are added.
func Parse(b []byte, source string) (*Catalog, error) {
	var c Catalog
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); errors.Is(err, io.EOF) {
		return nil, livebill.Errorf(livebill.EINVALID, "catalog %s: the document is empty", source)
	} else if err != nil {
		return nil, livebill.Errorf(livebill.EINVALID, "catalog %s: %s", source, yamlerr.Message(err))
	}
	if err := c.checkEntries(); err != nil {
		return nil, livebill.Errorf(livebill.EINVALID, "catalog %s: %v", source, err)
	}
	if c.Extends != "" {
		// checked before loading: a file extending itself would recurse
		if !isBuiltin(c.Extends) {
			return nil, livebill.Errorf(livebill.EINVALID, "catalog %s: extends must name a built-in catalog (%s), not %s",
				source, strings.Join(Builtin(), ", "), livebill.Shown(c.Extends))
		}
		base, err := Load(c.Extends)
		if err != nil {
			return nil, err
		}
		merged, err := merge(base, &c, b)
		if err != nil {
			return nil, livebill.Errorf(livebill.EINVALID, "catalog %s: %v", source, err)
		}
		c = *merged
		c.Digest = digest([]byte(base.Digest), b)
	} else {
		c.Digest = digest(b)
	}
	if err := c.init(); err != nil {
		return nil, livebill.Errorf(livebill.EINVALID, "catalog %s: %v", source, err)
	}
	return &c, nil
}

func digest(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// checkEntries refuses a document's null entries (`items: [null]`, `-
// ~`), which decode as nil and which nothing after this expects, and
// ids, names and units with control characters.
func (c *Catalog) checkEntries() error {
	var errs []error
	// text is what bills, exports and the console show: ids are ids
	// (livebill.TextProblem); names and units may be longer, but hold no
	// control character (an escape sequence would reach the operator's
	// terminal) and are UTF-8
	text := func(field, v string, id bool) {
		p := livebill.CharsProblem(v)
		if id {
			p = livebill.TextProblem(v)
		}
		if p != "" {
			errs = append(errs, fmt.Errorf("%s: %s", field, p))
		}
	}
	text("name", c.Name, false)
	text("title", c.Title, false)
	for i, it := range c.Items {
		if it == nil {
			errs = append(errs, fmt.Errorf("items[%d]: null; an item needs at least an id", i))
			continue
		}
		text(fmt.Sprintf("items[%d].id", i), it.ID, true)
		text(fmt.Sprintf("items[%d].name", i), it.Name, false)
		text(fmt.Sprintf("items[%d].unit", i), it.Unit, false)
	}
	for i, p := range c.Plans {
		if p == nil {
			errs = append(errs, fmt.Errorf("plans[%d]: null; a plan needs at least an id", i))
			continue
		}
		text(fmt.Sprintf("plans[%d].id", i), p.ID, true)
		text(fmt.Sprintf("plans[%d].product", i), p.Product, false)
		text(fmt.Sprintf("plans[%d].edition", i), p.Edition, false)
	}
	return errors.Join(errs...)
}

func isBuiltin(name string) bool {
	_, err := builtinFS.ReadFile("builtin/" + name + ".yaml")
	return err == nil
}

// merge applies an override document onto a copy of base. Only the fields
// the override sets replace the base's: it is decoded a second time into
// the base's items so unset fields keep their values.
func merge(base, over *Catalog, raw []byte) (*Catalog, error) {
	out := *base
	out.Extends = base.Name
	if over.Name != "" {
		out.Name = over.Name
	}
	if over.Currency != "" {
		out.Currency = over.Currency
	}
	if over.Timezone != "" {
		out.Timezone = over.Timezone
	}
	if over.Title != "" {
		out.Title = over.Title
	}
	if over.SessionTimeout != "" {
		out.SessionTimeout = over.SessionTimeout
	}
	if len(over.ResolutionTiers) > 0 {
		out.ResolutionTiers = over.ResolutionTiers
	}
	var doc struct {
		Items []yaml.Node `yaml:"items"`
		Plans []yaml.Node `yaml:"plans"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	itemIDs := make([]string, len(over.Items))
	for i, it := range over.Items {
		itemIDs[i] = it.ID
	}
	var items []*Item
	var err error
	if out.Items, items, err = overrideByID("items", base.Items, doc.Items, itemIDs); err != nil {
		return nil, err
	}
	for i, it := range items {
		// Giving an unpublished item a price publishes it.
		if over.Items[i].Price != "" && !nodeHas(&doc.Items[i], "unpublished") {
			it.Unpublished = false
		}
	}
	planIDs := make([]string, len(over.Plans))
	for i, p := range over.Plans {
		planIDs[i] = p.ID
	}
	if out.Plans, _, err = overrideByID("plans", base.Plans, doc.Plans, planIDs); err != nil {
		return nil, err
	}
	if over.FreePack != nil {
		out.FreePack = over.FreePack
	}
	if over.GiftRatios != nil {
		out.GiftRatios = over.GiftRatios
	}
	if over.FreeTiers != nil {
		out.FreeTiers = over.FreeTiers
	}
	if over.Admission != nil {
		if out.Admission, err = mergeAdmission(base.Admission, raw); err != nil {
			return nil, err
		}
	}
	if over.Arrears != nil {
		a := Arrears{}
		if base.Arrears != nil {
			a = *base.Arrears
		}
		if over.Arrears.GraceHours != nil {
			a.GraceHours = over.Arrears.GraceHours
		}
		if over.Arrears.ReclaimDays != nil {
			a.ReclaimDays = over.Arrears.ReclaimDays
		}
		out.Arrears = &a
	}
	return &out, nil
}

// identified is a catalog entry with an id (an item or a plan).
type identified interface {
	Item | Plan
}

func idOf[T identified](v *T) string {
	switch x := any(v).(type) {
	case *Item:
		return x.ID
	case *Plan:
		return x.ID
	}
	return ""
}

// overrideByID copies base's entries and decodes each override node onto
// the entry with the same id, so only the fields the node sets change; an
// unknown id is a new entry. It returns the merged list and, per node, the
// entry it was decoded onto.
func overrideByID[T identified](what string, base []*T, nodes []yaml.Node, ids []string) (merged, targets []*T, err error) {
	merged = make([]*T, len(base))
	for i, v := range base {
		cp := *v
		merged[i] = &cp
	}
	for i := range nodes {
		if ids[i] == "" {
			return nil, nil, fmt.Errorf("%s[%d]: missing id", what, i)
		}
		var target *T
		for _, v := range merged {
			if idOf(v) == ids[i] {
				target = v
			}
		}
		if target == nil {
			target = new(T)
			merged = append(merged, target)
		}
		if err := nodes[i].Decode(target); err != nil {
			return nil, nil, fmt.Errorf("%s[%d]: %v", what, i, err)
		}
		targets = append(targets, target)
	}
	return merged, targets, nil
}

func nodeHas(n *yaml.Node, key string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

func (c *Catalog) init() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Name == "" {
		add("name: missing")
	}
	if _, err := money.LookupCurrency(c.Currency); err != nil {
		add("currency: %v", err)
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil || c.Timezone == "" {
		add("timezone: unknown zone %q", c.Timezone)
		loc = time.UTC
	}
	c.loc = loc
	c.sessionTimeout = DefaultSessionTimeout
	if c.SessionTimeout != "" {
		d, err := time.ParseDuration(c.SessionTimeout)
		switch {
		case err != nil:
			add("session_timeout: %q is not a duration (e.g. 24h, 90m)", c.SessionTimeout)
		case d < time.Minute:
			add("session_timeout: %s is below the minimum of 1m", c.SessionTimeout)
		default:
			c.sessionTimeout = d
		}
	}
	c.derived = &derived{}
	for i, t := range c.ResolutionTiers {
		if t.Name == "" {
			add("resolution_tiers[%d]: missing name", i)
		}
		last := i == len(c.ResolutionTiers)-1
		if t.MaxArea <= 0 && !last {
			add("resolution_tiers[%d] (%s): max_area must be positive", i, t.Name)
		}
		if i > 0 && t.MaxArea != 0 && t.MaxArea <= c.ResolutionTiers[i-1].MaxArea {
			add("resolution_tiers[%d] (%s): max_area %d does not ascend", i, t.Name, t.MaxArea)
		}
	}
	if a := c.Arrears; a != nil {
		// a year of grace, ten of suspension: more is a typo
		if g := a.GraceHours; g != nil && (*g < 0 || *g > 24*366) {
			add("arrears: grace_hours must be from 0 to %d, not %d", 24*366, *g)
		}
		if r := a.ReclaimDays; r != nil && (*r < 1 || *r > 3660) {
			add("arrears: reclaim_days must be from 1 to 3660, not %d", *r)
		}
	}
	c.items = make(map[string]*Item, len(c.Items))
	sessionItems := map[string]string{}
	for i, it := range c.Items {
		if it.ID == "" {
			add("items[%d]: missing id", i)
			continue
		}
		if _, dup := c.items[it.ID]; dup {
			add("items[%d]: duplicate id %s", i, it.ID)
		}
		c.items[it.ID] = it
		if it.Per == 0 {
			it.Per = 1
		}
		if it.Per < 0 {
			add("item %s: per must be positive", it.ID)
		}
		switch it.Measure {
		case MeasureDuration:
			if it.Rounding == "" {
				it.Rounding = RoundDay
			}
			if it.Rounding != RoundDay && it.Rounding != RoundMonth {
				add("item %s: rounding must be day or month", it.ID)
			}
		case MeasureCount, MeasurePeak, MeasureDurationUS, MeasurePurchase:
		default:
			add("item %s: unknown measure %q", it.ID, it.Measure)
		}
		if it.Unpublished {
			if it.Price != "" {
				add("item %s: an unpublished item has no price", it.ID)
			}
		} else {
			p, err := money.Parse(it.Price)
			if err != nil {
				add("item %s: price: %v", it.ID, err)
			} else if p.IsNegative() {
				add("item %s: price %s is negative", it.ID, it.Price)
			}
			it.price = p
		}
		if it.FreeBelow != "" {
			fb, err := money.Parse(it.FreeBelow)
			if err != nil || fb.IsNegative() {
				add("item %s: free_below must be a non-negative decimal", it.ID)
			}
			it.freeBelow = fb
		}
		if it.FreePerMonth < 0 || it.Step < 0 {
			add("item %s: free_per_month and step must not be negative", it.ID)
		}
		if it.FreeScope != "" && it.FreeScope != "app" && it.FreeScope != "account" {
			add("item %s: free_scope must be app or account", it.ID)
		}
		if it.Sessions != "" {
			switch it.Sessions {
			case livebill.SessionCloudGaming, livebill.SessionLivePush, livebill.SessionOperation:
			default:
				add("item %s: sessions must be %s, %s or %s, not %q", it.ID, livebill.SessionCloudGaming, livebill.SessionLivePush, livebill.SessionOperation, it.Sessions)
			}
			if it.Measure != MeasureDuration {
				add("item %s: an item that meters sessions measures %s", it.ID, MeasureDuration)
			}
			if other, dup := sessionItems[it.Sessions]; dup {
				add("item %s: %s sessions are already metered by %s", it.ID, it.Sessions, other)
			}
			sessionItems[it.Sessions] = it.ID
		}
	}
	c.plans = make(map[string]*Plan, len(c.Plans))
	for i, p := range c.Plans {
		if p.ID == "" {
			add("plans[%d]: missing id", i)
			continue
		}
		if _, dup := c.plans[p.ID]; dup {
			add("plans[%d]: duplicate id %s", i, p.ID)
		}
		c.plans[p.ID] = p
		pr, err := money.Parse(p.Price)
		if err != nil || pr.IsNegative() {
			add("plan %s: price must be a non-negative decimal", p.ID)
		}
		p.price = pr
		if p.HourlyRefund != "" {
			h, err := money.Parse(p.HourlyRefund)
			if err != nil || h.IsNegative() {
				add("plan %s: hourly_refund must be a non-negative decimal", p.ID)
			}
			p.hourly = h
		}
		if _, _, _, err := ParsePeriod(p.Period); err != nil {
			add("plan %s: %v", p.ID, err)
		}
	}
	for _, p := range c.Plans {
		for _, x := range p.PromoExcludes {
			if _, ok := c.plans[x]; !ok {
				add("plan %s: promo_excludes names unknown plan %s", p.ID, x)
			}
		}
	}
	// Every item a rule can produce or refer to must exist.
	for _, id := range c.ModelItems() {
		if _, ok := c.items[id]; !ok {
			add("metering %q produces item %s, which the catalog lacks", c.Metering, id)
		}
	}
	checkRatios := func(where string, r Ratios) {
		for id, v := range r {
			if _, ok := c.items[id]; !ok {
				add("%s: unknown item %s", where, id)
			}
			d, err := money.Parse(v)
			if err != nil || !d.IsPositive() {
				add("%s: ratio of %s must be a positive decimal", where, id)
			}
		}
	}
	if c.FreePack != nil {
		for i, t := range c.FreePack.Tables {
			if t.From != "" {
				if _, err := time.Parse(time.DateOnly, t.From); err != nil {
					add("free_pack.tables[%d].from: %v", i, err)
				}
			}
			if i > 0 && t.From <= c.FreePack.Tables[i-1].From {
				add("free_pack.tables[%d]: from dates must ascend", i)
			}
			checkRatios(fmt.Sprintf("free_pack.tables[%d]", i), t.Ratios)
		}
	}
	checkRatios("gift_ratios", c.GiftRatios)
	for i, ft := range c.FreeTiers {
		if _, ok := c.items[ft.Item]; !ok {
			add("free_tiers[%d]: unknown item %s", i, ft.Item)
		}
		if d, err := money.Parse(ft.Amount); err != nil || d.IsNegative() {
			add("free_tiers[%d]: amount must be a non-negative decimal", i)
		}
	}
	errs = append(errs, c.checkAdmission()...)
	return errors.Join(errs...)
}

// Location is the billing time zone.
func (c *Catalog) Location() *time.Location { return c.loc }

// DefaultSessionTimeout is the session timeout of a catalog that sets
// none: generous, so only sessions whose end was lost are closed.
const DefaultSessionTimeout = 24 * time.Hour

// SessionTimeoutDuration is how long a room participant or task may go without an
// event of its own before the meter closes it (session_timeout).
func (c *Catalog) SessionTimeoutDuration() time.Duration {
	if c.sessionTimeout == 0 { // a catalog that was not parsed
		return DefaultSessionTimeout
	}
	return c.sessionTimeout
}

// Item returns the item with the id.
func (c *Catalog) Item(id string) (*Item, bool) {
	it, ok := c.items[id]
	return it, ok
}

// SessionItem returns the item that meters sessions of a kind, if any.
func (c *Catalog) SessionItem(kind string) (*Item, bool) {
	if kind == "" {
		return nil, false
	}
	for _, it := range c.Items {
		if it.Sessions == kind {
			return it, true
		}
	}
	return nil, false
}

// Plan returns the plan with the id.
func (c *Catalog) Plan(id string) (*Plan, bool) {
	p, ok := c.plans[id]
	return p, ok
}

// ItemOrder returns the position of an item in the catalog (for sorting
// lines as the catalog lists them); unknown items sort last.
func (c *Catalog) ItemOrder(id string) int {
	if i, ok := c.get().order[id]; ok {
		return i
	}
	return len(c.Items)
}

// PriceOf returns the unit price, or an EUNPUBLISHED error naming the item.
func (it *Item) PriceOf() (money.Decimal, error) {
	if it.Unpublished {
		return money.Zero, livebill.Errorf(livebill.EUNPUBLISHED,
			"item %s has no published price: set one in a catalog override (extends + items: [{id: %s, price: ...}])", it.ID, it.ID)
	}
	return it.price, nil
}

// FreeBelowValue is the peak below which the item costs nothing.
func (it *Item) FreeBelowValue() (money.Decimal, bool) {
	return it.freeBelow, it.FreeBelow != ""
}

// PriceValue returns the plan's price.
func (p *Plan) PriceValue() money.Decimal { return p.price }

// HourlyRefundValue returns the hourly refund rate, if the plan has one.
func (p *Plan) HourlyRefundValue() (money.Decimal, bool) { return p.hourly, p.HourlyRefund != "" }

// TierOf returns the resolution tier of a (summed) area and whether the
// area is above the catalog's top tier (billed at the top tier).
func (c *Catalog) TierOf(area int64) (tier int, aboveTop bool) {
	for i, t := range c.ResolutionTiers {
		if t.MaxArea == 0 || area <= t.MaxArea {
			return i, c.TopTierArea > 0 && area > c.TopTierArea
		}
	}
	return len(c.ResolutionTiers) - 1, true
}

// RatioTable returns the free-pack ratio table for an account created on
// the given date.
func (fp *FreePack) RatioTable(created time.Time) Ratios {
	if i := fp.tableIndex(created); i >= 0 {
		return fp.Tables[i].Ratios
	}
	return nil
}

// tableIndex is the index of RatioTable's table, or -1 for none.
func (fp *FreePack) tableIndex(created time.Time) int {
	day := created.Format(time.DateOnly)
	n := -1
	for i, t := range fp.Tables {
		if t.From == "" || t.From <= day {
			n = i
		}
	}
	return n
}

// FreePackRatios is the free pack's ratio table for an account created on
// the given date (FreePack.RatioTable), parsed: pack minutes per usage
// minute, per item. The map is parsed once per catalog and shared: callers
// must not modify it. The catalog must have a free pack.
func (c *Catalog) FreePackRatios(created time.Time) (map[string]money.Decimal, error) {
	i := c.FreePack.tableIndex(created)
	if i < 0 {
		return map[string]money.Decimal{}, nil
	}
	d := c.get()
	return d.freeTables[i], d.freeErrs[i]
}

// GiftRatioValues is GiftRatios parsed, once per catalog and shared:
// callers must not modify the map.
func (c *Catalog) GiftRatioValues() (map[string]money.Decimal, error) {
	d := c.get()
	return d.gift, d.giftErr
}

// Parse reads the ratios as decimals.
func (r Ratios) Parse() (map[string]money.Decimal, error) {
	out := make(map[string]money.Decimal, len(r))
	for item, v := range r {
		d, err := money.Parse(v)
		if err != nil {
			return nil, fmt.Errorf("cannot parse the ratio of %s: %w", item, err)
		}
		out[item] = d
	}
	return out, nil
}

// MaxPeriodDays bounds a plan period of <n>d: ten years, longer than any
// plan sold, so that rating a purchase never spans centuries.
const MaxPeriodDays = 3660

// ParsePeriod reads a plan period: "month", "year", or "<n>d" (n from 1
// to MaxPeriodDays).
func ParsePeriod(s string) (months, years, days int, err error) {
	switch s {
	case "month":
		return 1, 0, 0, nil
	case "year":
		return 0, 1, 0, nil
	}
	var n int
	if _, err := fmt.Sscanf(s, "%dd", &n); err == nil && n > 0 && n <= MaxPeriodDays && strings.HasSuffix(s, "d") {
		return 0, 0, n, nil
	}
	return 0, 0, 0, fmt.Errorf("period must be month, year or <n>d (n at most %d), not %q", MaxPeriodDays, s)
}

// ModelItems lists the items the catalog's metering model produces, in the
// order of SPEC §2–3.
func (c *Catalog) ModelItems() []string {
	var ids []string
	tiers := make([]string, len(c.ResolutionTiers))
	for i, t := range c.ResolutionTiers {
		tiers[i] = t.Name
	}
	switch c.Metering {
	case "trtc":
		ids = append(ids, "trtc.av.audio")
		for _, t := range tiers {
			ids = append(ids, "trtc.av."+t)
		}
		ids = append(ids, "trtc.recording.audio")
		for _, t := range tiers {
			ids = append(ids, "trtc.recording."+t)
		}
		for _, d := range []string{"tencent", "third_party"} {
			ids = append(ids, "trtc.delivery."+d+".audio")
			for _, t := range tiers {
				ids = append(ids, "trtc.delivery."+d+"."+t)
			}
		}
		ids = append(ids, "trtc.transcode.audio")
		for _, codec := range []string{"h264", "h265"} {
			for _, t := range tiers {
				ids = append(ids, "trtc.transcode."+codec+"."+t)
			}
		}
		ids = append(ids, "trtc.relay.tencent", "trtc.relay.third_party", "trtc.screenshot")
	case "hst":
		ids = append(ids, "hst.audio")
		for _, t := range tiers {
			ids = append(ids, "hst.video."+t)
		}
		ids = append(ids, "hst.screen", "hst.miniprogram.audio", "hst.miniprogram.video", "hst.signal")
	case "flexmatch":
		ids = append(ids, "flexmatch.player_packs", "flexmatch.matchmaking_hours")
	case "":
	}
	return ids
}

// SortedItemIDs returns the catalog's item ids sorted, for messages.
func (c *Catalog) SortedItemIDs() []string {
	ids := make([]string, 0, len(c.items))
	for id := range c.items {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// BuiltinYAML returns the source of a built-in catalog.
func BuiltinYAML(name string) ([]byte, error) {
	return builtinFS.ReadFile("builtin/" + name + ".yaml")
}
