// Package prometheus exports livebill's measurements as Prometheus
// metrics, with the Prometheus Go client: it implements the monitors the
// billing service (livebill.BillingMonitor) and the HTTP server
// (http.Monitor) report to, and serves the text exposition.
//
// Every metric is named livebill_…, beside the client's standard go_…
// and process_… ones. Labels take only a few values each (statuses,
// reason codes, vendors, the route table's patterns), never an account,
// an app or a raw path.
package prometheus

import (
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/livebill/livebill"
	lbhttp "github.com/livebill/livebill/http"
	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds livebill's metrics in a registry of their own.
type Metrics struct {
	reg   *prom.Registry
	clock livebill.Clock

	ingestEvents   *prom.CounterVec // status
	ingestRejected *prom.CounterVec // reason
	ingestBatch    prom.Histogram

	requests        *prom.CounterVec   // route, method, code
	requestDuration *prom.HistogramVec // route, method
	webhookRefused  *prom.CounterVec   // vendor, reason

	settleDuration prom.Histogram
	settleAccounts *prom.CounterVec // outcome
	billsIssued    prom.Counter
	openSessions   prom.Gauge
	liveMeters     prom.Gauge

	mu      sync.Mutex
	lastRun livebill.SettleRun // for the lag, computed at each scrape
	queue   *queueMetrics      // the event queue's, once watched (queue.go)
}

var (
	_ livebill.BillingMonitor = (*Metrics)(nil)
	_ lbhttp.Monitor          = (*Metrics)(nil)
)

// Build names the running binary in livebill_build_info.
type Build struct {
	Version, Revision, GoVersion string
}

// BuildOf reads the binary's build information (nil: none).
func BuildOf(bi *debug.BuildInfo) Build {
	b := Build{Version: "unknown", Revision: "unknown", GoVersion: "unknown"}
	if bi == nil {
		return b
	}
	b.Version, b.GoVersion = bi.Main.Version, bi.GoVersion
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && s.Value != "" {
			b.Revision = s.Value
		}
	}
	return b
}

// Vendors whose webhook signature failures are counted from the start.
var vendors = []string{"trtc", "livekit", "agora"}

// New returns the metrics of a server running build; clock dates the
// settlement lag.
func New(clock livebill.Clock, build Build) *Metrics {
	if clock == nil {
		clock = livebill.SystemClock{}
	}
	m := &Metrics{reg: prom.NewRegistry(), clock: clock}
	m.ingestEvents = prom.NewCounterVec(prom.CounterOpts{Name: "livebill_ingest_events_total",
		Help: "Events received for ingestion (API pushes and vendor webhooks), by outcome: accepted (new, stored), duplicate (already stored, acknowledged again), rejected (not stored)."},
		[]string{"status"})
	m.ingestRejected = prom.NewCounterVec(prom.CounterOpts{Name: "livebill_ingest_rejected_events_total",
		Help: "Events rejected at ingestion, by reason code (invalid, not_found, forbidden, conflict, …)."},
		[]string{"reason"})
	m.ingestBatch = prom.NewHistogram(prom.HistogramOpts{Name: "livebill_ingest_batch_duration_seconds",
		Help:    "Time to validate and durably store one batch of events (a push or a webhook callback).",
		Buckets: prom.DefBuckets})
	m.requests = prom.NewCounterVec(prom.CounterOpts{Name: "livebill_http_requests_total",
		Help: "HTTP requests answered, by route pattern (unmatched: no route), method and status code."},
		[]string{"route", "method", "code"})
	m.requestDuration = prom.NewHistogramVec(prom.HistogramOpts{Name: "livebill_http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by route pattern and method.",
		Buckets: prom.DefBuckets}, []string{"route", "method"})
	m.webhookRefused = prom.NewCounterVec(prom.CounterOpts{Name: "livebill_webhook_signature_failures_total",
		Help: "Vendor webhook callbacks refused (401), by vendor and reason: signature (it does not verify) or stale (its signed timestamp is outside the webhook window)."},
		[]string{"vendor", "reason"})
	m.settleDuration = prom.NewHistogram(prom.HistogramOpts{Name: "livebill_settlement_duration_seconds",
		Help:    "Time of one settlement run of every account (each --settle-every).",
		Buckets: prom.ExponentialBuckets(0.01, 4, 9)}) // 10 ms … 11 min
	m.settleAccounts = prom.NewCounterVec(prom.CounterOpts{Name: "livebill_settlement_accounts_total",
		Help: "Accounts settled by settlement runs (outcome settled: bills or settlement written) or that failed to settle (failed)."},
		[]string{"outcome"})
	m.billsIssued = prom.NewCounter(prom.CounterOpts{Name: "livebill_bills_issued_total",
		Help: "Bills issued by settlement runs, adjustments included."})
	m.openSessions = prom.NewGauge(prom.GaugeOpts{Name: "livebill_open_sessions",
		Help: "Participants (users and robots) present in rooms as the live meters hold them, each at its watermark; updated at each settlement run."})
	m.liveMeters = prom.NewGauge(prom.GaugeOpts{Name: "livebill_live_meters",
		Help: "Accounts with a live meter in memory; updated at each settlement run."})
	lag := prom.NewGaugeFunc(prom.GaugeOpts{Name: "livebill_settlement_lag_seconds",
		Help: "How long the oldest closed day not yet settled has been due (its end in the account's zone plus the settle delay), over every account as the last settlement run left them; 0 when none is due."},
		m.lag)
	info := prom.NewGauge(prom.GaugeOpts{Name: "livebill_build_info",
		Help:        "The running binary: its module version, version-control revision and Go version (always 1).",
		ConstLabels: prom.Labels{"version": build.Version, "revision": build.Revision, "go_version": build.GoVersion}})
	info.Set(1)
	m.reg.MustRegister(m.ingestEvents, m.ingestRejected, m.ingestBatch, m.requests, m.requestDuration,
		m.webhookRefused, m.settleDuration, m.settleAccounts, m.billsIssued, m.openSessions, m.liveMeters, lag, info,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// the series that count from zero exist from the start, so a rate
	// over them is defined before the first event
	for _, st := range []string{livebill.IngestAccepted, livebill.IngestDuplicate, livebill.IngestRejected} {
		m.ingestEvents.WithLabelValues(st)
	}
	for _, code := range []string{livebill.EINVALID, livebill.ENOTFOUND, livebill.EFORBIDDEN, livebill.ECONFLICT} {
		m.ingestRejected.WithLabelValues(code)
	}
	for _, v := range vendors {
		m.webhookRefused.WithLabelValues(v, lbhttp.BadSignature)
		m.webhookRefused.WithLabelValues(v, lbhttp.StaleWebhook)
	}
	for _, o := range []string{"settled", "failed"} {
		m.settleAccounts.WithLabelValues(o)
	}
	return m
}

// Handler serves the metrics in the Prometheus text format; errors
// gathering them go to log.
func (m *Metrics) Handler(log *slog.Logger) http.Handler {
	opts := promhttp.HandlerOpts{}
	if log != nil {
		opts.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelError)
	}
	return promhttp.HandlerFor(m.reg, opts)
}

// Registry is the metrics' registry (to gather them in tests).
func (m *Metrics) Registry() *prom.Registry { return m.reg }

// Ingested counts a batch's events by outcome and the rejected ones by
// reason, and times the batch.
func (m *Metrics) Ingested(res *livebill.IngestResult, took time.Duration) {
	m.ingestEvents.WithLabelValues(livebill.IngestAccepted).Add(float64(res.Accepted))
	m.ingestEvents.WithLabelValues(livebill.IngestDuplicate).Add(float64(res.Duplicate))
	m.ingestEvents.WithLabelValues(livebill.IngestRejected).Add(float64(res.Rejected))
	for _, st := range res.Errors {
		reason := st.Code
		if reason == "" {
			reason = "unknown"
		}
		m.ingestRejected.WithLabelValues(reason).Inc()
	}
	m.ingestBatch.Observe(took.Seconds())
}

// Settled records a settlement run.
func (m *Metrics) Settled(run *livebill.SettleRun) {
	m.settleDuration.Observe(run.Took.Seconds())
	m.settleAccounts.WithLabelValues("settled").Add(float64(run.Settled))
	m.settleAccounts.WithLabelValues("failed").Add(float64(run.Failed))
	m.billsIssued.Add(float64(run.Bills))
	m.openSessions.Set(float64(run.OpenSessions))
	m.liveMeters.Set(float64(run.LiveMeters))
	m.mu.Lock()
	m.lastRun = *run
	m.mu.Unlock()
}

// lag is the settlement lag now, from the last run.
func (m *Metrics) lag() float64 {
	m.mu.Lock()
	run := m.lastRun
	m.mu.Unlock()
	return run.Lag(m.clock.Now()).Seconds()
}

// Served counts and times an answered request.
func (m *Metrics) Served(req *lbhttp.Served) {
	m.requests.WithLabelValues(req.Route, req.Method, strconv.Itoa(req.Status)).Inc()
	m.requestDuration.WithLabelValues(req.Route, req.Method).Observe(req.Took.Seconds())
}

// WebhookRefused counts a callback refused for its signature.
func (m *Metrics) WebhookRefused(vendor, why string) {
	m.webhookRefused.WithLabelValues(strings.ToLower(vendor), why).Inc()
}
