package eventio_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/eventio"
	"github.com/livebill/livebill/gen"
)

var benchData []byte

// BenchmarkDecoderNDJSON decodes 1M generated events (NDJSON in memory).
func BenchmarkDecoderNDJSON(b *testing.B) {
	if benchData == nil {
		var buf bytes.Buffer
		if _, err := gen.Write(&buf, gen.Config{Events: 1_000_000, Apps: 20, Seed: 1, Tasks: 0.3}); err != nil {
			b.Fatal(err)
		}
		benchData = buf.Bytes()
	}
	b.SetBytes(int64(len(benchData)))
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for range b.N {
		d := eventio.NewDecoder(bytes.NewReader(benchData), "bench")
		var e livebill.Event
		for {
			err := d.Next(&e)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
}
