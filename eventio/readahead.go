package eventio

import (
	"errors"
	"io"

	"github.com/livebill/livebill"
)

// ReadAhead decodes a stream on a goroutine of its own, a few batches
// ahead of its reader, so that decoding a large file and metering it run
// on two cores: decoding is about a quarter of a quote's work.
type ReadAhead struct {
	full chan *readBatch // decoded, in order
	free chan *readBatch // read, to be filled again
	stop chan struct{}
	done chan struct{} // closed when decoding has stopped
	cur  *readBatch
	i    int
}

// readBatch is a run of decoded lines: err[i] is Decoder.Next's answer for
// event[i]. A batch ends early at the stream's end or failure, whose
// error is its last.
type readBatch struct {
	event []livebill.Event
	err   []error
	n     int
}

// Batches of 256 events (110 KB), eight of them: enough for the reader
// never to wait on a steady decoder, even when it hands batches on to
// meters of its own (NextBatch), and little memory. A batch also ends
// after readBatchBytes of lines, so that long lines (up to MaxLine, with
// lists of thousands of entries) do not fill every slot: what the slots
// hold stays a few times 8 × readBatchBytes (tens of MB at worst).
const (
	MaxBatchLen      = 256 // events in a Batch, at most
	ReadAheadBatches = 8   // batches decoded or held at once
	readBatchBytes   = 1 << 20
)

// NewReadAhead starts decoding d. The caller must call Close when done,
// even after io.EOF. d must not be used by anything else meanwhile.
func NewReadAhead(d *Decoder) *ReadAhead {
	ra := &ReadAhead{
		full: make(chan *readBatch, ReadAheadBatches),
		free: make(chan *readBatch, ReadAheadBatches),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	for range ReadAheadBatches {
		ra.free <- &readBatch{event: make([]livebill.Event, MaxBatchLen), err: make([]error, MaxBatchLen)}
	}
	go ra.decode(d)
	return ra
}

func (ra *ReadAhead) decode(d *Decoder) {
	defer close(ra.done)
	defer close(ra.full)
	for {
		var b *readBatch
		select {
		case b = <-ra.free:
		case <-ra.stop:
			return
		}
		last, size := false, 0
		for b.n = 0; b.n < MaxBatchLen && size < readBatchBytes && !last; b.n++ {
			err := d.Next(&b.event[b.n])
			b.err[b.n], size = err, size+d.lineLen
			if err != nil {
				// a bad line's lists may be filled: the slot lets go of them
				b.event[b.n] = livebill.Event{}
			}
			var ee *livebill.EventError
			last = err != nil && !errors.As(err, &ee) // io.EOF, or the stream failed
		}
		select {
		case ra.full <- b:
		case <-ra.stop:
			return
		}
		if last {
			return
		}
	}
}

// Next returns the next event, with Decoder.Next's errors: io.EOF at the
// end, a *livebill.EventError for a bad line (reading goes on), or another
// error when the stream failed. The event is valid until the next call.
func (ra *ReadAhead) Next() (*livebill.Event, error) {
	if ra.cur != nil && ra.i == ra.cur.n {
		ra.free <- ra.cur
		ra.cur = nil
	}
	if ra.cur == nil {
		b, ok := <-ra.full
		if !ok {
			return nil, io.EOF // after the last batch's error, asked again
		}
		ra.cur, ra.i = b, 0
	}
	i := ra.i
	ra.i++
	return &ra.cur.event[i], ra.cur.err[i]
}

// Batch is a run of decoded events and Decoder.Next's answer for each:
// Errs[i] is about Events[i]. The stream's end or failure is the last
// batch's last error.
type Batch struct {
	Events []livebill.Event
	Errs   []error
	b      *readBatch
}

// NextBatch returns the next batch of decoded events, or io.EOF after the
// last. Its reader, or whoever it hands the batch on to, returns it with
// Free once done with its events; NextBatch waits while every batch is
// held. Next and NextBatch are not to be mixed on one ReadAhead.
func (ra *ReadAhead) NextBatch() (Batch, error) {
	b, ok := <-ra.full
	if !ok {
		return Batch{}, io.EOF
	}
	return Batch{Events: b.event[:b.n], Errs: b.err[:b.n], b: b}, nil
}

// Free gives a batch NextBatch returned back to the decoder, which fills
// it again. It may be called from any goroutine, once per batch.
func (ra *ReadAhead) Free(b Batch) { ra.free <- b.b }

// Close stops the decoding and waits until it has stopped reading: the
// caller may then close the stream, or seek it and read it again.
func (ra *ReadAhead) Close() {
	close(ra.stop)
	<-ra.done
}
