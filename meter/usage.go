package meter

import "time"

// WindowMS is the length of a deduction window: usage is kept per 5-minute
// window of the billing day so deduction can replay it in time order and
// rating can group it by day or month.
const WindowMS = 5 * 60 * 1000

// Usage is stored in blocks of consecutive windows of one item and local
// day: consecutive credits land in the same block, found through the app's
// per-item last-block pointer without a map lookup.
const blockWindows = 12

type block [blockWindows]int64

// blockKey addresses a block: windows block*12 … block*12+11 of the local
// day starting at day (Unix ms).
type blockKey struct {
	item  uint16
	block int32
	day   int64
}

type blockRef struct {
	key blockKey
	b   *block
}

// zoneCache maps instants to billing days without a time-zone lookup for
// every interval: events arrive roughly in time order, so the last day
// found is almost always the right one.
type zoneCache struct {
	loc        *time.Location
	start, end int64 // the cached local day, [start, end) in Unix ms
}

// day returns the local day [start, end) containing t. Days can be 23 or 25
// hours long across a DST change; windows count from the local midnight.
func (z *zoneCache) day(t int64) (start, end int64) {
	if t >= z.start && t < z.end {
		return z.start, z.end
	}
	tt := time.UnixMilli(t).In(z.loc)
	y, m, d := tt.Date()
	s := time.Date(y, m, d, 0, 0, 0, 0, z.loc)
	z.start, z.end = s.UnixMilli(), s.AddDate(0, 0, 1).UnixMilli()
	return z.start, z.end
}

// addSpan adds mult × the length of [a, b) to an item, split at window
// boundaries so every window gets exactly its share.
func (m *Meter) addSpan(app *App, item uint16, a, b int64, mult int64) {
	for a < b {
		ds, de := m.zone.day(a)
		idx := (a - ds) / WindowMS
		we := ds + (idx+1)*WindowMS
		if we > de {
			we = de
		}
		seg := b
		if seg > we {
			seg = we
		}
		*m.slot(app, item, ds, idx) += (seg - a) * mult
		a = seg
	}
}

// addPoint adds a count to the window containing t.
func (m *Meter) addPoint(app *App, item uint16, t int64, n int64) {
	ds, _ := m.zone.day(t)
	*m.slot(app, item, ds, (t-ds)/WindowMS) += n
}

// slot returns the counter of window idx of the local day starting at ds.
func (m *Meter) slot(app *App, item uint16, ds, idx int64) *int64 {
	k := blockKey{item, int32(idx / blockWindows), ds}
	if int(item) >= len(app.last) {
		app.last = append(app.last, make([]blockRef, int(item)+1-len(app.last))...)
	}
	ref := &app.last[item]
	if ref.b == nil || ref.key != k {
		b := app.usage[k]
		if b == nil {
			b = new(block)
			app.usage[k] = b
		}
		*ref = blockRef{k, b}
	}
	return &ref.b[idx%blockWindows]
}
