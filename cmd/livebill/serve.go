package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
	lbhttp "github.com/livebill/livebill/http"
	"github.com/livebill/livebill/postgres"
	"github.com/livebill/livebill/sqlite"
)

const serveSynopsis = `livebill serve [--db DIR|postgres://…] [--addr HOST:PORT] [--settle-every D] [--settle-delay D] [--webhook-lateness D] [--event-max-age D] [--event-max-future D]

Runs the livebill service: the JSON API under /v1 (OpenAPI document at
/v1/openapi.json) for accounts, apps, purchases, usage events, usage, bills
and quotes. Events are stored durably (acknowledged only after commit) and
idempotently on (account, event id). Every --settle-every, each account's
live meter (the same meter and rating as 'livebill quote') takes the
events that arrived and applies those older than --webhook-lateness in
time order; an event later than that rebuilds the account's meter by a
replay (same numbers). Closed days (older than --settle-delay) are settled
into issued bills; a settled bill is never rewritten, later changes are
issued as adjustments.

--db is a data directory for the embedded SQLite database (default ./data,
created if needed) or a PostgreSQL URL. Migrations are applied on start.
The server listens on loopback by default.

Event times are bounded around the server's clock: an event older than
--event-max-age (default 730d: last year's history can be imported whole
at any time of this year) or more than --event-max-future ahead (default
1h, for clock skew) is rejected, with the field time named; the rest of
its batch is kept. Durations take Go's units (90m, 36h) or days (400d).`

func init() {
	register("serve", command{synopsis: "[--db DIR|URL] [--addr A]  run the API server (SQLite in ./data by default)", order: 10, run: cmdServe})
}

// openStore opens the backend --db names.
func openStore(ctx context.Context, db string, clock livebill.Clock) (livebill.Store, string, error) {
	if strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://") {
		s, err := postgres.Open(ctx, db, clock)
		return s, "postgres", err
	}
	s, err := sqlite.Open(ctx, db, clock)
	return s, "sqlite " + db, err
}

func cmdServe(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", serveSynopsis, stderr)
	db := fs.String("db", "data", "data directory (embedded SQLite) or postgres:// URL")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	every := fs.Duration("settle-every", time.Minute, "how often to settle closed days (0: never; POST /v1/accounts/{id}/settle still works)")
	delay := fs.Duration("settle-delay", time.Hour, "how long after a day closes it is settled")
	lateness := fs.Duration("webhook-lateness", time.Minute, "allowed lateness of events (and vendor webhooks) after their time: the live meters apply events older than this; later ones cost a rebuild, and once their day is settled an adjustment (the settle delay is at least this)")
	maxAge := days(billing.DefaultEventMaxAge)
	fs.Var(&maxAge, "event-max-age", "reject events older than this on the server's clock (e.g. 730d, 36h)")
	maxFuture := days(billing.DefaultEventMaxFuture)
	fs.Var(&maxFuture, "event-max-future", "reject events more than this ahead of the server's clock (e.g. 1h)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		fs.Usage()
		return &exitError{code: 2, err: fmt.Errorf("serve takes no arguments, got %q", pos)}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	clock := livebill.SystemClock{}
	store, what, err := openStore(ctx, *db, clock)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	defer store.Close()
	svc := billing.New(store, clock)
	svc.SettleDelay = max(*delay, *lateness)
	svc.Lateness = *lateness
	svc.EventMaxAge, svc.EventMaxFuture = time.Duration(maxAge), time.Duration(maxFuture)
	srv := lbhttp.NewServer(store, svc)
	srv.WebhookLateness = *lateness
	bound, err := srv.Listen(*addr)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	logger := log.New(stderr, "livebill: ", log.LstdFlags)
	logger.Printf("storage: %s", what)
	logger.Printf("listening on http://%s (API /v1, OpenAPI /v1/openapi.json)", bound)
	if *every > 0 {
		go func() {
			t := time.NewTicker(*every)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if err := svc.SettleAll(ctx); err != nil && ctx.Err() == nil {
						logger.Printf("settle: %v", err)
					}
				}
			}
		}()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve() }()
	select {
	case err := <-errc:
		return &exitError{code: 1, err: err}
	case <-ctx.Done():
	}
	logger.Printf("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
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

// serverURL is the --server default: $LIVEBILL_SERVER or the local server.
func serverURL() string {
	if s := os.Getenv("LIVEBILL_SERVER"); s != "" {
		return s
	}
	return "http://127.0.0.1:8080"
}
