// Package scenario reads scenario files (SPEC §7.2) — a catalog, a period,
// an account, purchases and events — quotes them, and compares a quote with
// the file's expectations. `livebill quote` and `livebill test` are thin
// wrappers around it.
package scenario

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
	"github.com/livebill/livebill/eventio"
	"github.com/livebill/livebill/internal/yamlerr"
	"github.com/livebill/livebill/lifecycle"
	"github.com/livebill/livebill/meter"
	"github.com/livebill/livebill/money"
	"github.com/livebill/livebill/rating"
	"go.yaml.in/yaml/v3"
)

// File is a scenario file.
type File struct {
	Mode       string      `yaml:"mode"`
	Catalog    string      `yaml:"catalog"`
	Period     Period      `yaml:"period"`
	Account    *Account    `yaml:"account"`
	Apps       []string    `yaml:"apps"`
	Devices    []Device    `yaml:"devices"`
	Plans      []Plan      `yaml:"plans"`
	Refunds    []Refund    `yaml:"refunds"`
	TopUps     []TopUp     `yaml:"topups"`
	AppActions []AppAction `yaml:"app_actions"`
	Events     yaml.Node   `yaml:"events"`
	EventsFile string      `yaml:"events_file"`
	Expect     *Expect     `yaml:"expect"`
	Notes      interface{} `yaml:"notes"` // free text for people; ignored

	path   string
	bounds livebill.TimeBounds // the event times Run accepts
}

// EventMargin is how far before period.from and after period.to a
// scenario's events may lie: events before the period set up what is
// running when it starts (a session, a month's logins), and events after
// it are not billed. An event further out is rejected with the field
// time named, so a few bytes of scenario (a join in 2024, an event in
// 9999) cannot make the meter run for millennia.
const EventMargin = 31 * 24 * time.Hour

// Period is a half-open range of dates in the billing zone.
type Period struct {
	From string `yaml:"from"`
	To   string `yaml:"to"`
}

// Account is the scenario's account.
type Account struct {
	ID        string `yaml:"id"`
	Created   string `yaml:"created"`
	Activated string `yaml:"activated"`
	Balance   string `yaml:"balance"`
	Timezone  string `yaml:"timezone"`
}

// Device is an industrial field device.
type Device struct {
	ID      string `yaml:"id"`
	Cameras []struct {
		Width  int `yaml:"width"`
		Height int `yaml:"height"`
	} `yaml:"cameras"`
}

// Plan is a purchase.
type Plan struct {
	ID        string `yaml:"id"`
	App       string `yaml:"app"`
	Plan      string `yaml:"plan"`
	Count     int    `yaml:"count"`
	Region    string `yaml:"region"`
	Device    string `yaml:"device"`
	Start     string `yaml:"start"`
	AutoRenew bool   `yaml:"auto_renew"`
}

// Refund is a refund request.
type Refund struct {
	Plan  string `yaml:"plan"`
	Count int    `yaml:"count"`
	Time  string `yaml:"time"`
}

// TopUp credits the account's balance at a time (SPEC §7.2 extension).
type TopUp struct {
	ID     string `yaml:"id"`
	Time   string `yaml:"time"`
	Amount string `yaml:"amount"`
}

// AppAction is an operator disabling or enabling an app at a time (SPEC
// §7.2 extension).
type AppAction struct {
	App    string `yaml:"app"`
	Action string `yaml:"action"` // disable or enable
	Time   string `yaml:"time"`
}

// Expect holds the values `livebill test` checks.
type Expect struct {
	Total   *string                `yaml:"total"`
	Lines   map[string]ExpectValue `yaml:"lines"`
	Usage   map[string]ExpectValue `yaml:"usage"`
	Notices []string               `yaml:"notices"`
	Account *ExpectAccount         `yaml:"account"`
}

// ExpectAccount is the expected account lifecycle at the period's end.
type ExpectAccount struct {
	State   *string `yaml:"state"`
	Balance *string `yaml:"balance"` // the closing balance
}

// ExpectValue is an expected line or usage entry; unset fields are not
// checked.
type ExpectValue struct {
	Quantity *string `yaml:"quantity"`
	Amount   *string `yaml:"amount"`
	Covered  *string `yaml:"covered"`
	Blocked  *string `yaml:"blocked"`
}

// Load reads a scenario file (YAML or JSON).
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, livebill.Errorf(livebill.EINVALID, "cannot read scenario: %v", err)
	}
	f, err := Parse(b, path)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Parse decodes a scenario document; path resolves events_file and catalog
// paths and names the file in messages.
func Parse(b []byte, path string) (*File, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, livebill.Errorf(livebill.EINVALID, "%s: %s", path, yamlerr.Message(err))
	}
	f.path = path
	return &f, f.validate()
}

func (f *File) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, livebill.Errorf(livebill.EINVALID, "%s: "+format, append([]any{f.path}, args...)...))
	}
	switch f.Mode {
	case "", rating.ModeAccount, rating.ModeCalculator:
	default:
		bad("mode must be account or calculator, not %q", f.Mode)
	}
	if f.Catalog == "" {
		bad("catalog: missing (built-in: %v, or a catalog file)", catalog.Builtin())
	}
	if f.Period.From == "" || f.Period.To == "" {
		bad("period: needs from and to dates")
	}
	if f.Events.Kind != 0 && f.EventsFile != "" {
		bad("give events or events_file, not both")
	}
	if f.Events.Kind != 0 && f.Events.Kind != yaml.SequenceNode {
		bad("events: must be a list (line %d)", f.Events.Line)
	}
	return errors.Join(errs...)
}

// Result is a quote and the events rejected on the way.
type Result struct {
	Quote *livebill.Quote
	// Rejected lists the events rejected: first those rejected when read
	// (at most MaxListed, in line order), then those the meter refused
	// (at most its MaxErrors, the lowest lines).
	Rejected []error
	// Unlisted counts the events rejected when read past the first
	// MaxListed: a file of millions of bad lines is not held as millions
	// of errors.
	Unlisted int
	Events   int
}

// MaxListed is how many events rejected when read a Result lists.
const MaxListed = 1000

// RejectedCount is the number of events rejected, listed or not.
func (r *Result) RejectedCount() int { return len(r.Rejected) + r.Unlisted }

// reject notes an event rejected when read. Called while feeding, before
// the meter's rejections are added, so Rejected holds only these.
func (r *Result) reject(err error) {
	if len(r.Rejected) < MaxListed {
		r.Rejected = append(r.Rejected, err)
	} else {
		r.Unlisted++
	}
}

// restart forgets what a feed found, to feed the events again.
func (r *Result) restart() { r.Events, r.Rejected, r.Unlisted = 0, nil, 0 }

// Run quotes the scenario. Invalid events are returned in Rejected and left
// out; other problems are errors.
func (f *File) Run() (*Result, error) {
	catRef := f.Catalog
	if _, err := catalog.Load(catRef); err != nil && !filepath.IsAbs(catRef) {
		// a catalog file relative to the scenario
		if p := filepath.Join(filepath.Dir(f.path), catRef); fileExists(p) {
			catRef = p
		}
	}
	cat, err := catalog.Load(catRef)
	if err != nil {
		return nil, err
	}
	loc := cat.Location()
	acct := livebill.Account{}
	if a := f.Account; a != nil {
		if a.Timezone != "" {
			if loc, err = time.LoadLocation(a.Timezone); err != nil {
				return nil, livebill.Errorf(livebill.EINVALID, "%s: account.timezone: %v", f.path, err)
			}
		}
		acct = livebill.Account{ID: a.ID, Balance: a.Balance, Timezone: a.Timezone}
		if acct.Created, err = date(a.Created, loc, "account.created"); err != nil {
			return nil, f.wrap(err)
		}
		if acct.Activated, err = date(a.Activated, loc, "account.activated"); err != nil {
			return nil, f.wrap(err)
		}
		if acct.Activated.IsZero() {
			acct.Activated = acct.Created
		}
	}
	from, err := date(f.Period.From, loc, "period.from")
	if err != nil {
		return nil, f.wrap(err)
	}
	to, err := date(f.Period.To, loc, "period.to")
	if err != nil {
		return nil, f.wrap(err)
	}
	if !from.Before(to) {
		return nil, livebill.Errorf(livebill.EINVALID, "%s: period: from must be before to", f.path)
	}
	if err := livebill.CheckInstant("period.from", from); err != nil {
		return nil, f.wrap(err)
	}
	if to.After(from.AddDate(livebill.MaxQuoteYears, 0, 0)) {
		return nil, livebill.Errorf(livebill.EINVALID, "%s: period.to: at most %d years after period.from", f.path, livebill.MaxQuoteYears)
	}
	for _, d := range []struct {
		name string
		t    time.Time
	}{{"account.created", acct.Created}, {"account.activated", acct.Activated}} {
		if !d.t.IsZero() {
			if err := livebill.CheckInstant(d.name, d.t); err != nil {
				return nil, f.wrap(err)
			}
		}
	}
	f.bounds = livebill.TimeBounds{Earliest: from.Add(-EventMargin), Latest: to.Add(EventMargin),
		TooOld: fmt.Sprintf("more than %s before period.from (%s)", livebill.Days(EventMargin), f.Period.From),
		TooNew: fmt.Sprintf("more than %s after period.to (%s)", livebill.Days(EventMargin), f.Period.To)}
	in := rating.Input{Catalog: cat, Location: loc, Mode: f.Mode, From: from, To: to, Account: acct}
	for _, d := range f.Devices {
		dev := livebill.Device{ID: d.ID}
		for _, c := range d.Cameras {
			dev.Cameras = append(dev.Cameras, livebill.Size{Width: c.Width, Height: c.Height})
		}
		in.Devices = append(in.Devices, dev)
	}
	for i, p := range f.Plans {
		start, err := instant(p.Start, loc, fmt.Sprintf("plans[%d].start", i))
		if err != nil {
			return nil, f.wrap(err)
		}
		if err := livebill.CheckInstant(fmt.Sprintf("plans[%d].start", i), start); err != nil {
			return nil, f.wrap(err)
		}
		if p.Plan == "" {
			return nil, livebill.Errorf(livebill.EINVALID, "%s: plans[%d].plan: missing", f.path, i)
		}
		id := p.ID
		if id == "" {
			id = fmt.Sprintf("plan-%d", i+1)
		}
		in.Purchases = append(in.Purchases, livebill.Purchase{ID: id, App: p.App, Plan: p.Plan, Count: p.Count,
			Region: p.Region, Device: p.Device, Start: start, AutoRenew: p.AutoRenew})
	}
	for i, r := range f.Refunds {
		t, err := instant(r.Time, loc, fmt.Sprintf("refunds[%d].time", i))
		if err != nil {
			return nil, f.wrap(err)
		}
		if err := livebill.CheckInstant(fmt.Sprintf("refunds[%d].time", i), t); err != nil {
			return nil, f.wrap(err)
		}
		in.Refunds = append(in.Refunds, livebill.RefundRequest{Plan: r.Plan, Count: r.Count, Time: t})
	}

	lc, err := f.lifecycle(cat, loc, from)
	if err != nil {
		return nil, f.wrap(err)
	}
	res := &Result{}
	feed := func(m *meter.Meter) error {
		res.restart() // fed again when the lifecycle blocks usage
		return f.feed(m, res, to.UnixMilli())
	}
	q, rejected, err := ComputeLifecycle(in, feed, lc)
	if err != nil {
		return nil, err
	}
	res.Rejected = append(res.Rejected, rejected...)
	res.Quote = q
	return res, nil
}

// lifecycle reads the scenario's balance, top-ups and app actions (SPEC
// §7.2 extension); nil when the quote applies no lifecycle (calculator
// mode, or none given).
func (f *File) lifecycle(cat *catalog.Catalog, loc *time.Location, from time.Time) (*Lifecycle, error) {
	if f.Mode == rating.ModeCalculator {
		if len(f.TopUps) > 0 || len(f.AppActions) > 0 {
			return nil, fmt.Errorf("topups and app_actions need mode account (calculator mode has no account)")
		}
		return nil, nil
	}
	lc := &Lifecycle{Terms: cat.Terms()}
	if f.Account != nil && f.Account.Balance != "" {
		b, err := money.Parse(f.Account.Balance)
		if err != nil {
			return nil, fmt.Errorf("account.balance: must be a decimal, not %q", f.Account.Balance)
		}
		lc.Opening, lc.Arrears = b, true
	}
	if f.Account != nil {
		lc.Account = f.Account.ID
	}
	for i, t := range f.TopUps {
		at, err := instant(t.Time, loc, fmt.Sprintf("topups[%d].time", i))
		if err != nil {
			return nil, err
		}
		amt, err := money.Parse(t.Amount)
		if err != nil || !amt.IsPositive() {
			return nil, fmt.Errorf("topups[%d].amount: must be a positive decimal, not %q", i, t.Amount)
		}
		id := t.ID
		if id == "" {
			id = fmt.Sprintf("topup-%d", i+1)
		}
		lc.TopUps = append(lc.TopUps, lifecycle.TopUp{ID: id, At: at, Amount: amt})
		lc.Arrears = true
	}
	for i, a := range f.AppActions {
		at, err := instant(a.Time, loc, fmt.Sprintf("app_actions[%d].time", i))
		if err != nil {
			return nil, err
		}
		if a.App == "" {
			return nil, fmt.Errorf("app_actions[%d].app: missing", i)
		}
		if a.Action != livebill.AppDisable && a.Action != livebill.AppEnable {
			return nil, fmt.Errorf("app_actions[%d].action: must be disable or enable, not %q", i, a.Action)
		}
		lc.Actions = append(lc.Actions, lifecycle.AppAction{App: a.App, Action: a.Action, At: at})
	}
	if !lc.Arrears && len(lc.Actions) == 0 {
		return nil, nil
	}
	return lc, nil
}

// Compute is the quote pipeline shared by scenario files and the service:
// it meters the events feed gives (in time order per room), closes the
// meter at in.To and rates the usage with in's catalog, account and
// purchases. in.Records, Relays, MAU and Notices are filled here. The
// meter's rejections (state errors) are returned beside the quote.
func Compute(in rating.Input, feed func(*meter.Meter) error) (*livebill.Quote, []error, error) {
	m, err := Meter(in, feed)
	if err != nil {
		return nil, nil, err
	}
	in.Records, in.Relays, in.MAU, in.Notices = m.Records(), m.Relays(), m.MAU(), m.NoticesIn(in.From.UnixMilli(), in.To.UnixMilli())
	q, err := rating.Rate(in)
	if err != nil {
		return nil, nil, err
	}
	return q, m.Errors(), nil
}

// Meter meters the events feed gives with in's catalog and zone and closes
// the meter at in.To.
func Meter(in rating.Input, feed func(*meter.Meter) error) (*meter.Meter, error) {
	loc := in.Location
	if loc == nil {
		loc = in.Catalog.Location()
	}
	m, err := meter.New(in.Catalog, meter.Options{Location: loc, Dissolutions: Dissolutions(in.Blocks)})
	if err != nil {
		return nil, err
	}
	if err := feed(m); err != nil {
		return nil, err
	}
	m.Close(in.To.UnixMilli())
	return m, nil
}

func (f *File) wrap(err error) error {
	return livebill.Errorf(livebill.EINVALID, "%s: %v", f.path, err)
}

// feed streams the scenario's events into the meter, which the quote
// closes at instant to (Unix ms).
func (f *File) feed(m *meter.Meter, res *Result, to int64) error {
	if f.EventsFile != "" {
		p := f.EventsFile
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(f.path), p)
		}
		fh, err := os.Open(p)
		if err != nil {
			return livebill.Errorf(livebill.EINVALID, "%s: events_file: %v", f.path, err)
		}
		defer fh.Close()
		if st, err := fh.Stat(); err == nil && st.IsDir() {
			return livebill.Errorf(livebill.EINVALID, "%s: events_file: %s is a directory, not an NDJSON file", f.path, p)
		}
		err = feedNDJSON(m, fh, p, res, &f.bounds, to)
		if err == errUnordered {
			// Rooms may interleave out of time order (docs/decisions.md,
			// "Event order"): the file is metered again from its start, the
			// meter holding every room it sees.
			if _, err := fh.Seek(0, io.SeekStart); err != nil {
				return livebill.Errorf(livebill.EINVALID, "%s: events_file: its events are out of time order across rooms, and it cannot be read again: %v", f.path, err)
			}
			m.Reset()
			res.restart()
			err = feedNDJSON(m, fh, p, res, &f.bounds, noAdvance)
		}
		return err
	}
	var e livebill.Event
	for _, n := range f.Events.Content {
		var v any
		if err := n.Decode(&v); err != nil {
			return livebill.Errorf(livebill.EINVALID, "%s:%d: %v", f.path, n.Line, err)
		}
		b, err := json.Marshal(JSONValue(v))
		if err != nil {
			return livebill.Errorf(livebill.EINVALID, "%s:%d: %v", f.path, n.Line, err)
		}
		res.Events++
		err = eventio.Parse(b, &e)
		e.Line = n.Line
		if err == nil {
			err = f.bounds.Check(&e)
		}
		if err != nil {
			var ee *livebill.EventError
			if errors.As(err, &ee) {
				ee.Source, ee.Line = f.path, n.Line
			}
			res.reject(err)
			continue
		}
		m.Apply(&e)
	}
	return nil
}

// FeedNDJSON streams an NDJSON event file into the meter; bad lines are
// rejected and reading goes on.
func FeedNDJSON(m *meter.Meter, r io.Reader, source string, res *Result) error {
	return feedNDJSON(m, r, source, res, nil, noAdvance)
}

// advanceEvery is how many events feedNDJSON applies between two advances
// of the meter.
var advanceEvery = 1 << 18

// noAdvance is the until of a feedNDJSON that does not advance the meter.
const noAdvance = math.MinInt64

// errUnordered ends a feedNDJSON that advanced the meter past the time of
// an event it then read.
var errUnordered = errors.New("events out of time order after the meter advanced")

// feedNDJSON is FeedNDJSON rejecting, when bounds is not nil, the events
// outside them. Unless until is noAdvance, every advanceEvery events it
// advances the meter to the time of the event read, up to instant until
// (where the quote closes the meter, so that advancing changes nothing it
// reports): while the file's events come in time order, every earlier
// event has been applied, so the meter lets go of the rooms nobody is in
// any more and holds the open sessions, not the file's history. An event
// earlier than that instant ends the read with errUnordered, and the
// file must be metered again from its start without advancing.
//
// The file is decoded on a goroutine of its own (eventio.ReadAhead) and
// checked here. When it advances, its rooms are split among feedShards
// meters (meter.ShardOf), each applying its events on a goroutine of its
// own: metering is most of a quote's work, and a room's events change
// only that room. The other meters are closed at until and absorbed into
// m, which the quote closes there.
func feedNDJSON(m *meter.Meter, r io.Reader, source string, res *Result, bounds *livebill.TimeBounds, until int64) error {
	meters := []*meter.Meter{m}
	if until != noAdvance {
		for len(meters) < feedShards() {
			meters = append(meters, m.Sibling())
		}
	}
	ra := eventio.NewReadAhead(eventio.NewDecoder(r, source))
	defer ra.Close()
	sh := startShards(meters, ra)
	err := feedChecked(ra, sh, source, res, bounds, until, len(meters))
	sh.stop()
	if err != nil {
		return err
	}
	for _, o := range meters[1:] {
		o.Close(until)
		m.Absorb(o)
	}
	if res.Events >= collectAfter {
		// The rooms let go of while reading and the other meters' are
		// garbage: collected now (25 ms after 10M events), the memory
		// they held is reused by the rating instead of added to.
		runtime.GC()
	}
	return nil
}

// collectAfter is how many events a file has for feedNDJSON to collect
// the garbage it leaves.
const collectAfter = 1_000_000

// feedChecked reads ra's batches, checks each event and hands the batches
// on to the meters: it rejects the bad lines, marks the advances and says
// which meter applies each event.
func feedChecked(ra *eventio.ReadAhead, sh *shards, source string, res *Result, bounds *livebill.TimeBounds, until int64, n int) error {
	advanced, count := int64(math.MinInt64), 0
	for {
		b, err := ra.NextBatch()
		if err == io.EOF {
			return nil
		}
		w := sh.work(b)
		var stop error // the end of the stream, or why reading ends
		for i := range b.Events {
			w.meter[i] = skipEvent
			if stop != nil {
				continue
			}
			e, err := &b.Events[i], b.Errs[i]
			if err == nil && bounds != nil {
				if err = bounds.Check(e); err != nil {
					err.(*livebill.EventError).Source = source
				}
			}
			if err != nil {
				if !isEventError(err) {
					stop = err // io.EOF, or the stream failed
					continue
				}
				res.reject(err)
				res.Events++
				continue
			}
			res.Events++
			if until != noAdvance {
				if e.Time < advanced {
					stop = errUnordered
					continue
				}
				if count++; count >= advanceEvery && advanced < e.Time && e.Time <= until {
					w.advance = append(w.advance, shardAdvance{i, e.Time})
					advanced, count = e.Time, 0
				}
			}
			w.meter[i] = uint8(meter.ShardOf(e, n))
		}
		sh.send(w)
		if stop == io.EOF {
			return nil
		}
		if stop != nil {
			return stop
		}
	}
}

// isEventError reports whether err is about one event (a bad line) rather
// than the reading. Apart from feedNDJSON's loop so that its target does
// not escape to the heap on every event.
func isEventError(err error) bool {
	var ee *livebill.EventError
	return errors.As(err, &ee)
}

// JSONValue converts YAML-decoded values (time.Time for unquoted times,
// map[string]any) into values encoding/json writes as the schema expects.
func JSONValue(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case map[string]any:
		for k, e := range x {
			x[k] = JSONValue(e)
		}
	case []any:
		for i, e := range x {
			x[i] = JSONValue(e)
		}
	}
	return v
}

func date(s string, loc *time.Location, field string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation(time.DateOnly, s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: must be a date YYYY-MM-DD, not %q", field, s)
	}
	return t, nil
}

// instant reads a date (00:00 in the billing zone) or an RFC 3339 time.
func instant(s string, loc *time.Location, field string) (time.Time, error) {
	if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: must be a date or an RFC 3339 time, not %q", field, s)
	}
	return t, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
