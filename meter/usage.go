package meter

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

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

// addSpans adds mult × the length of [a, b) to each charge's item, split at
// window boundaries so every window gets exactly its share. A span is
// worked through one block (an hour of windows) at a time: each charge's
// block is found once, and its windows are added to in a plain loop. A
// meter with thousands of rooms credits spans of many windows (everyone
// present, at each Advance), and finding the block per window was most of
// the cost.
func (m *Meter) addSpans(app *App, cs []charge, a, b int64) {
	const blockMS = blockWindows * WindowMS
	for a < b {
		ds, de := m.zone.day(a)
		blk := (a - ds) / blockMS
		bs := ds + blk*blockMS        // the block's start
		end := min(b, de, bs+blockMS) // the span's end in the block
		first := (a - bs) / WindowMS  // the window of a, in the block
		for _, c := range cs {
			bl := m.block(app, c.item, ds, blk)
			for s, i := a, first; s < end; i++ {
				we := min(bs+(i+1)*WindowMS, end)
				bl[i] += (we - s) * c.mult
				s = we
			}
		}
		a = end
	}
}

// addPoint adds a count to the window containing t.
func (m *Meter) addPoint(app *App, item uint16, t int64, n int64) {
	ds, _ := m.zone.day(t)
	idx := (t - ds) / WindowMS
	m.block(app, item, ds, idx/blockWindows)[idx%blockWindows] += n
}

// recentBlocks is how many blocks of each item an app keeps at hand
// (block), one per hour of the day modulo recentBlocks. Credits of one
// participant go to consecutive blocks, and at each Advance a meter with
// thousands of rooms credits everyone present for the hours since their
// last change: consecutive credits then go to the blocks of the last few
// hours, which one block at hand would miss every time.
const recentBlocks = 8

// block returns block blk of an item's windows of the local day starting
// at ds, creating it.
func (m *Meter) block(app *App, item uint16, ds, blk int64) *block {
	k := blockKey{item, int32(blk), ds}
	if n := (int(item) + 1) * recentBlocks; n > len(app.recent) {
		app.recent = append(app.recent, make([]blockRef, n-len(app.recent))...)
	}
	hour := uint64(ds/3_600_000 + blk) // consecutive across midnight, but for a DST change
	ref := &app.recent[int(item)*recentBlocks+int(hour%recentBlocks)]
	if ref.b == nil || ref.key != k {
		b := app.usage[k]
		if b == nil {
			b = new(block)
			app.usage[k] = b
		}
		*ref = blockRef{k, b}
	}
	return ref.b
}

// records lists the nonzero windows sorted by app, item, window. It sorts
// blocks, not windows (a twelfth as many, by integer keys): a block's
// windows are consecutive, and a local day's windows all lie inside that
// day, so ordering blocks by (item name, day, block) orders windows by time.
func (m *Meter) records() []Record {
	// rank orders interned item indexes by item name.
	byName := make([]uint16, len(m.items))
	for i := range byName {
		byName[i] = uint16(i)
	}
	slices.SortFunc(byName, func(a, b uint16) int { return strings.Compare(m.items[a], m.items[b]) })
	rank := make([]uint16, len(m.items))
	for r, i := range byName {
		rank[i] = uint16(r)
	}
	apps := make([]*App, 0, len(m.apps))
	n := 0
	for _, a := range m.apps {
		apps = append(apps, a)
		for _, b := range a.usage {
			for _, v := range b {
				if v != 0 {
					n++
				}
			}
		}
	}
	slices.SortFunc(apps, func(a, b *App) int { return strings.Compare(a.ID, b.ID) })
	out := make([]Record, 0, n)
	var blocks []blockRef
	for _, a := range apps {
		blocks = blocks[:0]
		for k, b := range a.usage {
			blocks = append(blocks, blockRef{k, b})
		}
		slices.SortFunc(blocks, func(x, y blockRef) int {
			if c := cmp.Compare(rank[x.key.item], rank[y.key.item]); c != 0 {
				return c
			}
			if c := cmp.Compare(x.key.day, y.key.day); c != 0 {
				return c
			}
			return cmp.Compare(x.key.block, y.key.block)
		})
		for _, br := range blocks {
			k := br.key
			for i, v := range br.b {
				if v != 0 {
					w := k.day + (int64(k.block)*blockWindows+int64(i))*WindowMS
					out = append(out, Record{a.ID, m.items[k.item], w, v})
				}
			}
		}
	}
	return out
}
