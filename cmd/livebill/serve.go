package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/admission"
	"github.com/livebill/livebill/billing"
	lbhttp "github.com/livebill/livebill/http"
	"github.com/livebill/livebill/postgres"
	"github.com/livebill/livebill/sqlite"
)

const serveSynopsis = `livebill serve [--db DIR|postgres://…] [--addr HOST:PORT] [--admin-key-file F] [--settle-every D] [--settle-delay D] [--webhook-lateness D] [--lease-ttl D]

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

POST /v1/authorize decides admission (may a user join, a stream start, a
cloud-gaming session or a remote operation begin?) from memory the server
keeps current: purchases and editions, apps' service status, rooms'
occupancy from the stored events. Leases (cloud-gaming sessions and
pushes, industrial operation) are granted in the database, so servers
sharing one PostgreSQL never grant more than was purchased; a lease not
renewed within its time to live (--lease-ttl by default) expires.

Every route but /v1/health, /v1/openapi.json and the vendor webhooks needs
an API key (Authorization: Bearer <key>). The operator key is
$LIVEBILL_ADMIN_KEY or the content of --admin-key-file; without either, the
first start makes one and prints it once on stderr.`

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
	adminKeyFile := fs.String("admin-key-file", "", "file holding the operator API key (or $LIVEBILL_ADMIN_KEY)")
	leaseTTL := fs.Duration("lease-ttl", admission.DefaultLeaseTTL, "a lease's time to live without renewal when the request names none")
	lateness := fs.Duration("webhook-lateness", time.Minute, "allowed lateness of events (and vendor webhooks) after their time: the live meters apply events older than this; later ones cost a rebuild, and once their day is settled an adjustment (the settle delay is at least this)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		fs.Usage()
		return &exitError{code: 2, err: fmt.Errorf("serve takes no arguments, got %q", pos)}
	}
	adminKey, err := adminKeyFrom(os.Getenv("LIVEBILL_ADMIN_KEY"), *adminKeyFile)
	if err != nil {
		return &exitError{code: 2, err: err}
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
	srv := lbhttp.NewServer(store, svc)
	srv.WebhookLateness = *lateness
	srv.AdminKey = adminKey
	bound, err := srv.Listen(*addr)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	if adminKey == "" {
		if err := ensureAdminKey(ctx, store, clock, bound.String(), stderr); err != nil {
			return &exitError{code: 1, err: err}
		}
	}
	logger := log.New(stderr, "livebill: ", log.LstdFlags)
	if leases, ok := store.(livebill.LeaseStore); ok {
		adm := &admission.Service{Store: store, Leases: leases, Accounts: svc, Clock: clock, Logf: logger.Printf, LeaseTTL: *leaseTTL,
			// until the account lifecycle keeps statuses: the trial service stop
			Status: &billing.TrialStops{Billing: svc},
			Meter:  &admission.LeaseMeter{Ingest: svc, Leases: leases, Logf: logger.Printf}}
		go adm.Run(ctx)
		srv.Admission = adm
	}
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

// serverURL is the --server default: $LIVEBILL_SERVER or the local server.
func serverURL() string {
	if s := os.Getenv("LIVEBILL_SERVER"); s != "" {
		return s
	}
	return "http://127.0.0.1:8080"
}
