package storetest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
	lbhttp "github.com/livebill/livebill/http"
	"github.com/livebill/livebill/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads GET /v1/metrics with the operator key and returns each
// series' value by "name{label="value",…}" (labels sorted; histograms by
// their _count and _sum).
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	a := call(t, "GET", url+"/v1/metrics", AdminKey, nil)
	if a.status != http.StatusOK {
		t.Fatalf("GET /v1/metrics: %d %s", a.status, a.body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(a.body)))
	if err != nil {
		t.Fatalf("the metrics do not parse: %v", err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.Metric {
			var ls []string
			for _, l := range m.Label {
				ls = append(ls, l.GetName()+"="+`"`+l.GetValue()+`"`)
			}
			key := name
			if len(ls) > 0 {
				key += "{" + strings.Join(ls, ",") + "}"
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.Counter.GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.Gauge.GetValue()
			case dto.MetricType_HISTOGRAM:
				out[strings.Replace(key, name, name+"_count", 1)] = float64(m.Histogram.GetSampleCount())
				out[strings.Replace(key, name, name+"_sum", 1)] = m.Histogram.GetSampleSum()
			}
		}
	}
	return out
}

// expect checks series values; a missing series is an error.
func expect(t *testing.T, when string, got map[string]float64, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: no series %s", when, k)
		} else if g != v {
			t.Errorf("%s: %s = %v, want %v", when, k, g, v)
		}
	}
}

// The metrics of /v1/metrics exist from the start and move as the service
// works: a pushed batch counts its events by outcome and its rejections
// by reason and is timed, the push is counted by route, method and
// status, refused webhooks by vendor and reason; a settlement run counts the
// accounts settled and the bills issued, and leaves the open sessions of
// the live meters and the settlement lag, which grows once a closed day
// waits unsettled past the settle delay.
func testMetrics(t *testing.T, open Opener) {
	ctx := context.Background()
	sh, _ := time.LoadLocation("Asia/Shanghai")
	clock := NewClock(time.Date(2024, 10, 1, 10, 30, 0, 0, sh))
	store := open(t, clock)
	svc := billing.New(store, clock)
	svc.SettleDelay = time.Hour
	m := prometheus.New(clock, prometheus.Build{Version: "v1.2.3", Revision: "abc", GoVersion: "go1.x"})
	svc.Monitor = m
	s := lbhttp.NewServer(store, svc)
	s.AdminKey, s.Monitor, s.Metrics = AdminKey, m, m.Handler(nil)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	c := lbhttp.NewClient(srv.URL)
	c.Key = AdminKey
	e := &env{store: store, clock: clock, svc: svc, client: c}
	setupTRTC(t, e)

	expect(t, "at start", scrape(t, srv.URL), map[string]float64{
		`livebill_build_info{go_version="go1.x",revision="abc",version="v1.2.3"}`:      1,
		`livebill_ingest_events_total{status="accepted"}`:                              0,
		`livebill_ingest_events_total{status="duplicate"}`:                             0,
		`livebill_ingest_events_total{status="rejected"}`:                              0,
		`livebill_ingest_rejected_events_total{reason="invalid"}`:                      0,
		`livebill_webhook_signature_failures_total{reason="signature",vendor="agora"}`: 0,
		`livebill_settlement_accounts_total{outcome="settled"}`:                        0,
		`livebill_settlement_lag_seconds`:                                              0,
		`livebill_ingest_batch_duration_seconds_count`:                                 0,
		`livebill_settlement_duration_seconds_count`:                                   0,
	})

	// batch 1: two joins, an event of an app nobody registered, one
	// without a type; batch 2: the first join again (a duplicate) and B's
	// leave. A stays in the room.
	e.push(t,
		evt("a-join", "2024-10-01T10:00:00+08:00", "room.join", `,"user":"A"`),
		evt("b-join", "2024-10-01T10:00:00+08:00", "room.join", `,"user":"B"`),
		`{"id":"x","time":"2024-10-01T10:00:00+08:00","type":"room.join","app":"nobody","room":"r1","user":"C"}`,
		`{"id":"y","time":"2024-10-01T10:00:00+08:00","app":"`+app+`","room":"r1","user":"D"}`)
	e.push(t,
		evt("a-join", "2024-10-01T10:00:00+08:00", "room.join", `,"user":"A"`),
		evt("b-leave", "2024-10-01T10:20:00+08:00", "room.leave", `,"user":"B"`))
	// a callback whose signature no configured secret verifies
	if a := call(t, "POST", srv.URL+"/v1/ingest/agora", "", []byte(`{"noticeId":"n1","eventType":103,"payload":{}}`), "Agora-Signature-V2", "00"); a.status != http.StatusUnauthorized {
		t.Fatalf("unsigned agora callback: %d %s", a.status, a.body)
	}
	// a TRTC callback signed with the app's key but sent an hour ago,
	// outside the webhook window
	e.mustDo(t, "PUT", "/v1/accounts/acct/apps/"+app+"/webhook", map[string]any{"vendor": "trtc", "secret": "trtc-callback-key"}, nil)
	cb := []byte(fmt.Sprintf(`{"EventGroupId":1,"EventType":101,"CallbackTs":%d,"EventInfo":{"RoomId":"r1","EventTs":1727748000,"EventMsTs":1727748000000,"UserId":"E"}}`,
		clock.Now().Add(-time.Hour).UnixMilli()))
	mac := hmac.New(sha256.New, []byte("trtc-callback-key"))
	mac.Write(cb)
	if a := call(t, "POST", srv.URL+"/v1/ingest/trtc/"+app, "", cb, "Sign", base64.StdEncoding.EncodeToString(mac.Sum(nil))); a.status != http.StatusUnauthorized {
		t.Fatalf("stale TRTC callback: %d %s", a.status, a.body)
	}
	expect(t, "after two pushes", scrape(t, srv.URL), map[string]float64{
		// 2 + 1 accepted, 1 duplicate, 2 rejected: one invalid, one of
		// an unknown app
		`livebill_ingest_events_total{status="accepted"}`:                                       3,
		`livebill_ingest_events_total{status="duplicate"}`:                                      1,
		`livebill_ingest_events_total{status="rejected"}`:                                       2,
		`livebill_ingest_rejected_events_total{reason="invalid"}`:                               1,
		`livebill_ingest_rejected_events_total{reason="not_found"}`:                             1,
		`livebill_ingest_batch_duration_seconds_count`:                                          2,
		`livebill_http_requests_total{code="200",method="POST",route="/v1/events"}`:             2,
		`livebill_http_request_duration_seconds_count{method="POST",route="/v1/events"}`:        2,
		`livebill_http_requests_total{code="201",method="POST",route="/v1/accounts/{id}/apps"}`: 1,
		`livebill_http_requests_total{code="401",method="POST",route="/v1/ingest/agora"}`:       1,
		`livebill_webhook_signature_failures_total{reason="signature",vendor="agora"}`:          1,
		`livebill_webhook_signature_failures_total{reason="signature",vendor="trtc"}`:           0,
		`livebill_settlement_duration_seconds_count`:                                            0,
		`livebill_open_sessions`: 0, // no settlement yet
		`livebill_http_requests_total{code="200",method="GET",route="/v1/metrics"}`: 1, // the first scrape
	})

	// 02:00 on October 2nd: October 1st closed at midnight and is due an
	// hour later (the settle delay)
	clock.Set(time.Date(2024, 10, 2, 2, 0, 0, 0, sh))
	if err := svc.SettleAll(ctx); err != nil {
		t.Fatal(err)
	}
	bills, err := store.ListBills(ctx, "acct")
	if err != nil || len(bills) == 0 {
		t.Fatalf("bills after the settlement: %v %v", bills, err)
	}
	got := scrape(t, srv.URL)
	expect(t, "after the settlement", got, map[string]float64{
		`livebill_settlement_duration_seconds_count`:            1,
		`livebill_settlement_accounts_total{outcome="settled"}`: 1,
		`livebill_settlement_accounts_total{outcome="failed"}`:  0,
		`livebill_bills_issued_total`:                           float64(len(bills)),
		// A is still in the room at the meter's watermark (01:59); B left
		`livebill_open_sessions`: 1,
		`livebill_live_meters`:   1,
		// settled through October 2nd, which is due at 01:00 on the 3rd
		`livebill_settlement_lag_seconds`: 0,
	})

	// no settlement runs until 03:00 on the 3rd: October 2nd has been
	// due since 01:00, two hours
	clock.Set(time.Date(2024, 10, 3, 3, 0, 0, 0, sh))
	expect(t, "two hours past a due day", scrape(t, srv.URL), map[string]float64{`livebill_settlement_lag_seconds`: 7200})
	if err := svc.SettleAll(ctx); err != nil {
		t.Fatal(err)
	}
	expect(t, "settled again", scrape(t, srv.URL), map[string]float64{
		`livebill_settlement_lag_seconds`:                       0,
		`livebill_settlement_duration_seconds_count`:            2,
		`livebill_settlement_accounts_total{outcome="settled"}`: 2,
	})
}

// /v1/ready answers 200 while the store's database answers a ping, and
// 503 (unavailable) once it cannot; /v1/health answers 200 regardless.
// Neither needs a key.
func testReady(t *testing.T, open Opener) {
	store := open(t, NewClock(time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)))
	_, url, _ := NewAPI(t, store, billing.New(store, nil))
	for _, path := range []string{"/v1/ready", "/v1/health"} {
		if a := call(t, "GET", url+path, "", nil); a.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, a.status, a.body)
		}
	}
	store.Close()
	a := call(t, "GET", url+"/v1/ready", "", nil)
	if a.status != http.StatusServiceUnavailable || a.problem.Code != livebill.EUNAVAILABLE || !strings.Contains(a.problem.Detail, "database") {
		t.Errorf("GET /v1/ready, the database closed: %d %s", a.status, a.body)
	}
	if a := call(t, "GET", url+"/v1/health", "", nil); a.status != http.StatusOK {
		t.Errorf("GET /v1/health, the database closed: %d %s", a.status, a.body)
	}
}
