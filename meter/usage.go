package meter

import "time"

// WindowMS is the length of a deduction window: usage is kept per 5-minute
// window of the billing day so deduction can replay it in time order and
// rating can group it by day or month.
const WindowMS = 5 * 60 * 1000

// winKey addresses one item's usage in one window of an app.
type winKey struct {
	item   uint16
	window int64 // Unix ms of the window's start
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

// window returns the start of the 5-minute window containing t and the
// window's end (clamped to the day's end).
func (z *zoneCache) window(t int64) (start, end int64) {
	ds, de := z.day(t)
	start = ds + (t-ds)/WindowMS*WindowMS
	end = start + WindowMS
	if end > de {
		end = de
	}
	return start, end
}

// addSpan adds mult × the length of [a, b) to an item, split at window
// boundaries so every window gets exactly its share.
func (m *Meter) addSpan(app *App, item uint16, a, b int64, mult int64) {
	for a < b {
		ws, we := m.zone.window(a)
		seg := b
		if seg > we {
			seg = we
		}
		app.usage[winKey{item, ws}] += (seg - a) * mult
		a = seg
	}
}

// addPoint adds a count to the window containing t.
func (m *Meter) addPoint(app *App, item uint16, t int64, n int64) {
	ws, _ := m.zone.window(t)
	app.usage[winKey{item, ws}] += n
}
