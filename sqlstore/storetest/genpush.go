package storetest

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill/gen"
)

// testGenPush pushes a `livebill gen` workload through the API and
// settles long after it: no bill is dated after the workload's last
// event. The generator closes every session it opens, so nothing keeps
// accruing; with LeaveOpen, the open sessions are closed by the meter's
// session timeout (24 h), so no bill is dated after the last event plus
// a day either.
func testGenPush(t *testing.T, open Opener) {
	for _, leaveOpen := range []bool{false, true} {
		t.Run(fmt.Sprintf("leaveOpen=%v", leaveOpen), func(t *testing.T) {
			sh, _ := time.LoadLocation("Asia/Shanghai")
			e := newEnv(t, open, time.Date(2024, 10, 4, 12, 0, 0, 0, sh))
			ctx := context.Background()
			e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "acct", "catalog": "trtc", "mode": "calculator", "created": "2024-01-10", "balance": EnoughMoney}, nil)
			const apps = 3
			for i := range apps {
				e.mustDo(t, "POST", "/v1/accounts/acct/apps", map[string]any{"id": fmt.Sprint(1400000001 + i)}, nil)
			}
			// 20,000 events from 2024-10-01 20:00 over 30 h: the last is
			// before 2024-10-03 02:00 in Asia/Shanghai
			var buf bytes.Buffer
			if _, err := gen.Write(&buf, gen.Config{Events: 20000, Apps: apps, Seed: 7, LeaveOpen: leaveOpen}); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			for i, l := range lines {
				lines[i] = fmt.Sprintf(`{"id":"g%d",`, i) + strings.TrimPrefix(l, "{")
			}
			for i := 0; i < len(lines); i += 5000 {
				if r := e.push(t, lines[i:min(i+5000, len(lines))]...); r.Accepted != min(5000, len(lines)-i) {
					t.Fatalf("push from line %d: %+v", i+1, r)
				}
			}
			// two weeks later: every closed day is due and quiet
			e.clock.Set(time.Date(2024, 10, 18, 12, 0, 0, 0, sh))
			if err := e.svc.SettleAll(ctx); err != nil {
				t.Fatal(err)
			}
			bills, err := e.store.ListBills(ctx, "acct")
			if err != nil {
				t.Fatal(err)
			}
			last := "2024-10-03" // the day of the last generated event
			if leaveOpen {
				last = "2024-10-04" // the last event plus the 24 h session timeout
			}
			daily := 0
			for _, b := range bills {
				if b.Kind != "daily" {
					continue
				}
				daily++
				if b.Date > last {
					t.Errorf("a %s bill dated %s (total %s), after %s", b.Kind, b.Date, b.Total, last)
				}
			}
			if daily < 2 {
				t.Errorf("%d daily bills, want the workload's days billed", daily)
			}
		})
	}
}
