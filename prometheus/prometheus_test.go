package prometheus_test

import (
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
	lbhttp "github.com/livebill/livebill/http"
	"github.com/livebill/livebill/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

// Every metric follows Prometheus' naming conventions (promlint: units,
// _total on counters, help texts) and is named livebill_… (beside the
// client's go_… and process_…).
func TestMetricsLint(t *testing.T) {
	m := prometheus.New(&clock{time.Unix(0, 0)}, prometheus.Build{})
	m.Served(&lbhttp.Served{Route: "/v1/events", Method: "POST", Status: 200, Took: time.Millisecond})
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range fams {
		name := f.GetName()
		switch {
		case strings.HasPrefix(name, "livebill_"):
			n++
		case strings.HasPrefix(name, "go_"), strings.HasPrefix(name, "process_"):
		default:
			t.Errorf("metric %s is not named livebill_…", name)
		}
	}
	if n < 13 {
		t.Errorf("%d livebill_ metrics, want the 13 documented", n)
	}
}

// The settlement lag is read at each scrape from the clock: zero before a
// run, then how long the oldest due day has waited.
func TestSettlementLag(t *testing.T) {
	c := &clock{time.Date(2024, 10, 3, 3, 0, 0, 0, time.UTC)}
	m := prometheus.New(c, prometheus.Build{})
	lag := func() float64 {
		fams, err := m.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fams {
			if f.GetName() == "livebill_settlement_lag_seconds" {
				return f.Metric[0].Gauge.GetValue()
			}
		}
		t.Fatal("no livebill_settlement_lag_seconds")
		return 0
	}
	if v := lag(); v != 0 {
		t.Errorf("before a run: %v", v)
	}
	m.Settled(&livebill.SettleRun{OwedSince: c.t.Add(-90 * time.Second)})
	if v := lag(); v != 90 {
		t.Errorf("owed 90 s ago: %v", v)
	}
	c.t = c.t.Add(time.Minute)
	if v := lag(); v != 150 {
		t.Errorf("a minute later: %v", v)
	}
	m.Settled(&livebill.SettleRun{OwedSince: c.t.Add(time.Hour)})
	if v := lag(); v != 0 {
		t.Errorf("next due in an hour: %v", v)
	}
}
