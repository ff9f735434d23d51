package meter_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
	"github.com/livebill/livebill/eventio"
	"github.com/livebill/livebill/gen"
	"github.com/livebill/livebill/meter"
)

// benchEvents is the workload size: 1M events over ~1,000 concurrent rooms
// of 20 apps, about 30 hours across a midnight in Asia/Shanghai.
const benchEvents = 1_000_000

var (
	workMu    sync.Mutex
	workloads = map[float64][]byte{} // by task share; generated once
)

func workload(b *testing.B, tasks float64) []byte {
	workMu.Lock()
	defer workMu.Unlock()
	if w, ok := workloads[tasks]; ok {
		return w
	}
	var buf bytes.Buffer
	buf.Grow(benchEvents * 200)
	if _, err := gen.Write(&buf, gen.Config{Events: benchEvents, Apps: 20, Seed: 1, Tasks: tasks}); err != nil {
		b.Fatal(err)
	}
	workloads[tasks] = buf.Bytes()
	return buf.Bytes()
}

// BenchmarkMeterNDJSON meters NDJSON bytes in memory through the decoder
// and the meter to per-(app, day, item) usage. Run it on one core with
//
//	GOMAXPROCS=1 go test ./meter -run '^$' -bench MeterNDJSON -benchtime 3x
func BenchmarkMeterNDJSON(b *testing.B) { benchMeter(b, 0, false) }

// BenchmarkMeterNDJSONTasks is the same with recording, transcoding, relay
// and input tasks in 30% of the rooms (issue 3: at most 20% slower).
func BenchmarkMeterNDJSONTasks(b *testing.B) { benchMeter(b, 0.3, false) }

// BenchmarkMeterNDJSONEncodingJSON decodes with eventio.Parse (encoding/json)
// instead of the fast parser: the figure before the fast path.
func BenchmarkMeterNDJSONEncodingJSON(b *testing.B) { benchMeter(b, 0, true) }

func benchMeter(b *testing.B, tasks float64, slow bool) {
	data := workload(b, tasks)
	cat, err := catalog.Load("trtc")
	if err != nil {
		b.Fatal(err)
	}
	end := gen.DefaultStart.Add(31 * time.Hour).UnixMilli()
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		m, err := meter.New(cat, meter.Options{})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		if slow {
			n = feedSlow(b, m, data)
		} else {
			n = feed(b, m, data)
		}
		m.Close(end)
		usage := perDay(m.Records(), cat.Location())
		if n != benchEvents || len(m.Errors()) > 0 || len(usage) == 0 {
			b.Fatalf("%d events, %d errors (first: %v), %d usage rows", n, len(m.Errors()), m.Errors(), len(usage))
		}
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&ms1)
	ev := float64(b.N) * benchEvents
	b.ReportMetric(ev/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/ev, "ns/event")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/ev, "allocs/event")
	if cpu > 0 { // with GOMAXPROCS=1 this is one core's time, GC included
		b.ReportMetric(float64(cpu.Nanoseconds())/ev, "cpu-ns/event")
		b.ReportMetric(ev/cpu.Seconds(), "cpu-events/s")
	}
}

func feed(b *testing.B, m *meter.Meter, data []byte) int {
	d := eventio.NewDecoder(bytes.NewReader(data), "bench")
	var e livebill.Event
	n := 0
	for {
		err := d.Next(&e)
		if err == io.EOF {
			return n
		}
		if err != nil {
			b.Fatal(err)
		}
		m.Apply(&e)
		n++
	}
}

func feedSlow(b *testing.B, m *meter.Meter, data []byte) int {
	sc := bufio.NewScanner(bytes.NewReader(data))
	var e livebill.Event
	n := 0
	for sc.Scan() {
		if err := eventio.Parse(sc.Bytes(), &e); err != nil {
			b.Fatal(err)
		}
		m.Apply(&e)
		n++
	}
	return n
}

type dayKey struct {
	app, item string
	day       int64
}

// perDay sums the meter's 5-minute windows to (app, local day, item).
func perDay(recs []meter.Record, loc *time.Location) map[dayKey]int64 {
	out := map[dayKey]int64{}
	for _, r := range recs {
		_, off := time.UnixMilli(r.Window).In(loc).Zone()
		day := (r.Window + int64(off)*1000) / 86_400_000
		out[dayKey{r.App, r.Item, day}] += r.Value
	}
	return out
}

// BenchmarkMeterRooms meters `livebill gen` workloads of one size (its
// defaults: 10 apps, tasks in 30 % of the rooms) with 1,000 and with
// 10,000 rooms open at once, read from a file and advanced as `livebill
// quote` reads one: the cost per event as the meter's working set grows
// tenfold. LIVEBILL_BENCH_EVENTS sets the size (default 2,000,000;
// 10,000,000 is `livebill gen --events 10000000`, whose default is 10,000
// rooms). The files are written once to the temporary directory and
// reused. Run it on one core with
//
//	GOMAXPROCS=1 go test ./meter -run '^$' -bench MeterRooms -benchtime 1x
func BenchmarkMeterRooms(b *testing.B) {
	events := int64(2_000_000)
	if v, err := strconv.ParseInt(os.Getenv("LIVEBILL_BENCH_EVENTS"), 10, 64); err == nil && v > 0 {
		events = v
	}
	for _, rooms := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("rooms=%d", rooms), func(b *testing.B) {
			path := roomsWorkload(b, events, rooms)
			cat, err := catalog.Load("trtc")
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.ResetTimer()
			for range b.N {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				m, err := meter.New(cat, meter.Options{})
				if err != nil {
					b.Fatal(err)
				}
				d := eventio.NewDecoder(f, path)
				var e livebill.Event
				var n int64
				for {
					err := d.Next(&e)
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					if n++; n%(1<<18) == 0 {
						m.Advance(e.Time) // gen writes events in time order
					}
					m.Apply(&e)
				}
				f.Close()
				m.Close(gen.DefaultStart.Add(31 * time.Hour).UnixMilli())
				if n != events || len(m.Errors()) > 0 || len(m.Records()) == 0 {
					b.Fatalf("%d events, %d errors (first: %v)", n, len(m.Errors()), m.Errors())
				}
			}
			b.StopTimer()
			cpu := cpuTime() - cpu0
			ev := float64(b.N) * float64(events)
			b.ReportMetric(ev/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/ev, "ns/event")
			b.ReportMetric(float64(cpu.Nanoseconds())/ev, "cpu-ns/event")
		})
	}
}

// roomsWorkload returns the path of a gen workload of the given size and
// rooms (seed 1, gen's defaults otherwise), writing it if missing.
func roomsWorkload(b *testing.B, events int64, rooms int) string {
	path := filepath.Join(os.TempDir(), fmt.Sprintf("livebill-bench-%d-%d.ndjson", events, rooms))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := gen.Write(w, gen.Config{Events: events, Rooms: rooms, Seed: 1, Tasks: 0.3}); err != nil {
		b.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	return path
}
