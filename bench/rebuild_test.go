package bench

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/livebill/livebill/gen"
	"github.com/livebill/livebill/sqlite"
	"github.com/livebill/livebill/sqlstore/storetest"
)

// BenchmarkRebuildUnsettled stores a month of LIVEBILL_BENCH_BIG events
// (default 1M, livebill gen, one app) of account big, never settled: no
// checkpoint, so a service started afresh makes its live meter from the
// first event. It times that service's quote of the month and reports
// the peak resident memory the quote adds to the process (VmHWM, reset
// before it, less the resident memory then).
//
//	go test ./bench -run '^$' -bench RebuildUnsettled -benchtime 3x -timeout 30m
func BenchmarkRebuildUnsettled(b *testing.B) {
	cfg := scaleFromEnv(scaleConfig{days: 31, big: 1_000_000})
	cfg.accounts = 0
	ctx := context.Background()
	dir := b.TempDir()
	s, err := sqlite.Open(ctx, dir, storetest.NewClock(scaleStart))
	if err != nil {
		b.Fatal(err)
	}
	loadAccounts(b, s, cfg)
	var buf bytes.Buffer
	if _, err := gen.Write(&buf, gen.Config{Events: cfg.big, Apps: 1, Seed: 1, Start: scaleStart, Span: time.Duration(cfg.days)*24*time.Hour - time.Hour}); err != nil {
		b.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	for i := 0; i < len(lines); i += 100_000 {
		loadBig(b, s, lines[i:min(i+100_000, len(lines))], i)
	}
	s.Close()
	buf, lines = bytes.Buffer{}, nil

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runtime.GC()
		debug.FreeOSMemory()
		base := currentRSS()
		if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
			b.Skipf("cannot reset the peak RSS: %v", err)
		}
		t0 := time.Now()
		s, svc := coldOpen(b, dir)
		q, err := svc.Quote(ctx, "big", "2024-10-01", "2024-11-01")
		if err != nil {
			b.Fatal(err)
		}
		took, peak := time.Since(t0), peakRSS()-base
		s.Close()
		if len(q.Lines) == 0 {
			b.Fatal("a quote without lines")
		}
		b.ReportMetric(took.Seconds(), "quote-s")
		b.ReportMetric(float64(peak>>20), "quote-peak-MiB")
	}
	b.ReportMetric(float64(cfg.big), "events")
}
