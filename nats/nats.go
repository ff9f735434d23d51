// Package nats carries livebill's usage events through a NATS JetStream
// stream, so that ingestion, metering and settlement run in separate
// processes on several machines sharing one PostgreSQL (livebill serve
// --queue).
//
// The stream's subjects are partitioned by account: an account's events
// go to <stream>.events.<p>, p = FNV-1a(account) mod the partition count,
// which is fixed when the stream is made. Ingestion (Publisher) answers a
// batch once JetStream acknowledged every message of it; each message's
// Nats-Msg-Id is derived from (account, event id), so a batch sent again
// is deduplicated by the stream. Workers (Worker) each own some partitions
// by leases in the shared database (livebill.PartitionStore), consume
// each with one durable consumer, in order, store the events through the
// store's idempotent path (StoreEvents, keyed on (account, event id)),
// acknowledge them after the commit, and settle the accounts of their
// partitions. A message delivered again (a worker died before its
// acknowledgement) is stored as a duplicate: it counts once.
//
// The stream keeps a message until a worker acknowledged it (work-queue
// retention) within a byte limit; when the workers fall that far behind,
// new messages are refused and ingestion answers 503 with Retry-After.
package nats

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/livebill/livebill"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of Config.
const (
	DefaultStream     = "livebill"
	DefaultPartitions = 12
	DefaultMaxBytes   = 1 << 30 // 1 GiB of events waiting for the workers
	DefaultDuplicates = 2 * time.Minute
	DefaultAckWait    = 20 * time.Second
	// MaxPartitions bounds the partition count (and the partition label
	// of the lag metrics).
	MaxPartitions = 1024
)

// Message headers besides Nats-Msg-Id: the event's account, billing day
// and import; the message's data is the event's canonical JSON.
const (
	headerAccount = "Livebill-Account"
	headerDay     = "Livebill-Day"
	headerImport  = "Livebill-Import"
	// describe is the stream's description, which records its partition
	// count (metadata would need NATS 2.10; Debian ships 2.9)
	describe = "livebill usage events by account: %d partitions"
)

// Config describes the stream and the connection.
type Config struct {
	// URL is the NATS server (nats://host:4222; several comma-separated).
	URL string
	// Stream names the stream (default DefaultStream); its subjects are
	// <Stream>.events.<partition>.
	Stream string
	// Partitions is the number of partitions (default DefaultPartitions),
	// fixed when the stream is made: a stream made with another count is
	// refused.
	Partitions int
	// MaxBytes bounds the events waiting in the stream (default
	// DefaultMaxBytes); past it, publishing is refused until the workers
	// catch up.
	MaxBytes int64
	// MaxAge, when positive, drops a message still waiting after this
	// long, stored or not: 0 keeps every message until it is stored.
	MaxAge time.Duration
	// Duplicates is the stream's deduplication window (default
	// DefaultDuplicates): a message whose id was seen within it is not
	// stored again.
	Duplicates time.Duration
	// Replicas is the stream's replica count on a NATS cluster (default 1).
	Replicas int
	// AckWait is how long a message delivered to a worker waits for its
	// acknowledgement before it is delivered again (default
	// DefaultAckWait).
	AckWait time.Duration
	// Name names the connection in the server's monitoring.
	Name string
}

func (c *Config) defaults() {
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.Duplicates == 0 {
		c.Duplicates = DefaultDuplicates
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.AckWait == 0 {
		c.AckWait = DefaultAckWait
	}
}

// Validate reports every problem with the configuration, joined.
func (c *Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, livebill.Errorf(livebill.EINVALID, "queue: missing (a NATS URL, nats://host:4222)"))
	}
	if err := livebill.CheckText("queue stream", c.Stream); err != nil || !validName(c.Stream) {
		errs = append(errs, livebill.Errorf(livebill.EINVALID, "queue stream: %q must be letters, digits, - or _", c.Stream))
	}
	if c.Partitions < 1 || c.Partitions > MaxPartitions {
		errs = append(errs, livebill.Errorf(livebill.EINVALID, "queue partitions: must be between 1 and %d, not %d", MaxPartitions, c.Partitions))
	}
	if c.MaxBytes < 1<<20 {
		errs = append(errs, livebill.Errorf(livebill.EINVALID, "queue max bytes: must be at least 1 MiB, not %d", c.MaxBytes))
	}
	if c.MaxAge < 0 || (c.MaxAge > 0 && c.MaxAge < c.Duplicates) {
		errs = append(errs, livebill.Errorf(livebill.EINVALID, "queue max age: must be 0 (none) or at least the deduplication window %s, not %s", c.Duplicates, c.MaxAge))
	}
	if c.Duplicates < time.Second {
		errs = append(errs, livebill.Errorf(livebill.EINVALID, "queue deduplication window: must be at least 1s, not %s", c.Duplicates))
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, livebill.Errorf(livebill.EINVALID, "queue replicas: must be between 1 and 5, not %d", c.Replicas))
	}
	if c.AckWait < time.Second {
		errs = append(errs, livebill.Errorf(livebill.EINVALID, "queue ack wait: must be at least 1s, not %s", c.AckWait))
	}
	return errors.Join(errs...)
}

// validName reports whether s can name a stream and start its subjects.
func validName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return s != ""
}

// Queue is a connection to the stream.
type Queue struct {
	cfg    Config
	nc     *natsgo.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	cons   []jetstream.Consumer // by partition
}

var _ livebill.Pinger = (*Queue)(nil)

// Open connects to the NATS server, makes the stream if there is none
// (and its limits what cfg says if there is one) and one durable consumer
// per partition.
func Open(ctx context.Context, cfg Config) (*Queue, error) {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	nc, err := natsgo.Connect(cfg.URL, natsgo.Name(cfg.Name), natsgo.MaxReconnects(-1), natsgo.ReconnectWait(time.Second))
	if err != nil {
		return nil, fmt.Errorf("cannot connect to NATS at %s: %w", cfg.URL, err)
	}
	q := &Queue{cfg: cfg, nc: nc}
	if err := q.setUp(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return q, nil
}

func (q *Queue) setUp(ctx context.Context) error {
	js, err := jetstream.New(q.nc, jetstream.WithPublishAsyncMaxPending(4*maxBatchEvents), jetstream.WithPublishAsyncTimeout(publishTimeout))
	if err != nil {
		return err
	}
	q.js = js
	want := jetstream.StreamConfig{
		Name:        q.cfg.Stream,
		Description: fmt.Sprintf(describe, q.cfg.Partitions),
		Subjects:    []string{q.cfg.Stream + ".events.*"},
		Retention:   jetstream.WorkQueuePolicy,
		Discard:     jetstream.DiscardNew,
		MaxBytes:    q.cfg.MaxBytes,
		MaxAge:      q.cfg.MaxAge,
		Duplicates:  q.cfg.Duplicates,
		Storage:     jetstream.FileStorage,
		Replicas:    q.cfg.Replicas,
		AllowDirect: true,
	}
	s, err := js.Stream(ctx, q.cfg.Stream)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		if s, err = js.CreateStream(ctx, want); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("cannot make the stream %q: %w", q.cfg.Stream, err)
		}
		if err != nil { // made meanwhile by another process
			if s, err = js.Stream(ctx, q.cfg.Stream); err != nil {
				return fmt.Errorf("cannot read the stream %q: %w", q.cfg.Stream, err)
			}
		}
	case err != nil:
		return fmt.Errorf("cannot read the stream %q: %w", q.cfg.Stream, err)
	}
	have := s.CachedInfo().Config
	var n int
	if _, err := fmt.Sscanf(have.Description, describe, &n); err != nil {
		return livebill.Errorf(livebill.ECONFLICT, "stream %q is not a livebill event stream (its description is %q): name another with --queue-stream", q.cfg.Stream, have.Description)
	}
	if n != q.cfg.Partitions {
		return livebill.Errorf(livebill.ECONFLICT, "stream %q has %d partitions, not %d: the partition count is fixed when the stream is made (give --queue-partitions %d, or another --queue-stream)",
			q.cfg.Stream, n, q.cfg.Partitions, n)
	}
	if have.MaxBytes != want.MaxBytes || have.MaxAge != want.MaxAge || have.Duplicates != want.Duplicates || have.Replicas != want.Replicas || have.Retention != want.Retention {
		if s, err = js.UpdateStream(ctx, want); err != nil {
			return fmt.Errorf("cannot change the limits of the stream %q: %w", q.cfg.Stream, err)
		}
	}
	q.stream = s
	q.cons = make([]jetstream.Consumer, q.cfg.Partitions)
	for p := range q.cons {
		c, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable:       q.consumerName(p),
			Description:   fmt.Sprintf("livebill workers, partition %d", p),
			FilterSubject: q.subject(p),
			DeliverPolicy: jetstream.DeliverAllPolicy,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       q.cfg.AckWait,
			MaxDeliver:    -1,
			MaxAckPending: 2 * maxBatchEvents,
		})
		if err != nil {
			return fmt.Errorf("cannot make the consumer of partition %d: %w", p, err)
		}
		q.cons[p] = c
	}
	return nil
}

// Close closes the connection.
func (q *Queue) Close() error {
	q.nc.Close()
	return nil
}

// Ping checks that JetStream answers.
func (q *Queue) Ping(ctx context.Context) error {
	_, err := q.js.AccountInfo(ctx)
	return err
}

// Config returns the queue's configuration, defaults filled in.
func (q *Queue) Config() Config { return q.cfg }

// Partitions is the stream's partition count.
func (q *Queue) Partitions() int { return q.cfg.Partitions }

// PartitionOf is the partition of an account's events.
func (q *Queue) PartitionOf(accountID string) int { return PartitionOf(accountID, q.cfg.Partitions) }

// PartitionOf is the partition of an account among n: FNV-1a of its id.
func PartitionOf(accountID string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(accountID))
	return int(h.Sum32() % uint32(n))
}

func (q *Queue) subject(p int) string { return q.cfg.Stream + ".events." + strconv.Itoa(p) }

func (q *Queue) consumerName(p int) string { return q.cfg.Stream + "-p" + strconv.Itoa(p) }

// Lag reads how far behind each partition's consumer is.
func (q *Queue) Lag(ctx context.Context) ([]livebill.PartitionLag, error) {
	out := make([]livebill.PartitionLag, len(q.cons))
	for p, c := range q.cons {
		info, err := c.Info(ctx)
		if err != nil {
			return nil, fmt.Errorf("cannot read the consumer of partition %d: %w", p, err)
		}
		out[p] = livebill.PartitionLag{Partition: p, Pending: info.NumPending, Unacked: uint64(info.NumAckPending)}
	}
	return out, nil
}

// Fill reads how full the stream is: the bytes of the messages waiting,
// and the limit (Config.MaxBytes) past which publishing is refused.
func (q *Queue) Fill(ctx context.Context) (bytes, limit int64, err error) {
	info, err := q.stream.Info(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("cannot read the stream %q: %w", q.cfg.Stream, err)
	}
	return int64(info.State.Bytes), info.Config.MaxBytes, nil
}
