package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/admission"
	"github.com/livebill/livebill/archive"
	"github.com/livebill/livebill/billing"
	"github.com/livebill/livebill/console"
	lbhttp "github.com/livebill/livebill/http"
	lbnats "github.com/livebill/livebill/nats"
	"github.com/livebill/livebill/notify"
	"github.com/livebill/livebill/postgres"
	"github.com/livebill/livebill/prometheus"
	"github.com/livebill/livebill/sqlite"
	"github.com/livebill/livebill/sqlstore"
	"github.com/livebill/livebill/webhook"
)

const serveSynopsis = `livebill serve [--db DIR|postgres://…|--db-file FILE] [--addr HOST:PORT] [--admin-key-file F] [--settle-every D] [--settle-delay D] [--settle-quiet D] [--import-timeout D] [--webhook-lateness D] [--webhook-window D] [--event-max-age D] [--event-max-future D] [--shutdown-timeout D] [--log-format text|json] [--log-level L] [--metrics-addr HOST:PORT] [--notify-every D] [--lease-ttl D] [--events-retention D|off] [--events-archive DIR] [--queue nats://… [--roles ingest,worker,api] [--queue-stream S] [--queue-partitions N] [--queue-max-bytes B] [--queue-max-age D] [--queue-dedup-window D] [--queue-replicas N] [--worker-id ID] [--worker-lease-ttl D]]

Runs the livebill service: the JSON API under /v1 (OpenAPI document at
/v1/openapi.json) for accounts, apps, purchases, usage events, usage, bills
and quotes, and the web console at / (sign in with an API key). Events are stored durably (acknowledged only after commit) and
idempotently on (account, event id). Every --settle-every, each account's
live meter (the same meter and rating as 'livebill quote') takes the
events that arrived and applies those older than --webhook-lateness in
time order; an event later than that rebuilds the account's meter by a
replay (same numbers). Closed days (older than --settle-delay) are settled
into issued bills once the account's events for the day have stopped
arriving for --settle-quiet (a backfill or a device flushing its buffer is
billed once it is done, not billed early and adjusted; an account with
traffic today still gets yesterday settled); an open bulk
import (events push --import) holds its accounts until it finishes, or
for --import-timeout after its last batch. A settled bill is never
rewritten, later changes are issued as adjustments. Vendor callbacks
whose own timestamp is more than --webhook-window from the server's clock
are refused (401), so a captured callback cannot be replayed. Each tick
also runs the account lifecycle: an account in arrears past its grace is
suspended, one suspended past its reclaim date is reclaimed. Every
--notify-every, the notifications of state changes and bills go out to
the registered webhook endpoints.

An account's raw events are kept for --events-retention (default 90d)
after their day is settled, then deleted month by month (written first
to --events-archive, if given, as NDJSON.zst per account and month);
bills, the ledger and the usage rollups are kept. An event before an
account's deleted months is refused. Live meters resume from the
checkpoints each settlement stores, so a restart replays only the
events since the last settled day.

Event times are bounded around the server's clock: an event older than
--event-max-age (default 730d: last year's history can be imported whole
at any time of this year) or more than --event-max-future ahead (default
1h, for clock skew) is rejected, with the field time named; the rest of
its batch is kept. Durations take Go's units (90m, 36h) or days (400d).

SIGTERM or SIGINT (Ctrl-C) stops the server gracefully: it accepts no
new connections, answers the requests in flight (a batch being stored is
committed and acknowledged), lets the settlement in progress finish, then
closes the database and exits 0. What still runs after --shutdown-timeout
is cut (its transaction rolls back; a cut batch was not acknowledged) and
the exit status is 1. A second signal stops at once.

The data directory is created if needed. Migrations are applied on
start; a database whose schema is newer than this binary knows is
refused. The server listens on loopback by default.

POST /v1/authorize decides admission (may a user join, a stream start, a
cloud-gaming session or a remote operation begin?) from memory the server
keeps current: purchases and editions, apps' service status, rooms'
occupancy from the stored events. Leases (cloud-gaming sessions and
pushes, industrial operation) are granted in the database, so servers
sharing one PostgreSQL never grant more than was purchased; a lease not
renewed within its time to live (--lease-ttl by default) expires.

Every route but /v1/health, /v1/ready, /v1/openapi.json and the vendor
webhooks needs an API key (Authorization: Bearer <key>). The operator key
is $LIVEBILL_ADMIN_KEY or the content of --admin-key-file; without either,
the first start makes one and prints it once on stderr.

Logs go to stderr, as text or JSON (--log-format): one line per request
answered (method, route, status, duration, bytes, key id) and the
server's notices. /v1/health answers while the process serves; /v1/ready
while its database answers too. Prometheus metrics are at /v1/metrics
(operator key), and at /metrics without a key on --metrics-addr, a
separate listener to keep on a private address. docs/operations.md says
how to deploy, back up, upgrade and monitor the server.

` + queueHelp + "\n\n" + dbHelp

func init() {
	register("serve", command{synopsis: "[--db DIR|URL] [--addr A]  run the API server (SQLite in ./data by default)", order: 10, run: cmdServe})
}

// openStore opens the backend --db names.
func openStore(ctx context.Context, db string, clock livebill.Clock) (livebill.Store, error) {
	if isPostgres(db) {
		return postgres.Open(ctx, db, clock)
	}
	return sqlite.Open(ctx, db, clock)
}

// schemaOf is the schema version of the backend --db names once opened.
func schemaOf(db string) int64 {
	fsys := sqlite.Migrations()
	if isPostgres(db) {
		fsys = postgres.Migrations()
	}
	v, _ := sqlstore.SchemaVersion(fsys, "migrations")
	return v
}

func cmdServe(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", serveSynopsis, stderr)
	dbf := addDBFlags(fs)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	every := fs.Duration("settle-every", time.Minute, "how often to settle closed days (0: never; POST /v1/accounts/{id}/settle still works)")
	delay := fs.Duration("settle-delay", time.Hour, "how long after a day closes it is settled")
	adminKeyFile := fs.String("admin-key-file", "", "file holding the operator API key (or $LIVEBILL_ADMIN_KEY)")
	quietFor := fs.Duration("settle-quiet", billing.DefaultSettleQuiet, "a day is settled only once nothing for it (events, a purchase or refund taking effect that day) has arrived for this long, per account and billing day; POST /v1/accounts/{id}/settle?force=true overrides")
	importTimeout := fs.Duration("import-timeout", billing.DefaultImportTimeout, "an unfinished import stops holding its accounts' settlement this long after its last batch")
	notifyEvery := fs.Duration("notify-every", time.Second, "how often to send due notifications to webhook endpoints (0: never; they wait in the outbox)")
	lateness := fs.Duration("webhook-lateness", time.Minute, "allowed lateness of events (and vendor webhooks) after their time: the live meters apply events older than this; later ones cost a rebuild, and once their day is settled an adjustment (the settle delay is at least this)")
	window := fs.Duration("webhook-window", webhook.DefaultWindow, "vendor callbacks whose own timestamp (TRTC CallbackTs, LiveKit token nbf, Agora notifyMs) is further than this from the server's clock are refused")
	grace := fs.Duration("shutdown-timeout", 20*time.Second, "on SIGTERM or SIGINT, how long to wait for the requests in flight and the settlement in progress before cutting them")
	maxAge := days(billing.DefaultEventMaxAge)
	fs.Var(&maxAge, "event-max-age", "reject events older than this on the server's clock (e.g. 730d, 36h)")
	maxFuture := days(billing.DefaultEventMaxFuture)
	fs.Var(&maxFuture, "event-max-future", "reject events more than this ahead of the server's clock (e.g. 1h)")
	retention := retentionFlag(billing.DefaultRetention)
	fs.Var(&retention, "events-retention", "keep an account's raw events this long after their day is settled (its checkpoint), then delete them month by month (e.g. 90d; off: keep them for ever); bills, ledger and rollups stay")
	archiveDir := fs.String("events-archive", "", "before retention deletes a month of an account's events, write them to DIR/<account>/<YYYY-MM>.ndjson.zst (livebill events restore stores them back)")
	logFormat := fs.String("log-format", "text", "log format on stderr: text (key=value) or json (one object per line)")
	logLevel := fs.String("log-level", "info", "least level logged: debug, info, warn or error")
	metricsAddr := fs.String("metrics-addr", "", "also serve the Prometheus metrics at /metrics, without a key, on this address (keep it private; default: off, /v1/metrics with an operator key only)")
	leaseTTL := fs.Duration("lease-ttl", admission.DefaultLeaseTTL, "a lease's time to live without renewal when the request names none")
	qf := addQueueFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		fs.Usage()
		return &exitError{code: 2, err: fmt.Errorf("serve takes no arguments, got %q", pos)}
	}
	logger, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	// durations that must be positive, and those where 0 means never, at
	// once or the default: none may be negative (a negative delay or
	// lateness settled days before they closed)
	for _, f := range []struct {
		name   string
		d      time.Duration
		zeroOK bool
	}{
		{"settle-quiet", *quietFor, false}, {"import-timeout", *importTimeout, false}, {"webhook-window", *window, false}, {"lease-ttl", *leaseTTL, false},
		{"settle-every", *every, true}, {"settle-delay", *delay, true}, {"webhook-lateness", *lateness, true}, {"notify-every", *notifyEvery, true}, {"shutdown-timeout", *grace, true},
	} {
		switch {
		case f.d < 0 && f.zeroOK:
			return &exitError{code: 2, err: fmt.Errorf("--%s must be 0 or positive, not %s", f.name, f.d)}
		case f.d <= 0 && !f.zeroOK:
			return &exitError{code: 2, err: fmt.Errorf("--%s must be positive, not %s", f.name, f.d)}
		}
	}
	roles, err := qf.parse()
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	adminKey, err := adminKeyFrom(os.Getenv("LIVEBILL_ADMIN_KEY"), *adminKeyFile)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	db, err := dbf.value()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	clock := livebill.SystemClock{}
	store, err := openStore(ctx, db, clock)
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("cannot open the database (%s): %w", describeDB(db), err)}
	}
	metrics := prometheus.New(clock, prometheus.BuildOf(readBuildInfo()))
	svc := billing.New(store, clock)
	if *lateness == 0 {
		*lateness = webhook.DefaultLateness // as the meters and webhooks read 0: the delay is at least what they wait
	}
	svc.SettleDelay = max(*delay, *lateness)
	svc.Lateness = *lateness
	svc.SettleQuiet = *quietFor
	svc.ImportTimeout = *importTimeout
	svc.EventMaxAge, svc.EventMaxFuture = time.Duration(maxAge), time.Duration(maxFuture)
	svc.Monitor = metrics
	svc.Retention = time.Duration(retention)
	if *archiveDir != "" {
		svc.Archive = archive.Dir(*archiveDir)
	}
	srv := lbhttp.NewServer(store, svc)
	srv.WebhookLateness = *lateness
	srv.WebhookWindow = *window
	srv.AdminKey = adminKey
	srv.Logger, srv.Monitor, srv.Metrics = logger, metrics, metrics.Handler(logger)
	srv.Serves = roles.parts()
	// the event queue (--queue): ingestion publishes to it, a worker
	// consumes its partitions and settles only their accounts
	queue, err := qf.open(ctx, "livebill "+roles.String())
	if err != nil {
		store.Close()
		return &exitError{code: 1, err: err}
	}
	closeAll := func() { // before the loops start
		if queue != nil {
			queue.Close()
		}
		store.Close()
	}
	var worker *lbnats.Worker
	if queue != nil {
		metrics.WatchQueue(queue)
		checker, _ := store.(livebill.EventChecker)
		svc.Events = &lbnats.Publisher{Queue: queue, Checker: checker, Clock: clock, Monitor: metrics}
		srv.Queue = queue
		if roles.worker {
			if worker, err = qf.worker(queue, store, clock, func(format string, args ...any) { logger.Info(fmt.Sprintf(format, args...)) }, metrics); err != nil {
				closeAll()
				return &exitError{code: 1, err: err}
			}
			svc.Owns = worker.Owns
		}
	}
	if roles.api {
		con, err := console.New(store, svc, adminKey)
		if err != nil {
			closeAll()
			return &exitError{code: 1, err: err}
		}
		con.Logger, con.Status = logger, svc
		srv.Console = con.Handler()
	}
	bound, err := srv.Listen(*addr)
	if err != nil {
		closeAll()
		return &exitError{code: 1, err: err}
	}
	var msrv *metricsServer
	if *metricsAddr != "" {
		if msrv, err = listenMetrics(*metricsAddr, metrics.Handler(logger), logger); err != nil {
			closeAll()
			return &exitError{code: 1, err: err}
		}
		defer msrv.server.Close() // after the shutdown: its metrics stay readable until then
	}
	if adminKey == "" {
		if err := ensureAdminKey(ctx, store, clock, bound.String(), stderr); err != nil {
			closeAll()
			return &exitError{code: 1, err: err}
		}
	}
	admDone := make(chan struct{})
	if leases, ok := store.(livebill.LeaseStore); ok && roles.api {
		logf := func(format string, args ...any) { logger.Warn(fmt.Sprintf(format, args...)) }
		adm := &admission.Service{Store: store, Leases: leases, Accounts: svc, Status: svc, Clock: clock, Logf: logf, LeaseTTL: *leaseTTL,
			Meter: &admission.LeaseMeter{Ingest: svc, Leases: leases, Logf: logf}}
		srv.Admission = adm
		go func() { defer close(admDone); adm.Run(ctx) }()
	} else {
		close(admDone)
	}
	logger.Info(fmt.Sprintf("storage: %s, schema version %d", describeDB(db), schemaOf(db)))
	logger.Info(fmt.Sprintf("settlement: a day is settled %s after it closes, once its events are quiet for %s; late events wait %s", svc.SettleDelay, *quietFor, *lateness))
	if queue != nil {
		c := queue.Config()
		logger.Info(fmt.Sprintf("event queue: stream %q on %s, %d partitions; roles %s", c.Stream, *qf.url, c.Partitions, roles))
	}
	logger.Info(fmt.Sprintf("listening on http://%s (console /, API /v1, OpenAPI /v1/openapi.json)", bound))
	if msrv != nil {
		logger.Info(fmt.Sprintf("metrics on http://%s/metrics", msrv.addr))
		go msrv.serve()
	}
	if *notifyEvery > 0 && roles.api {
		w := &notify.Worker{Store: store, Clock: clock, Logf: func(format string, args ...any) { logger.Warn(fmt.Sprintf(format, args...)) }}
		go w.Run(ctx, *notifyEvery)
	}
	settleCtx, cancelSettle := context.WithCancel(context.Background())
	defer cancelSettle()
	settle, workerDone := svc.SettleAll, make(chan struct{})
	switch {
	case worker != nil:
		// each tick settles the worker's accounts once the events its
		// partitions held are stored (waiting up to the tick)
		settle = func(c context.Context) error { return worker.Settle(c, min(*every, time.Minute), svc.SettleAll) }
		go func() {
			defer close(workerDone)
			if err := worker.Run(ctx.Done(), settleCtx); err != nil {
				logger.Error(err.Error())
			}
		}()
	case queue != nil: // no worker: nothing settles here
		settle = nil
		close(workerDone)
	default:
		close(workerDone)
	}
	closer := &closeAfter{done: workerDone, closers: []io.Closer{store}}
	if queue != nil {
		closer.closers = []io.Closer{queue, store}
	}
	tick := *every
	if settle == nil {
		tick = 0
	}
	loop := startSettleLoop(ctx.Done(), settleCtx, tick, settle, logger)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve() }()
	select {
	case err := <-errc:
		cancelSettle()
		stop()
		<-admDone
		closer.Close()
		return &exitError{code: 1, err: err}
	case <-ctx.Done():
	}
	stop()    // a second signal stops at once
	<-admDone // admission's refresh stops with the signal, before the store closes
	return shutdown(context.Cause(ctx).Error(), srv, loop, cancelSettle, closer, *grace, logger)
}

// days is a positive duration flag that also takes whole days ("730d").
type days time.Duration

func (d *days) String() string { return dayString(time.Duration(*d)) }

func (d *days) Set(s string) error {
	var v time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		k, err := strconv.Atoi(n)
		if err != nil || k <= 0 || k > 100*366 {
			return fmt.Errorf("must be a positive number of days, as 730d, not %q", s)
		}
		v = time.Duration(k) * 24 * time.Hour
	} else {
		var err error
		if v, err = time.ParseDuration(s); err != nil || v <= 0 {
			return fmt.Errorf("must be a positive duration (90m, 36h) or days (730d), not %q", s)
		}
	}
	*d = days(v)
	return nil
}

// dayString writes a duration of whole days as "730d".
func dayString(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return d.String()
}

// retentionFlag is --events-retention: days or a duration, or "off"
// (billing.NoRetention).
type retentionFlag time.Duration

func (r *retentionFlag) String() string {
	if time.Duration(*r) < 0 {
		return "off"
	}
	return dayString(time.Duration(*r))
}

func (r *retentionFlag) Set(s string) error {
	if s == "off" {
		*r = retentionFlag(billing.NoRetention)
		return nil
	}
	var d days
	if err := d.Set(s); err != nil {
		return fmt.Errorf("%v, or off", err)
	}
	*r = retentionFlag(d)
	return nil
}

// serverURL is the --server default: $LIVEBILL_SERVER or the local server.
func serverURL() string {
	if s := os.Getenv("LIVEBILL_SERVER"); s != "" {
		return s
	}
	return "http://127.0.0.1:8080"
}
