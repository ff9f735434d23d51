package prometheus_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeQueue is a queue whose lag and fill a test sets.
type fakeQueue struct {
	lags []livebill.PartitionLag
	err  error
}

func (f *fakeQueue) Lag(context.Context) ([]livebill.PartitionLag, error) { return f.lags, f.err }
func (f *fakeQueue) Fill(context.Context) (int64, int64, error)           { return 4096, 1 << 20, f.err }

// The queue's metrics: the lag of each partition and the stream's fill
// read at the scrape, publish latency and failures, batches stored; they
// pass the linter, and a queue that cannot be read drops its gauges
// instead of failing the scrape.
func TestQueueMetrics(t *testing.T) {
	m := prometheus.New(&clock{time.Unix(0, 0)}, prometheus.Build{})
	q := &fakeQueue{lags: []livebill.PartitionLag{{Partition: 0, Pending: 7, Unacked: 2}, {Partition: 1}}}
	m.WatchQueue(q)
	m.Published(100, 3*time.Millisecond, nil)
	m.Published(100, time.Second, errors.New("full"))
	m.Consumed(1, 250, 20*time.Millisecond)
	want := `
# HELP livebill_queue_pending_messages Messages of a partition not yet delivered to a worker: how far the workers are behind, read from JetStream at the scrape.
# TYPE livebill_queue_pending_messages gauge
livebill_queue_pending_messages{partition="0"} 7
livebill_queue_pending_messages{partition="1"} 0
# HELP livebill_queue_unacked_messages Messages of a partition delivered to a worker and not yet stored and acknowledged, read from JetStream at the scrape.
# TYPE livebill_queue_unacked_messages gauge
livebill_queue_unacked_messages{partition="0"} 2
livebill_queue_unacked_messages{partition="1"} 0
# HELP livebill_queue_stream_bytes Bytes of the messages waiting in the event stream, read at the scrape.
# TYPE livebill_queue_stream_bytes gauge
livebill_queue_stream_bytes 4096
# HELP livebill_queue_publish_failures_total Batches the event queue did not take whole (full, or unreachable), answered 503 with Retry-After.
# TYPE livebill_queue_publish_failures_total counter
livebill_queue_publish_failures_total 1
# HELP livebill_queue_stored_events_total Messages a worker took from its partitions, stored and acknowledged.
# TYPE livebill_queue_stored_events_total counter
livebill_queue_stored_events_total 250
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "livebill_queue_pending_messages", "livebill_queue_unacked_messages",
		"livebill_queue_stream_bytes", "livebill_queue_publish_failures_total", "livebill_queue_stored_events_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.Registry(), "livebill_queue_publish_duration_seconds"); n != 1 {
		t.Fatalf("publish latency: %d series", n)
	}
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	q.err = errors.New("the queue does not answer")
	if n := testutil.CollectAndCount(m.Registry(), "livebill_queue_pending_messages"); n != 0 {
		t.Fatalf("%d lag series from a queue that cannot be read", n)
	}
}
