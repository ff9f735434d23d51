package scenario

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/livebill/livebill/eventio"
	"github.com/livebill/livebill/meter"
)

// feedShards is how many meters a quote's file is split among: one per
// core, at most 8 (a test sets it).
var feedShards = func() int { return min(runtime.GOMAXPROCS(0), 8) }

// skipEvent marks an event no meter applies (rejected, or after the read
// ended).
const skipEvent = 0xff

// shards are meters applying the batches of one stream, each on a
// goroutine of its own.
type shards struct {
	ra   *eventio.ReadAhead
	in   []chan *shardWork
	done sync.WaitGroup
	pool sync.Pool
}

// shardWork is a batch and what every meter does with it: before event
// i of each advance, advance to its instant; apply the events marked
// with the meter's number.
type shardWork struct {
	batch   eventio.Batch
	meter   [eventio.MaxBatchLen]uint8
	advance []shardAdvance
	left    atomic.Int32 // meters yet to go through the batch
}

// shardAdvance advances every meter to instant t before event i.
type shardAdvance struct {
	i int
	t int64
}

// startShards starts a goroutine applying the batches sent for each
// meter; meter k applies the events marked k. The last meter through a
// batch frees it.
func startShards(meters []*meter.Meter, ra *eventio.ReadAhead) *shards {
	sh := &shards{ra: ra, in: make([]chan *shardWork, len(meters))}
	sh.pool.New = func() any { return new(shardWork) }
	for k, m := range meters {
		sh.in[k] = make(chan *shardWork, eventio.ReadAheadBatches)
		sh.done.Add(1)
		go sh.run(uint8(k), m, sh.in[k])
	}
	return sh
}

func (sh *shards) run(k uint8, m *meter.Meter, in <-chan *shardWork) {
	defer sh.done.Done()
	for w := range in {
		adv := w.advance
		for i := range w.batch.Events {
			if len(adv) > 0 && adv[0].i == i {
				m.Advance(adv[0].t)
				adv = adv[1:]
			}
			if w.meter[i] == k {
				m.ApplyValid(&w.batch.Events[i]) // the decoder validated it
			}
		}
		if w.left.Add(-1) == 0 {
			sh.ra.Free(w.batch)
			w.advance = w.advance[:0]
			sh.pool.Put(w)
		}
	}
}

// work returns an empty shardWork for batch b.
func (sh *shards) work(b eventio.Batch) *shardWork {
	w := sh.pool.Get().(*shardWork)
	w.batch = b
	w.left.Store(int32(len(sh.in)))
	return w
}

// send hands w to every meter.
func (sh *shards) send(w *shardWork) {
	for _, c := range sh.in {
		c <- w
	}
}

// stop waits until every meter has applied the batches sent.
func (sh *shards) stop() {
	for _, c := range sh.in {
		close(c)
	}
	sh.done.Wait()
}
