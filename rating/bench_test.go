package rating

import (
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
	"github.com/livebill/livebill/meter"
)

// BenchmarkRateDay rates one account as the daily settlement benchmark
// (bench.BenchmarkSettleDay) does: trtc in account mode, created on the
// day settled, one app with two users for 25 minutes, one publishing 720p
// and the other receiving it (A/V audio and HD minutes in six 5-minute
// windows each).
func BenchmarkRateDay(b *testing.B) {
	cat, err := catalog.Load("trtc")
	if err != nil {
		b.Fatal(err)
	}
	day := d("2024-10-01")
	start := day.Add(10*time.Hour + 150*time.Second).UnixMilli()
	end := start + 25*60_000
	var recs []meter.Record
	for _, item := range []string{"trtc.av.audio", "trtc.av.hd"} {
		for w := start - start%300_000; w < end; w += 300_000 {
			v := min(end, w+300_000) - max(start, w)
			recs = append(recs, meter.Record{App: "1400000001", Item: item, Window: w, Value: v})
		}
	}
	in := Input{Catalog: cat, Location: cat.Location(), Mode: ModeAccount, From: day, To: day.AddDate(0, 0, 1),
		Account: livebill.Account{ID: "100000", Created: day, Activated: day}}
	b.ReportAllocs()
	for b.Loop() {
		in.Records = append(in.Records[:0], recs...)
		if _, err := Rate(in); err != nil {
			b.Fatal(err)
		}
	}
}
