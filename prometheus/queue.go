package prometheus

import (
	"context"
	"strconv"
	"time"

	"github.com/livebill/livebill"
	prom "github.com/prometheus/client_golang/prometheus"
)

var _ livebill.QueueMonitor = (*Metrics)(nil)

// QueueReader is what the queue's gauges read at each scrape (nats.Queue).
type QueueReader interface {
	// Lag reads each partition's messages waiting and in the workers' hands.
	Lag(ctx context.Context) ([]livebill.PartitionLag, error)
	// Fill reads the bytes waiting in the stream and its limit.
	Fill(ctx context.Context) (bytes, limit int64, err error)
}

// queueMetrics are the event queue's (livebill serve --queue).
type queueMetrics struct {
	publish        prom.Histogram
	publishFailed  prom.Counter
	stored         prom.Counter
	storeDuration  prom.Histogram
	reader         QueueReader
	pending, inFly *prom.Desc
	bytes, limit   *prom.Desc
}

// scrapeTimeout bounds the reads of the queue's gauges at a scrape.
const scrapeTimeout = 2 * time.Second

// WatchQueue adds the event queue's metrics: the publish latency and
// failures (ingestion), the batches stored (workers), and, read from q at
// each scrape, each partition's lag and how full the stream is. The
// partition label takes as many values as the stream has partitions
// (nats.MaxPartitions at most).
func (m *Metrics) WatchQueue(q QueueReader) {
	qm := &queueMetrics{reader: q}
	qm.publish = prom.NewHistogram(prom.HistogramOpts{Name: "livebill_queue_publish_duration_seconds",
		Help:    "Time from handing a validated batch to the event queue until JetStream acknowledged every one of its messages (ingestion).",
		Buckets: prom.ExponentialBuckets(0.0005, 2, 15)}) // 0.5 ms … 8 s
	qm.publishFailed = prom.NewCounter(prom.CounterOpts{Name: "livebill_queue_publish_failures_total",
		Help: "Batches the event queue did not take whole (full, or unreachable), answered 503 with Retry-After."})
	qm.stored = prom.NewCounter(prom.CounterOpts{Name: "livebill_queue_stored_events_total",
		Help: "Messages a worker took from its partitions, stored and acknowledged."})
	qm.storeDuration = prom.NewHistogram(prom.HistogramOpts{Name: "livebill_queue_store_duration_seconds",
		Help:    "Time for a worker to store and acknowledge one batch taken from a partition.",
		Buckets: prom.ExponentialBuckets(0.001, 2, 15)}) // 1 ms … 16 s
	qm.pending = prom.NewDesc("livebill_queue_pending_messages",
		"Messages of a partition not yet delivered to a worker: how far the workers are behind, read from JetStream at the scrape.", []string{"partition"}, nil)
	qm.inFly = prom.NewDesc("livebill_queue_unacked_messages",
		"Messages of a partition delivered to a worker and not yet stored and acknowledged, read from JetStream at the scrape.", []string{"partition"}, nil)
	qm.bytes = prom.NewDesc("livebill_queue_stream_bytes",
		"Bytes of the messages waiting in the event stream, read at the scrape.", nil, nil)
	qm.limit = prom.NewDesc("livebill_queue_stream_limit_bytes",
		"The event stream's byte limit (--queue-max-bytes): past it ingestion answers 503 until the workers catch up.", nil, nil)
	m.reg.MustRegister(qm.publish, qm.publishFailed, qm.stored, qm.storeDuration, qm)
	m.mu.Lock()
	m.queue = qm
	m.mu.Unlock()
}

// Describe and Collect make the scrape-time gauges a collector.
func (qm *queueMetrics) Describe(ch chan<- *prom.Desc) {
	ch <- qm.pending
	ch <- qm.inFly
	ch <- qm.bytes
	ch <- qm.limit
}

func (qm *queueMetrics) Collect(ch chan<- prom.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	if lags, err := qm.reader.Lag(ctx); err == nil {
		for _, l := range lags {
			p := strconv.Itoa(l.Partition)
			ch <- prom.MustNewConstMetric(qm.pending, prom.GaugeValue, float64(l.Pending), p)
			ch <- prom.MustNewConstMetric(qm.inFly, prom.GaugeValue, float64(l.Unacked), p)
		}
	}
	if b, limit, err := qm.reader.Fill(ctx); err == nil {
		ch <- prom.MustNewConstMetric(qm.bytes, prom.GaugeValue, float64(b))
		ch <- prom.MustNewConstMetric(qm.limit, prom.GaugeValue, float64(limit))
	}
}

func (m *Metrics) queueMetrics() *queueMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.queue
}

// Published records a batch handed to the queue.
func (m *Metrics) Published(events int, took time.Duration, err error) {
	qm := m.queueMetrics()
	if qm == nil {
		return
	}
	if err != nil {
		qm.publishFailed.Inc()
		return
	}
	qm.publish.Observe(took.Seconds())
}

// Consumed records a batch a worker stored and acknowledged.
func (m *Metrics) Consumed(partition, events int, took time.Duration) {
	qm := m.queueMetrics()
	if qm == nil {
		return
	}
	qm.stored.Add(float64(events))
	qm.storeDuration.Observe(took.Seconds())
}
