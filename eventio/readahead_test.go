package eventio

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/livebill/livebill"
)

// readAll reads every answer of next until io.EOF or a stream failure.
func readAll(t *testing.T, next func() (*livebill.Event, error)) (events []livebill.Event, errs []string) {
	t.Helper()
	for {
		e, err := next()
		if err == io.EOF {
			return
		}
		var ee *livebill.EventError
		if err != nil && !errors.As(err, &ee) {
			return events, append(errs, "stream: "+err.Error())
		}
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		events = append(events, *e)
	}
}

// lines is an NDJSON stream of n joins, every 97th line bad.
func lines(n int) string {
	var b strings.Builder
	for i := range n {
		if i%97 == 0 {
			fmt.Fprintf(&b, "{\"id\":\"e%d\",\"type\":\"room.join\"}\n", i) // no time, app, room, user
			continue
		}
		fmt.Fprintf(&b, "{\"id\":\"e%d\",\"type\":\"room.join\",\"time\":\"2024-10-01T00:00:%02d.%03dZ\",\"app\":\"a\",\"room\":\"r%d\",\"user\":\"u%d\"}\n",
			i, i/1000%60, i%1000, i%13, i%29)
	}
	return b.String()
}

// TestReadAheadAsDecoder: reading ahead gives what the decoder gives, line
// for line, across many batches, with bad lines and a failing stream.
func TestReadAheadAsDecoder(t *testing.T) {
	in := lines(3*MaxBatchLen*ReadAheadBatches + 17) // batches reused several times
	for _, tc := range []struct {
		name string
		r    func() io.Reader
	}{
		{"whole", func() io.Reader { return strings.NewReader(in) }},
		// the stream fails a little after its middle
		{"failing", func() io.Reader {
			return io.MultiReader(strings.NewReader(in[:len(in)/2+5]), iotest.ErrReader(errors.New("disk gone")))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(tc.r(), "f.ndjson")
			var e livebill.Event
			wantEvents, wantErrs := readAll(t, func() (*livebill.Event, error) { err := d.Next(&e); return &e, err })

			ra := NewReadAhead(NewDecoder(tc.r(), "f.ndjson"))
			defer ra.Close()
			gotEvents, gotErrs := readAll(t, ra.Next)
			if len(wantEvents) < 2*MaxBatchLen || len(wantErrs) < 5 {
				t.Fatalf("the stream has %d events and %d errors: too few to test", len(wantEvents), len(wantErrs))
			}
			if !reflect.DeepEqual(gotEvents, wantEvents) {
				t.Errorf("read ahead: %d events, the decoder %d, or they differ", len(gotEvents), len(wantEvents))
			}
			if !reflect.DeepEqual(gotErrs, wantErrs) {
				t.Errorf("read ahead errors:\n%v\nthe decoder's:\n%v", gotErrs, wantErrs)
			}
			if tc.name == "failing" && !strings.Contains(gotErrs[len(gotErrs)-1], "disk gone") {
				t.Errorf("the last error is %q, not the stream's failure", gotErrs[len(gotErrs)-1])
			}
		})
	}
}

// TestReadAheadClose: Close returns only once the stream is no longer
// read, so the caller can read it again from its start (the quote does so
// when a file's rooms are out of time order).
func TestReadAheadClose(t *testing.T) {
	in := lines(10 * MaxBatchLen)
	// it blocks in the second batch, which decoding ahead reaches
	r := &blockingReader{data: []byte(in), blockAt: len(in) / 10, entered: make(chan struct{}), release: make(chan struct{})}
	ra := NewReadAhead(NewDecoder(r, "f.ndjson"))
	if _, err := ra.Next(); err == io.EOF {
		t.Fatal("no event")
	}
	<-r.entered // decoding ahead has reached the read that blocks
	closed := make(chan struct{})
	go func() { ra.Close(); close(closed) }()
	select {
	case <-closed:
		close(r.release)
		t.Fatal("Close returned while the stream was still being read")
	case <-time.After(100 * time.Millisecond):
	}
	close(r.release)
	<-closed
}

// blockingReader serves data in small reads and blocks at offset blockAt
// until released.
type blockingReader struct {
	data             []byte
	off, blockAt     int
	entered, release chan struct{}
}

func (b *blockingReader) Read(p []byte) (int, error) {
	if b.off == b.blockAt {
		close(b.entered)
		<-b.release
		b.blockAt = -1
	}
	if b.off == len(b.data) {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 512)], b.data[b.off:])
	if b.blockAt > b.off {
		n = min(n, b.blockAt-b.off)
	}
	b.off += n
	return n, nil
}

// TestReadAheadBatchBytes: long lines end a batch early, and a bad line's
// slot holds nothing of it, so the slots stay small whatever the lines.
func TestReadAheadBatchBytes(t *testing.T) {
	// lines of about 240 KB: a list of 40,000 formats, too many (bad)
	var b strings.Builder
	for i := range 10 {
		fmt.Fprintf(&b, `{"id":"e%d","type":"recording.start","time":"2024-10-01T00:00:00Z","app":"a","room":"r","task":"t%d","formats":[`, i, i)
		for j := range 40_000 {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`"mp4"`)
		}
		b.WriteString("]}\n")
	}
	ra := NewReadAhead(NewDecoder(strings.NewReader(b.String()), "f.ndjson"))
	defer ra.Close()
	e, err := ra.Next()
	var ee *livebill.EventError
	if !errors.As(err, &ee) {
		t.Fatalf("first line: %v, want it rejected", err)
	}
	// 1 MiB of lines of about 240 KB: the batch ends after the line that
	// passes 1 MiB, the fifth
	if n := ra.cur.n; n != 5 {
		t.Errorf("the first batch holds %d lines, want 5", n)
	}
	if !reflect.DeepEqual(*e, livebill.Event{}) {
		t.Errorf("the bad line's slot holds %d formats", len(e.Formats))
	}
}

// TestReadAheadBatches: NextBatch gives the decoder's lines in batches,
// which may be held a while and freed from other goroutines, in any order.
func TestReadAheadBatches(t *testing.T) {
	in := lines(3*MaxBatchLen*ReadAheadBatches + 17)
	d := NewDecoder(strings.NewReader(in), "f.ndjson")
	var e livebill.Event
	wantEvents, wantErrs := readAll(t, func() (*livebill.Event, error) { err := d.Next(&e); return &e, err })

	ra := NewReadAhead(NewDecoder(strings.NewReader(in), "f.ndjson"))
	defer ra.Close()
	var gotEvents []livebill.Event
	var gotErrs []string
	var held []Batch
	batches := 0
	for {
		b, err := ra.NextBatch()
		if err == io.EOF {
			break
		}
		batches++
		if len(b.Events) != len(b.Errs) || len(b.Events) > MaxBatchLen {
			t.Fatalf("a batch of %d events and %d errors", len(b.Events), len(b.Errs))
		}
		for i := range b.Events {
			switch err := b.Errs[i]; {
			case err == io.EOF:
			case err != nil:
				gotErrs = append(gotErrs, err.Error())
			default:
				gotEvents = append(gotEvents, b.Events[i])
			}
		}
		// hold all but one of the batches, then free them, the last first,
		// on another goroutine
		if held = append(held, b); len(held) == ReadAheadBatches-1 {
			go func(bs []Batch) {
				for i := len(bs) - 1; i >= 0; i-- {
					ra.Free(bs[i])
				}
			}(held)
			held = nil
		}
	}
	if batches < 3*ReadAheadBatches {
		t.Fatalf("%d batches: too few to reuse each", batches)
	}
	if !reflect.DeepEqual(gotEvents, wantEvents) {
		t.Errorf("batches: %d events, the decoder %d, or they differ", len(gotEvents), len(wantEvents))
	}
	if !reflect.DeepEqual(gotErrs, wantErrs) {
		t.Errorf("batches' errors:\n%v\nthe decoder's:\n%v", gotErrs, wantErrs)
	}
}
