package rating

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/meter"
)

// Quoters are pooled: quotes rated concurrently, in any order, after
// quotes of other shapes, are the quotes rated alone, and a quote does not
// change when later ones are rated (nothing returned points into a pooled
// quoter).
func TestRatePooledConcurrent(t *testing.T) {
	var ins []Input
	for i := range 8 {
		in := input(t, "2024-10-01", "2024-10-01", "2024-10-02")
		if i%2 == 1 {
			in = input(t, "2024-10-01", "2024-10-01", "2024-11-01") // a month: many daily bills
		}
		start := time.Date(2024, 10, 1+i%3, 9, 0, 0, 0, sh)
		items := []string{"trtc.av.audio", "trtc.av.hd", "trtc.av.4k", "trtc.recording.hd"}
		for k := range 20 + 40*i {
			at := start.Add(time.Duration(k) * 5 * time.Minute).Format(time.RFC3339)
			in.Records = append(in.Records, rec(fmt.Sprint("A", k%(1+i%3)), items[(k+i)%len(items)], at, float64(1+k%5)))
		}
		if i == 5 {
			in.Relays = []meter.RelayInterval{{Destination: "tencent", Start: start.UnixMilli(), End: start.Add(time.Hour).UnixMilli(), Kbps: 1500}}
		}
		ins = append(ins, in)
	}
	want := make([]string, len(ins))
	quotes := make([]*livebill.Quote, len(ins))
	for i, in := range ins {
		// rated alone: a fresh pool, so this quoter has served nothing before
		quoters = sync.Pool{New: func() any { return new(quoter) }}
		q, err := Rate(in)
		if err != nil {
			t.Fatal(err)
		}
		quotes[i] = q
		b, _ := json.Marshal(q)
		want[i] = string(b)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range 30 {
				i := (g*7 + n*3) % len(ins)
				q, err := Rate(ins[i])
				if err != nil {
					errs <- err
					return
				}
				if b, _ := json.Marshal(q); string(b) != want[i] {
					errs <- fmt.Errorf("input %d rated concurrently:\n%s\nalone:\n%s", i, b, want[i])
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, q := range quotes {
		if b, _ := json.Marshal(q); string(b) != want[i] {
			t.Fatalf("quote %d changed after later quotes:\n%s\nwas:\n%s", i, b, want[i])
		}
	}
}
