package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/livebill/livebill"
	lbhttp "github.com/livebill/livebill/http"
	lbnats "github.com/livebill/livebill/nats"
)

// serve --queue: the roles of a scaled-out deployment (docs/scale-out.md).

const queueHelp = `With --queue nats://…, events go through a NATS JetStream stream and the
service splits into roles (--roles, all three by default), which can run
in separate processes on several machines sharing one PostgreSQL:
ingest takes events (POST /v1/events, imports, vendor webhooks) and
answers once JetStream has acknowledged them; worker stores the events
of the stream's partitions it owns, keeps their accounts' live meters and
settles them; api answers everything else from the database (and sends
the notifications, and decides admission). A worker's partitions move to
the others when it stops or dies (within --worker-lease-ttl and a third),
and it gets its share back when it returns. Without --queue the server
takes every role itself and stores events directly, as always.`

// Roles of serve --queue.
const (
	roleIngest = "ingest"
	roleWorker = "worker"
	roleAPI    = "api"
)

// queueFlags are serve's flags of the event queue.
type queueFlags struct {
	url, roles, stream, workerID *string
	partitions, replicas         *int
	maxBytes                     byteSize
	maxAge, dedup, leaseTTL      *time.Duration
}

func addQueueFlags(fs *flag.FlagSet) *queueFlags {
	qf := &queueFlags{
		url:        fs.String("queue", "", "NATS server of the event queue (nats://host:4222); without it, events are stored directly and the server takes every role"),
		roles:      fs.String("roles", "ingest,worker,api", "with --queue, the roles this process takes: ingest (takes events into the queue), worker (stores and settles its partitions' accounts), api (everything else)"),
		stream:     fs.String("queue-stream", lbnats.DefaultStream, "name of the JetStream stream (subjects <name>.events.<partition>)"),
		workerID:   fs.String("worker-id", "", "this worker's name among the queue's workers (default: host name and process id)"),
		partitions: fs.Int("queue-partitions", lbnats.DefaultPartitions, "partitions of the stream (by account), fixed when the stream is made: at most this many workers share the work"),
		replicas:   fs.Int("queue-replicas", 1, "replicas of the stream on a NATS cluster (3 to survive the loss of a NATS server)"),
		maxAge:     fs.Duration("queue-max-age", 0, "drop events still waiting in the stream after this long, stored or not (0: keep them until a worker stores them)"),
		dedup:      fs.Duration("queue-dedup-window", lbnats.DefaultDuplicates, "the stream's deduplication window: an event sent again within it is recognised by the stream"),
		leaseTTL:   fs.Duration("worker-lease-ttl", lbnats.DefaultLeaseTTL, "how long a worker's heartbeat and partition leases last; renewed every third of it"),
		maxBytes:   byteSize(lbnats.DefaultMaxBytes),
	}
	fs.Var(&qf.maxBytes, "queue-max-bytes", "the most bytes of events waiting in the stream (e.g. 512MiB, 4GiB); past it ingestion answers 503 with Retry-After until the workers catch up")
	return qf
}

// roleSet is the roles a process takes.
type roleSet struct{ ingest, worker, api bool }

// parse reads --roles; without a queue only all three make sense.
func (qf *queueFlags) parse() (roleSet, error) {
	var r roleSet
	for _, s := range strings.Split(*qf.roles, ",") {
		switch strings.TrimSpace(s) {
		case roleIngest:
			r.ingest = true
		case roleWorker:
			r.worker = true
		case roleAPI:
			r.api = true
		default:
			return r, fmt.Errorf("--roles: %q is not a role (ingest, worker, api)", s)
		}
	}
	if *qf.url == "" && r != (roleSet{true, true, true}) {
		return r, errors.New("--roles needs --queue: without an event queue the server takes every role")
	}
	if *qf.leaseTTL < time.Second {
		return r, fmt.Errorf("--worker-lease-ttl must be at least 1s, not %s", *qf.leaseTTL)
	}
	return r, nil
}

// parts is the part of the route table the roles serve.
func (r roleSet) parts() lbhttp.Parts {
	p := lbhttp.OpsRoutes
	if r.ingest {
		p |= lbhttp.EventRoutes
	}
	if r.api {
		p |= lbhttp.ReadRoutes
	}
	return p
}

func (r roleSet) String() string {
	var out []string
	for _, x := range []struct {
		on   bool
		name string
	}{{r.ingest, roleIngest}, {r.worker, roleWorker}, {r.api, roleAPI}} {
		if x.on {
			out = append(out, x.name)
		}
	}
	return strings.Join(out, ",")
}

// open connects to the queue (nil, nil without --queue).
func (qf *queueFlags) open(ctx context.Context, name string) (*lbnats.Queue, error) {
	if *qf.url == "" {
		return nil, nil
	}
	q, err := lbnats.Open(ctx, lbnats.Config{URL: *qf.url, Stream: *qf.stream, Partitions: *qf.partitions, MaxBytes: int64(qf.maxBytes),
		MaxAge: *qf.maxAge, Duplicates: *qf.dedup, Replicas: *qf.replicas, Name: name})
	if err != nil {
		return nil, fmt.Errorf("cannot open the event queue (%s): %w", *qf.url, err)
	}
	return q, nil
}

// worker makes the queue worker of this process.
func (qf *queueFlags) worker(q *lbnats.Queue, store livebill.Store, clock livebill.Clock, logf func(string, ...any), mon livebill.QueueMonitor) (*lbnats.Worker, error) {
	leases, ok := store.(livebill.PartitionStore)
	if !ok {
		return nil, errors.New("the database keeps no partition leases")
	}
	id := *qf.workerID
	if id == "" {
		host, _ := os.Hostname()
		id = host + "-" + strconv.Itoa(os.Getpid())
	}
	if err := livebill.CheckText("worker-id", id); err != nil {
		return nil, err
	}
	return &lbnats.Worker{Queue: q, Store: store, Leases: leases, Clock: clock, ID: id, LeaseTTL: *qf.leaseTTL, Logf: logf, Monitor: mon}, nil
}

// byteSize is a size flag: bytes, or KiB, MiB, GiB.
type byteSize int64

func (b *byteSize) String() string {
	for _, u := range []struct {
		suffix string
		n      int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if int64(*b) >= u.n && int64(*b)%u.n == 0 {
			return strconv.FormatInt(int64(*b)/u.n, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(*b), 10)
}

func (b *byteSize) Set(s string) error {
	mult := int64(1)
	num := s
	for _, u := range []struct {
		suffix string
		n      int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = n, u.n
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<50)/mult {
		return fmt.Errorf("must be a positive size in bytes, or KiB, MiB, GiB (512MiB), not %q", s)
	}
	*b = byteSize(n * mult)
	return nil
}

// closeAfter closes its closers, in order, once done is closed: the
// queue and the store outlive the worker's last batch.
type closeAfter struct {
	done    <-chan struct{}
	closers []io.Closer
}

func (c *closeAfter) Close() error {
	<-c.done
	var errs []error
	for _, cl := range c.closers {
		errs = append(errs, cl.Close())
	}
	return errors.Join(errs...)
}
