package console

import (
	"strings"
	"time"

	"github.com/livebill/livebill/catalog"
)

// Helpers the templates call.

// Cat is the account's catalog.
func (h *head) Cat() *catalog.Catalog { return h.cat }

// Main is what the pack is worth in the items of its first family (the
// A/V tiers for TRTC packs); More is the rest of its ratio table.
func (p packView) Main() []worth { m, _ := p.split(); return m }

// More: see Main.
func (p packView) More() []worth { _, r := p.split(); return r }

func (p packView) split() (main, more []worth) {
	if len(p.Worth) == 0 {
		return nil, nil
	}
	fam := family(p.Worth[0].Item)
	for _, w := range p.Worth {
		if family(w.Item) == fam {
			main = append(main, w)
		} else {
			more = append(more, w)
		}
	}
	return main, more
}

// family is an item's id without its last part (trtc.av.hd → trtc.av).
func family(item string) string {
	if i := strings.LastIndexByte(item, '.'); i > 0 {
		return item[:i]
	}
	return item
}

// Duration is a countdown in hours and minutes.
func (l *locale) Duration(d time.Duration) string {
	m := int64(d.Round(time.Minute) / time.Minute)
	return l.T("fmt.duration", m/60, m%60)
}

// Unit is a unit's name in the language (minute, Mbps, …).
func (l *locale) Unit(u string) string {
	if k := "unit." + u; l.Has(k) {
		return l.T(k)
	}
	return u
}

// Notice explains a notice code in words (the API's message follows it).
func (l *locale) Notice(code string) string {
	if k := "notice." + code; l.Has(k) {
		return l.T(k)
	}
	return code
}

// Kind names a bill kind.
func (l *locale) Kind(kind string) string {
	if k := "kind." + kind; l.Has(k) {
		return l.T(k)
	}
	return kind
}

// BillDate names a bill's period: its day, or its month for a monthly bill.
func (l *locale) BillDate(kind, date string) string {
	if kind == "monthly" && len(date) >= 7 {
		return l.Month(date[:7])
	}
	return l.Date(date)
}

// Period names a plan's period (month, year, 7d).
func (l *locale) Period(p string) string {
	if k := "period." + p; l.Has(k) {
		return l.T(k)
	}
	if n, ok := strings.CutSuffix(p, "d"); ok {
		return l.T("period.days", n)
	}
	return p
}

// Family names an item family (trtc.av) in the language, else its id.
func (l *locale) Family(f string) string {
	if k := "family." + f; l.Has(k) {
		return l.T(k)
	}
	return f
}
