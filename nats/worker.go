package nats

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/eventio"
	"github.com/nats-io/nats.go/jetstream"
)

// Partition ownership. Each worker heartbeats in the shared database
// (JoinQueue) every LeaseTTL/3, reads the workers alive, and computes the
// same assignment as every other worker from that list (assign: each
// partition to the worker of highest rendezvous score among those below
// their fair share). It renews the leases of its
// partitions that stay its own, releases the others (after the batch in
// hand is stored and acknowledged), and claims those newly its own that
// are free or whose lease expired. A claim bumps the lease's generation;
// a renewal names the generation it holds, so a worker whose lease was
// taken over (it stalled past its TTL) finds out at its next heartbeat and
// stops that partition.
//
// Bounds: a worker that dies stops heartbeating; its heartbeat and leases
// expire within LeaseTTL of its last heartbeat, and the others claim its
// partitions at their next heartbeat: within LeaseTTL + LeaseTTL/3 of the
// death. The messages it had taken and not acknowledged are delivered
// again AckWait after it took them. A worker that joins gets its share
// within two heartbeats (2·LeaseTTL/3: one for the others to see it and
// release, one for it to claim), plus the time the releasing worker
// takes to finish the batch in hand.
//
// The store's writes need no fence on the generation: a worker that lost
// its lease and still finishes a batch stores events keyed by (account,
// event id) — the new owner's copy of them is a duplicate — and a
// settlement's bills are keyed by (account, bill key), so a second issue
// of one fails instead of counting twice.

// DefaultLeaseTTL is Worker.LeaseTTL's default.
const DefaultLeaseTTL = 10 * time.Second

// DefaultBatch is how many messages a worker takes from a partition at
// once (Worker.Batch's default): stored in one transaction.
const DefaultBatch = 1000

// fetchWait is how long a worker waits on an idle partition for a
// message before it looks again (and sees it was stopped).
const fetchWait = time.Second

// fetchMaxBytes bounds the bytes a worker takes from a partition at once
// besides the batch's first message. Counted in messages alone, a batch
// of DefaultBatch could be DefaultBatch times the server's largest
// payload (1 MiB by default) held in memory, per partition owned; events
// are a few hundred bytes, so 8 MiB still takes a full batch of them and
// only a run of outsized messages is split over several fetches.
const fetchMaxBytes = 8 << 20

// Worker consumes the partitions it owns: it stores their events and
// acknowledges them after the commit. The settlement of its partitions'
// accounts runs through Settle.
type Worker struct {
	Queue *Queue
	// Store is the shared store: the events are stored there
	// (StoreEvents), and the conflicts found recorded when it keeps them
	// (livebill.EventConflictStore).
	Store livebill.Store
	// Leases keeps the heartbeats and partition leases (the shared store).
	Leases livebill.PartitionStore
	Clock  livebill.Clock
	// ID names the worker among the queue's workers: unique per process
	// (host and process id).
	ID string
	// LeaseTTL is how long a heartbeat and a lease last (default
	// DefaultLeaseTTL); they are renewed every LeaseTTL/3.
	LeaseTTL time.Duration
	// Batch is the most messages stored in one transaction (default
	// DefaultBatch).
	Batch int
	// Logf reports ownership changes and errors; nil logs nothing.
	Logf func(format string, args ...any)
	// Monitor, when set, is told of each batch stored.
	Monitor livebill.QueueMonitor

	mu    sync.Mutex
	owned map[int]*partitionRun
	hard  context.Context // the stores' context: cancelled only when Run returns
}

// partitionRun is a partition the worker owns and consumes.
type partitionRun struct {
	gen     int64
	expires time.Time
	stop    context.CancelFunc
	done    chan struct{}
}

func (w *Worker) logf(format string, args ...any) {
	if w.Logf != nil {
		w.Logf(format, args...)
	}
}

func (w *Worker) ttl() time.Duration {
	if w.LeaseTTL <= 0 {
		return DefaultLeaseTTL
	}
	return w.LeaseTTL
}

// Run consumes the worker's partitions until stop is closed, then stops
// taking messages, finishes the batches in hand (stored and acknowledged)
// and releases its partitions, so others claim them at once. Its database
// and queue operations run under ctx: cancelling it (a shutdown's
// deadline) cuts a batch being stored, which is then delivered again to
// the partition's next owner.
func (w *Worker) Run(stop <-chan struct{}, ctx context.Context) error {
	if w.ID == "" {
		return errors.New("queue worker: no id")
	}
	w.mu.Lock()
	w.owned, w.hard = map[int]*partitionRun{}, ctx
	w.mu.Unlock()
	t := time.NewTicker(w.ttl() / 3)
	defer t.Stop()
	for {
		if err := w.beat(ctx); err != nil && ctx.Err() == nil {
			w.logf("queue worker %s: heartbeat: %v", w.ID, err)
		}
		select {
		case <-stop:
		case <-ctx.Done():
		case <-t.C:
			continue
		}
		w.stopAll()
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := w.Leases.LeaveQueue(lctx, w.Queue.cfg.Stream, w.ID); err != nil {
			return fmt.Errorf("queue worker %s: cannot release its partitions: %w", w.ID, err)
		}
		w.logf("queue worker %s: stopped; partitions released", w.ID)
		return nil
	}
}

// beat is one heartbeat: record the worker alive, then renew, release
// and claim partitions as the assignment says.
func (w *Worker) beat(ctx context.Context) error {
	q := w.Queue.cfg.Stream
	now := w.Clock.Now()
	until := now.Add(w.ttl())
	if err := w.Leases.JoinQueue(ctx, q, w.ID, until); err != nil {
		w.expire(now)
		return err
	}
	workers, err := w.Leases.ListWorkers(ctx, q, now)
	if err != nil {
		w.expire(now)
		return err
	}
	if !slices.Contains(workers, w.ID) { // a clock behind the others'
		workers = append(workers, w.ID)
		sort.Strings(workers)
	}
	want := map[int]bool{}
	for _, p := range assign(workers, w.Queue.cfg.Partitions)[w.ID] {
		want[p] = true
	}
	var errs []error
	changed := false
	for _, p := range w.Owned() {
		run := w.run(p)
		if !want[p] {
			w.stop(p)
			errs = append(errs, w.Leases.ReleasePartition(ctx, q, p, w.ID, run.gen))
			changed = true
			continue
		}
		ok, err := w.Leases.RenewPartition(ctx, q, p, w.ID, run.gen, until)
		switch {
		case err != nil:
			errs = append(errs, err)
			if !now.Before(run.expires) {
				w.stop(p) // cannot renew, and the lease is over: another may hold it
				changed = true
			}
		case !ok:
			w.logf("queue worker %s: partition %d: lease lost (generation %d); stopped", w.ID, p, run.gen)
			w.stop(p)
			changed = true
		default:
			w.mu.Lock()
			run.expires = until
			w.mu.Unlock()
		}
	}
	for p := range want {
		if w.run(p) != nil {
			continue
		}
		gen, ok, err := w.Leases.ClaimPartition(ctx, q, p, w.ID, now, until)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			w.start(p, gen, until)
			changed = true
		}
	}
	if changed {
		w.logf("queue worker %s: owns partitions %v of %d (%d workers)", w.ID, w.Owned(), w.Queue.cfg.Partitions, len(workers))
	}
	return errors.Join(errs...)
}

// expire stops the partitions whose lease is over by now (the database
// cannot be reached to renew them).
func (w *Worker) expire(now time.Time) {
	for _, p := range w.Owned() {
		if r := w.run(p); r != nil && !now.Before(r.expires) {
			w.logf("queue worker %s: partition %d: lease expired without renewal; stopped", w.ID, p)
			w.stop(p)
		}
	}
}

// assign gives each of n partitions to one of workers (sorted): in
// partition order, to the worker of highest rendezvous score among those
// below their share — ⌊n/len(workers)⌋, and one more for the first
// n mod len(workers) workers to reach it. Every worker computes the same
// answer from the same list, shares differ by at most one, and a worker
// joining or leaving moves few partitions besides its share.
func assign(workers []string, n int) map[string][]int {
	out := map[string][]int{}
	if len(workers) == 0 {
		return out
	}
	share, extra := n/len(workers), n%len(workers)
	for p := 0; p < n; p++ {
		best, bestScore := "", uint64(0)
		for _, wk := range workers {
			if c := len(out[wk]); c > share || (c == share && extra == 0) {
				continue
			}
			if s := score(wk, p); best == "" || s > bestScore {
				best, bestScore = wk, s
			}
		}
		out[best] = append(out[best], p)
		if len(out[best]) == share+1 {
			extra--
		}
	}
	return out
}

func score(worker string, p int) uint64 {
	h := fnv.New64a()
	h.Write([]byte(worker))
	h.Write([]byte{0})
	h.Write([]byte(strconv.Itoa(p)))
	// FNV's last bytes barely reach the high bits: mix (a finalizer)
	x := h.Sum64()
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	return x
}

// Owned returns the partitions the worker consumes, sorted.
func (w *Worker) Owned() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]int, 0, len(w.owned))
	for p := range w.owned {
		out = append(out, p)
	}
	sort.Ints(out)
	return out
}

// Owns reports whether the account's partition is the worker's (for
// billing.Service.Owns).
func (w *Worker) Owns(accountID string) bool {
	p := w.Queue.PartitionOf(accountID)
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.owned[p] != nil
}

func (w *Worker) run(p int) *partitionRun {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.owned[p]
}

// start consumes partition p, owned at generation gen.
func (w *Worker) start(p int, gen int64, until time.Time) {
	ctx, stop := context.WithCancel(w.hard)
	run := &partitionRun{gen: gen, expires: until, stop: stop, done: make(chan struct{})}
	w.mu.Lock()
	w.owned[p] = run
	hard := w.hard
	w.mu.Unlock()
	go func() {
		defer close(run.done)
		w.consume(ctx, hard, p)
	}()
}

// stop stops consuming partition p once its batch in hand is stored and
// acknowledged.
func (w *Worker) stop(p int) {
	w.mu.Lock()
	run := w.owned[p]
	delete(w.owned, p)
	w.mu.Unlock()
	if run != nil {
		run.stop()
		<-run.done
	}
}

func (w *Worker) stopAll() {
	for _, p := range w.Owned() {
		w.stop(p)
	}
}

// parsers are the event parsers the partitions' loops share.
var parsers = sync.Pool{New: func() any { return eventio.NewParser() }}

// consume takes partition p's messages in order until ctx is done: each
// batch is stored under hard (a stop lets it finish) and then
// acknowledged.
func (w *Worker) consume(ctx, hard context.Context, p int) {
	cons := w.Queue.cons[p]
	size := w.Batch
	if size <= 0 {
		size = DefaultBatch
	}
	for ctx.Err() == nil {
		msgs, err := fetch(ctx, cons, size)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			w.logf("queue worker %s: partition %d: cannot fetch: %v", w.ID, p, err)
			sleep(ctx, time.Second)
			continue
		}
		if len(msgs) > 0 {
			w.handle(ctx, hard, p, msgs)
		}
	}
	w.Queue.nc.Flush() // the last acknowledgements reach the server before the lease is released
}

// fetch takes up to size messages of a consumer, at most fetchMaxBytes
// of them besides the first: the first to arrive within fetchWait (at
// once on a busy partition) and those waiting with it. The first one's
// metadata tells how many wait; a fetch of no more than that returns as
// soon as they are delivered or the bytes are reached, where a fetch of
// more would wait for the rest until it expires. (FetchNoWait, which
// answers with what waits, takes no byte cap.)
func fetch(ctx context.Context, cons jetstream.Consumer, size int) ([]jetstream.Msg, error) {
	fctx, cancel := context.WithTimeout(ctx, fetchWait)
	defer cancel()
	b, err := cons.Fetch(1, jetstream.FetchContext(fctx))
	if err != nil {
		return nil, err
	}
	msgs := collect(b, nil)
	if len(msgs) == 0 || size == 1 {
		return msgs, nil
	}
	meta, err := msgs[0].Metadata()
	if err != nil || meta.NumPending == 0 {
		return msgs, nil
	}
	rctx, cancel := context.WithTimeout(ctx, fetchWait)
	defer cancel()
	n := int(min(meta.NumPending, uint64(size-1)))
	if b, err = cons.Fetch(n, jetstream.FetchMaxBytes(fetchMaxBytes), jetstream.FetchContext(rctx)); err != nil {
		return msgs, nil // the first is handled; the rest comes next time
	}
	return collect(b, msgs), nil
}

func collect(b jetstream.MessageBatch, msgs []jetstream.Msg) []jetstream.Msg {
	for m := range b.Messages() {
		msgs = append(msgs, m)
	}
	return msgs
}

// handle stores a batch of messages and acknowledges them: again and
// again until the store takes it (the messages are kept in progress
// meanwhile). A store already running finishes under hard; once ctx is
// done (the partition is stopped or lost: a heartbeat waits for this) no
// further try is made and the messages are left unacknowledged, to be
// delivered again to whoever owns the partition.
func (w *Worker) handle(ctx, hard context.Context, p int, msgs []jetstream.Msg) {
	start := w.Clock.Now()
	events, keep := w.decode(p, msgs)
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 30*time.Second) {
		err := w.store(hard, events)
		if err == nil {
			break
		}
		if ctx.Err() != nil || hard.Err() != nil {
			return
		}
		w.logf("queue worker %s: partition %d: cannot store %d events (trying again in %s): %v", w.ID, p, len(events), wait, err)
		for _, m := range msgs {
			m.InProgress()
		}
		if sleep(ctx, wait); ctx.Err() != nil {
			return
		}
	}
	for _, m := range msgs {
		if !keep[m] {
			continue
		}
		m.Ack()
	}
	if w.Monitor != nil {
		w.Monitor.Consumed(p, len(msgs), w.Clock.Now().Sub(start))
	}
}

// decode turns messages into the events to store; a message that is not
// an event (it cannot be stored, ever) is terminated and logged.
func (w *Worker) decode(p int, msgs []jetstream.Msg) ([]livebill.IncomingEvent, map[jetstream.Msg]bool) {
	parser := parsers.Get().(*eventio.Parser)
	defer parsers.Put(parser)
	events := make([]livebill.IncomingEvent, 0, len(msgs))
	keep := make(map[jetstream.Msg]bool, len(msgs))
	for _, m := range msgs {
		h := m.Headers()
		in := livebill.IncomingEvent{AccountID: h.Get(headerAccount), Day: h.Get(headerDay), Import: h.Get(headerImport), Body: m.Data()}
		if err := parser.Parse(in.Body, &in.Event); err != nil || in.AccountID == "" {
			meta, _ := m.Metadata()
			var seq uint64
			if meta != nil {
				seq = meta.Sequence.Stream
			}
			w.logf("queue worker %s: partition %d: message %d is not a livebill event (account %q): %v; dropped", w.ID, p, seq, in.AccountID, err)
			m.TermWithReason("not a livebill event")
			continue
		}
		keep[m] = true
		events = append(events, in)
	}
	return events, keep
}

// store stores the events: those of accounts reclaimed since they were
// queued are dropped (and logged), the conflicts found recorded. A batch
// refused whole for its import (finished or gone since the events were
// queued) is stored without it: the events were acknowledged.
func (w *Worker) store(ctx context.Context, events []livebill.IncomingEvent) error {
	events, err := w.dropReclaimed(ctx, events)
	if err != nil || len(events) == 0 {
		return err
	}
	sts, err := w.Store.StoreEvents(ctx, events)
	if c := livebill.ErrorCode(err); c == livebill.ENOTFOUND || c == livebill.ECONFLICT {
		w.logf("queue worker %s: %v: storing the batch without its import", w.ID, err)
		for i := range events {
			events[i].Import = ""
		}
		sts, err = w.Store.StoreEvents(ctx, events)
	}
	if err != nil {
		return err
	}
	var conflicts []livebill.EventConflict
	for i, st := range sts {
		if st.Status != livebill.IngestRejected {
			continue
		}
		if st.Code != livebill.ECONFLICT {
			w.logf("queue worker %s: event %q of account %q not stored: %s", w.ID, st.ID, events[i].AccountID, st.Error)
			continue
		}
		conflicts = append(conflicts, livebill.EventConflict{AccountID: events[i].AccountID, EventID: st.ID, Body: events[i].Body, Seen: w.Clock.Now()})
	}
	if cs, ok := w.Store.(livebill.EventConflictStore); ok && len(conflicts) > 0 {
		return cs.PutEventConflicts(ctx, conflicts)
	}
	return nil
}

// dropReclaimed leaves out the events of accounts reclaimed (purged)
// since they were queued.
func (w *Worker) dropReclaimed(ctx context.Context, events []livebill.IncomingEvent) ([]livebill.IncomingEvent, error) {
	sts, err := w.Store.FindAccountStates(ctx, livebill.AccountIDs(events))
	if err != nil {
		return nil, err
	}
	keep := events[:0:0]
	for _, e := range events {
		if st := sts[e.AccountID]; st != nil && st.State == livebill.AccountReclaimed {
			w.logf("queue worker %s: event %q of account %q dropped: the account was reclaimed", w.ID, e.Event.ID, e.AccountID)
			continue
		}
		keep = append(keep, e)
	}
	return keep, nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Settle runs settle (the billing service's SettleAll, restricted to the
// worker's accounts by Owns) once the events its partitions held when it
// was called are stored, waiting at most wait: so that everything
// ingestion acknowledged before a settlement began is in its bills. A
// partition still behind after wait is settled as it is (what arrives
// later is an adjustment) and logged.
func (w *Worker) Settle(ctx context.Context, wait time.Duration, settle func(context.Context) error) error {
	targets := map[int]uint64{}
	for _, p := range w.Owned() {
		m, err := w.Queue.stream.GetLastMsgForSubject(ctx, w.Queue.subject(p))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // nothing waiting: a work queue drops what was acknowledged
		}
		if err != nil {
			w.logf("queue worker %s: partition %d: cannot read its last message: %v", w.ID, p, err)
			continue
		}
		targets[p] = m.Sequence
	}
	deadline := w.Clock.Now().Add(wait)
	for len(targets) > 0 && w.Clock.Now().Before(deadline) && ctx.Err() == nil {
		for p, seq := range targets {
			info, err := w.Queue.cons[p].Info(ctx)
			if err == nil && info.AckFloor.Stream >= seq {
				delete(targets, p)
			}
		}
		if len(targets) > 0 {
			sleep(ctx, 50*time.Millisecond)
		}
	}
	if len(targets) > 0 {
		behind := make([]int, 0, len(targets))
		for p := range targets {
			behind = append(behind, p)
		}
		sort.Ints(behind)
		w.logf("queue worker %s: settling while partitions %v are still behind (their late events will be adjustments)", w.ID, behind)
	}
	return settle(ctx)
}
