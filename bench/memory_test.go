package bench

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
	"github.com/livebill/livebill/meter"
)

// BenchmarkMeterMemory1M measures the meter's memory with 1,000,000 users
// in rooms at once (LIVEBILL_BENCH_USERS overrides the count): rooms of
// 2, 10 and 100 users over 10 apps, everyone joining with subscribe=all,
// every fifth user (at least one a room) publishing 720p main video. The
// joins are spread over an hour; memory is read when everyone is in,
// then all leave and the meter is closed. Events are built in memory (no
// JSON): this is the meter's state, not the decoder's.
//
// Reported: live heap after everyone joined (runtime.ReadMemStats after a
// GC), bytes per in-room user, and the process's peak RSS (VmHWM, which
// includes the earlier sub-benchmarks of the run: run one at a time for a
// clean figure).
//
//	go test ./bench -run '^$' -bench 'MeterMemory1M/users_per_room=10$' -benchtime 1x
func BenchmarkMeterMemory1M(b *testing.B) {
	users := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("LIVEBILL_BENCH_USERS")); err == nil && v > 0 {
		users = v
	}
	cat, err := catalog.Load("trtc")
	if err != nil {
		b.Fatal(err)
	}
	for _, per := range []int{2, 10, 100} {
		b.Run(fmt.Sprintf("users_per_room=%d", per), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchMemory(b, cat, users, per)
			}
		})
	}
}

func benchMemory(b *testing.B, cat *catalog.Catalog, users, per int) {
	rooms := users / per
	t0 := time.Date(2024, 10, 1, 10, 0, 0, 0, cst).UnixMilli()
	step := int64(3_600_000) / int64(users) // joins over an hour
	if step == 0 {
		step = 1
	}
	apps := appIDs(10)
	roomIDs := make([]string, rooms)
	for r := range roomIDs {
		roomIDs[r] = "r" + strconv.Itoa(r)
	}
	userIDs := make([]string, per)
	for u := range userIDs {
		userIDs[u] = "u" + strconv.Itoa(u)
	}
	runtime.GC()
	var ms0, ms1, ms2 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	start := time.Now()
	m, err := meter.New(cat, meter.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var e livebill.Event
	t := t0
	n := 0
	for u := 0; u < per; u++ { // round-robin over rooms: every room is open throughout
		for r := 0; r < rooms; r++ {
			e = livebill.Event{Type: livebill.RoomJoin, Time: t, App: apps[r%len(apps)], Room: roomIDs[r], User: userIDs[u], Subscribe: "all"}
			m.Apply(&e)
			n++
			if u%5 == 0 {
				e = livebill.Event{Type: livebill.StreamStart, Time: t, App: apps[r%len(apps)], Room: roomIDs[r], User: userIDs[u], Stream: "main", Media: "video", Width: 1280, Height: 720}
				m.Apply(&e)
				n++
			}
			t += step
		}
	}
	joined := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	for u := 0; u < per; u++ {
		for r := 0; r < rooms; r++ {
			e = livebill.Event{Type: livebill.RoomLeave, Time: t, App: apps[r%len(apps)], Room: roomIDs[r], User: userIDs[u]}
			m.Apply(&e)
			n++
		}
	}
	m.Close(t + 1)
	el := time.Since(start)
	if errs := m.Errors(); len(errs) > 0 {
		b.Fatalf("%d meter errors, first %v", len(errs), errs[0])
	}
	runtime.ReadMemStats(&ms2)
	live := int64(ms1.HeapAlloc) - int64(ms0.HeapAlloc)
	b.ReportMetric(float64(live)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(live)/float64(rooms*per), "B/user")
	b.ReportMetric(float64(peakRSS())/(1<<20), "peakRSS-MiB")
	b.ReportMetric(float64(n)/el.Seconds(), "events/s")
	b.ReportMetric(joined.Seconds(), "s-to-join")
	b.ReportMetric(float64(ms2.Mallocs-ms0.Mallocs)/float64(n), "allocs/event")
	runtime.KeepAlive(m)
}
