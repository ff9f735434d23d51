package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/admission"
	"github.com/livebill/livebill/billing"
	"github.com/livebill/livebill/scenario"
)

// admEnv is a server with admission, a fake clock and helpers.
type admEnv struct {
	*env
	adm *admission.Service
	url string
}

func newAdmEnv(t *testing.T, open Opener, now time.Time) *admEnv {
	clock := NewClock(now)
	store := open(t, clock)
	leaseStore(t, store)
	svc := billing.New(store, clock)
	svc.SettleDelay = time.Hour
	server, url, client := NewAPI(t, store, svc)
	return &admEnv{env: &env{store: store, clock: clock, svc: svc, client: client}, adm: server.Admission.(*admission.Service), url: url}
}

// authorize asks with the client's key; a request error fails the test.
func (e *admEnv) authorize(t *testing.T, in livebill.AuthorizeInput) *livebill.Decision {
	t.Helper()
	d, err := e.client.Authorize(context.Background(), &in)
	if err != nil {
		t.Fatalf("authorize %+v: %v", in, err)
	}
	return d
}

func wantDecision(t *testing.T, what string, d *livebill.Decision, reason string) {
	t.Helper()
	if d.Allow != (reason == "") || (reason != "" && d.Reason != reason) {
		t.Errorf("%s: allow %v reason %q (%s), want %s", what, d.Allow, d.Reason, d.Message, map[bool]string{true: "allow", false: reason}[reason == ""])
	}
}

// testAdmissionAuth: POST /v1/authorize needs a key; an account key may
// name only its own apps (another account's app is 404, the answer of an
// app that does not exist); the operator key names any app.
func testAdmissionAuth(t *testing.T, open Opener) {
	e := newAuthEnv(t, open)
	body := func(app string) []byte {
		return []byte(`{"app":"` + app + `","action":"room.join","room":"r","user":"u"}`)
	}
	for what, key := range map[string]string{"no key": "", "a wrong key": e.keyA[:len(e.keyA)-2] + "xx", "a revoked key": e.revoked} {
		if a := call(t, "POST", e.url+"/v1/authorize", key, body("acct-a-app")); a.status != http.StatusUnauthorized || a.problem.Code != livebill.EUNAUTHORIZED {
			t.Errorf("authorize with %s: %d %s, want 401", what, a.status, a.body)
		}
	}
	own := call(t, "POST", e.url+"/v1/authorize", e.keyA, body("acct-a-app"))
	var d livebill.Decision
	if own.status != http.StatusOK || json.Unmarshal(own.body, &d) != nil || !d.Allow {
		t.Fatalf("acct-a's key on its own app: %d %s", own.status, own.body)
	}
	other := call(t, "POST", e.url+"/v1/authorize", e.keyA, body("acct-b-app"))
	none := call(t, "POST", e.url+"/v1/authorize", e.keyA, body("no-such-app"))
	if other.status != http.StatusNotFound || other.problem.Code != livebill.ENOTFOUND ||
		strings.ReplaceAll(string(none.body), "no-such-app", "acct-b-app") != string(other.body) {
		t.Errorf("acct-a's key on acct-b's app: %d %s; an unknown app: %d %s; want the same 404", other.status, other.body, none.status, none.body)
	}
	if a := call(t, "POST", e.url+"/v1/authorize", AdminKey, body("acct-b-app")); a.status != http.StatusOK {
		t.Errorf("the operator key on acct-b's app: %d %s", a.status, a.body)
	}
	// a lease of another account's app is not found either, and acct-a's
	// key neither renews nor releases it
	ctx := context.Background()
	ls, ok := e.store.(livebill.LeaseStore)
	if !ok {
		t.Fatal("the store keeps no leases")
	}
	now := e.clock.Now()
	held, granted, err := ls.AcquireLease(ctx, &livebill.AcquireLeaseInput{Account: "acct-b", ID: "lb1", App: "acct-b-app",
		Kind: livebill.ActionCloudGamingStart, Pool: "p", Capacity: 1, Now: now, Ends: now.Add(time.Minute)})
	if err != nil || !granted {
		t.Fatalf("a lease of acct-b: %v, %v", granted, err)
	}
	for _, r := range []struct{ method, path string }{
		{"POST", "/v1/apps/acct-b-app/leases/lb1/renew"},
		{"DELETE", "/v1/apps/acct-b-app/leases/lb1"},
	} {
		if a := call(t, r.method, e.url+r.path, e.keyA, nil); a.status != http.StatusNotFound || a.problem.Code != livebill.ENOTFOUND {
			t.Errorf("%s %s with acct-a's key: %d %s, want 404", r.method, r.path, a.status, a.body)
		}
	}
	if l, err := ls.FindLease(ctx, "acct-b", "lb1"); err != nil || !l.Ends.Equal(held.Ends) || !l.Held(now) {
		t.Errorf("acct-b's lease after acct-a's key tried it: %+v, %v; want it held until %s", l, err, held.Ends)
	}
	if a := call(t, "POST", e.url+"/v1/apps/acct-b-app/leases/lb1/renew", e.keyB, nil); a.status != http.StatusOK {
		t.Errorf("acct-b's key renewing its lease: %d %s", a.status, a.body)
	}
	// a bad request names the field
	bad := call(t, "POST", e.url+"/v1/authorize", e.keyA, []byte(`{"app":"acct-a-app","action":"stream.start","room":"r","user":"u","media":"video"}`))
	if bad.status != http.StatusBadRequest || !strings.Contains(bad.problem.Detail, "width") {
		t.Errorf("a video stream without a size: %d %s", bad.status, bad.body)
	}
}

// testAdmissionRooms: occupancy comes from the stored events (SPEC §4
// edition tables; seed 003 line 399: a live lite room's audience is 100),
// and an allowed join counts until its event arrives, so two joins
// racing for the last place cannot both pass.
func testAdmissionRooms(t *testing.T, open Opener) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	e := newAdmEnv(t, open, time.Date(2024, 10, 2, 10, 0, 0, 0, sh))
	ctx := context.Background()
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "a1", "catalog": "trtc", "created": "2024-01-10"}, nil)
	e.mustDo(t, "POST", "/v1/accounts/a1/apps", map[string]any{"id": "app1"}, nil)
	e.mustDo(t, "POST", "/v1/accounts/a1/purchases", map[string]any{"id": "p1", "app": "app1", "plan": "live.lite", "start": "2024-10-01"}, nil)
	join := livebill.AuthorizeInput{App: "app1", Action: "room.join", Product: "live", Room: "r1", User: "late"}
	wantDecision(t, "a join into an empty room", e.authorize(t, join), "")
	// the host publishes and 99 watch: with the reservation of "late", the audience is 100
	var lines []string
	at := "2024-10-02T09:00:00+08:00"
	lines = append(lines, `{"id":"h","type":"room.join","time":"`+at+`","app":"app1","room":"r1","user":"host"}`,
		`{"id":"hs","type":"stream.start","time":"`+at+`","app":"app1","room":"r1","user":"host","stream":"main","media":"video","width":1280,"height":720}`)
	for i := 0; i < 99; i++ {
		lines = append(lines, fmt.Sprintf(`{"id":"j%d","type":"room.join","time":"%s","app":"app1","room":"r1","user":"v%d"}`, i, at, i))
	}
	if res := e.push(t, lines...); res.Accepted != 101 {
		t.Fatalf("push: %+v", res)
	}
	e.adm.Refresh(ctx)
	full := join
	full.User = "one-more"
	wantDecision(t, "a join into a live lite room with an audience of 100 (99 + a reservation)", e.authorize(t, full), livebill.DenyAudienceFull)
	anchor := full
	anchor.Role = livebill.RoleAnchor
	wantDecision(t, "an anchor joining the full room", e.authorize(t, anchor), "")
	// the host is the one publisher live lite allows (line 400: no co-hosting)
	pub := livebill.AuthorizeInput{App: "app1", Action: "stream.start", Product: "live", Room: "r1", User: "v3", Stream: "main", Media: "video", Width: 640, Height: 360}
	wantDecision(t, "a second publisher in a live lite room", e.authorize(t, pub), livebill.DenyPublishersFull)
	// the reservation lapses unused; one viewer leaves: two places
	e.clock.Set(e.clock.Now().Add(time.Minute))
	e.push(t, `{"id":"l1","type":"room.leave","time":"2024-10-02T09:30:00+08:00","app":"app1","room":"r1","user":"v1"}`)
	e.adm.Refresh(ctx)
	// 20 joins race for the 2 places: exactly 2 pass
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			in := join
			in.User = fmt.Sprintf("racer%d", i)
			d, err := e.client.Authorize(ctx, &in)
			if err != nil {
				t.Error(err)
				return
			}
			if d.Allow {
				mu.Lock()
				allowed++
				mu.Unlock()
			} else if d.Reason != livebill.DenyAudienceFull {
				t.Errorf("racer %d: %s", i, d.Reason)
			}
		}(i)
	}
	wg.Wait()
	if allowed != 2 {
		t.Errorf("%d of 20 racing joins allowed for the last 2 places", allowed)
	}
}

// testAdmissionLeases: cloud-gaming sessions lease the purchased
// concurrencies (SPEC §5, seed 000: one concurrency runs one player at a
// time), with the fake clock: a lease not renewed within its TTL expires
// and frees its slot; renewal keeps it; release frees it at once; an ended
// lease cannot be renewed, and its id is not reused. A purchase made later
// is seen after a refresh.
func testAdmissionLeases(t *testing.T, open Opener) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	t0 := time.Date(2024, 10, 2, 10, 0, 0, 0, sh)
	e := newAdmEnv(t, open, t0)
	ctx := context.Background()
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "g1", "catalog": "cloudgaming", "created": "2024-01-10"}, nil)
	e.mustDo(t, "POST", "/v1/accounts/g1/apps", map[string]any{"id": "game"}, nil)
	e.mustDo(t, "POST", "/v1/accounts/g1/purchases", map[string]any{"id": "s1", "plan": "cloudgaming.desktop.s1.standard", "count": 2, "region": "ap-shanghai", "start": "2024-10-01"}, nil)
	session := func(lease string) livebill.AuthorizeInput {
		return livebill.AuthorizeInput{App: "game", Action: "cloudgaming.session.start", Spec: "s1", Quality: "standard", Region: "ap-shanghai", User: "player-" + lease, Lease: lease, TTLMS: 10_000}
	}
	a := e.authorize(t, session("a"))
	wantDecision(t, "session a", a, "")
	if a.Lease == nil || a.Lease.ID != "a" || !a.Lease.Ends.Equal(t0.Add(10*time.Second)) || a.Lease.Kind != livebill.SessionCloudGaming {
		t.Fatalf("session a's lease: %+v", a.Lease)
	}
	e.clock.Set(t0.Add(2 * time.Second))
	wantDecision(t, "session b", e.authorize(t, session("b")), "")
	wantDecision(t, "session c: both concurrencies leased", e.authorize(t, session("c")), livebill.DenyConcurrencyExhausted)
	again := e.authorize(t, session("a")) // a retried request: the same lease, its end moved on
	if !again.Allow || again.Lease.Slot != a.Lease.Slot || !again.Lease.Ends.Equal(t0.Add(12*time.Second)) {
		t.Fatalf("session a asked again: %+v", again.Lease)
	}
	wantDecision(t, "other quality: none purchased", e.authorize(t, livebill.AuthorizeInput{App: "game", Action: "cloudgaming.session.start", Spec: "s1", Quality: "uhd", Region: "ap-shanghai", Lease: "x"}), livebill.DenyNoConcurrency)
	// b heartbeats at +9 s; a does not: at +12 s a expires, b holds on
	e.clock.Set(t0.Add(9 * time.Second))
	if l, err := e.client.RenewLease(ctx, "game", "b", 10*time.Second); err != nil || !l.Ends.Equal(t0.Add(19*time.Second)) {
		t.Fatalf("renew b: %+v %v", l, err)
	}
	e.clock.Set(t0.Add(12*time.Second - time.Millisecond))
	wantDecision(t, "session c 1 ms before a expires", e.authorize(t, session("c")), livebill.DenyConcurrencyExhausted)
	e.clock.Set(t0.Add(12 * time.Second))
	c := e.authorize(t, session("c"))
	wantDecision(t, "session c once a expired", c, "")
	if c.Lease == nil || c.Lease.Slot != a.Lease.Slot {
		t.Errorf("c took slot %+v, want a's %d", c.Lease, a.Lease.Slot)
	}
	if _, err := e.client.RenewLease(ctx, "game", "a", 0); livebill.ErrorCode(err) != livebill.ECONFLICT {
		t.Errorf("renewing expired a: %v, want a conflict", err)
	}
	wantDecision(t, "session a again after it expired", e.authorize(t, session("a")), livebill.DenyLeaseEnded)
	// release frees b's slot at once
	if l, err := e.client.ReleaseLease(ctx, "game", "b"); err != nil || !l.Released {
		t.Fatalf("release b: %+v %v", l, err)
	}
	wantDecision(t, "session d after b's release", e.authorize(t, session("d")), "")
	var held struct{ Leases []*livebill.Lease }
	e.mustDo(t, "GET", "/v1/accounts/g1/leases", nil, &held)
	if len(held.Leases) != 2 {
		t.Errorf("held leases: %+v, want c and d", held.Leases)
	}
	// a third concurrency bought now is seen after a refresh
	wantDecision(t, "session e before the purchase", e.authorize(t, session("e")), livebill.DenyConcurrencyExhausted)
	e.mustDo(t, "POST", "/v1/accounts/g1/purchases", map[string]any{"id": "s1-more", "plan": "cloudgaming.desktop.s1.standard", "count": 1, "region": "ap-shanghai", "start": "2024-10-02"}, nil)
	e.adm.Refresh(ctx)
	wantDecision(t, "session e after buying one more", e.authorize(t, session("e")), "")
	// live push: two purchased, a third push is refused (seed 000)
	e.mustDo(t, "POST", "/v1/accounts/g1/purchases", map[string]any{"id": "lp", "plan": "cloudgaming.live_push", "count": 2, "start": "2024-10-02"}, nil)
	e.adm.Refresh(ctx)
	for i, want := range []string{"", "", livebill.DenyConcurrencyExhausted} {
		wantDecision(t, fmt.Sprintf("push %d of 2 purchased", i+1), e.authorize(t, livebill.AuthorizeInput{App: "game", Action: "cloudgaming.push.start", Lease: fmt.Sprintf("push%d", i)}), want)
	}
	hist, err := e.store.(livebill.LeaseStore).LeaseHistory(ctx, "g1", admission.PoolOf("cloudgaming.desktop.s1.standard", "ap-shanghai"))
	if err != nil {
		t.Fatal(err)
	}
	checkNoOverlap(t, hist[:4], 2) // a, b, c, d: before the third concurrency
}

// testAdmissionIndustrial: a device with licences serves one remote
// operator at a time (seed 001: 同一时刻只能有一个远端设备进行操控).
func testAdmissionIndustrial(t *testing.T, open Opener) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	e := newAdmEnv(t, open, time.Date(2024, 10, 2, 10, 0, 0, 0, sh))
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "i1", "catalog": "industrial", "created": "2024-01-10"}, nil)
	e.mustDo(t, "POST", "/v1/accounts/i1/apps", map[string]any{"id": "fleet"}, nil)
	e.mustDo(t, "POST", "/v1/accounts/i1/devices", map[string]any{"id": "truck-7", "cameras": []map[string]int{{"width": 1280, "height": 720}, {"width": 640, "height": 480}, {"width": 640, "height": 480}}}, nil)
	op := func(user, lease string) livebill.AuthorizeInput {
		return livebill.AuthorizeInput{App: "fleet", Action: "industrial.operate", Device: "truck-7", User: user, Lease: lease}
	}
	wantDecision(t, "operating with no licence", e.authorize(t, op("cockpit-1", "o1")), livebill.DenyNoLicence)
	e.mustDo(t, "POST", "/v1/accounts/i1/purchases", map[string]any{"id": "lic", "plan": "industrial.license", "device": "truck-7", "start": "2024-10-01"}, nil)
	e.adm.Refresh(context.Background())
	wantDecision(t, "cockpit 1 with 2 licences (1,536,000 px ≤ 1,843,200)", e.authorize(t, op("cockpit-1", "o2")), "")
	wantDecision(t, "cockpit 2 while cockpit 1 operates", e.authorize(t, op("cockpit-2", "o3")), livebill.DenyDeviceBusy)
	if _, err := e.client.ReleaseLease(context.Background(), "fleet", "o2"); err != nil {
		t.Fatal(err)
	}
	wantDecision(t, "cockpit 2 after cockpit 1 released", e.authorize(t, op("cockpit-2", "o4")), "")
}

// testAdmissionTrialStop: a trial app whose usage exceeded its packs is
// stopped (SPEC §4 Service stop) and admission refuses it; another app of
// the account serves. An app disabled by an operator is refused too, and
// serves again once enabled (after the status is read again).
func testAdmissionTrialStop(t *testing.T, open Opener) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	e := newAdmEnv(t, open, time.Date(2024, 10, 1, 18, 0, 0, 0, sh))
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "a1", "catalog": "trtc", "created": "2024-01-10", "balance": EnoughMoney}, nil)
	e.mustDo(t, "POST", "/v1/accounts/a1/apps", map[string]any{"id": "app1"}, nil)
	e.mustDo(t, "POST", "/v1/accounts/a1/apps", map[string]any{"id": "app2"}, nil)
	// B receives A's 4K stream for 5 hours: 300 min × 36 = 10,800 pack
	// minutes, more than the free pack's 10,000 (SPEC §4): app1 stops
	e.push(t,
		`{"id":"1","type":"room.join","time":"2024-10-01T10:00:00+08:00","app":"app1","room":"r","user":"A"}`,
		`{"id":"2","type":"stream.start","time":"2024-10-01T10:00:00+08:00","app":"app1","room":"r","user":"A","stream":"main","media":"video","width":3840,"height":2160}`,
		`{"id":"3","type":"room.join","time":"2024-10-01T10:00:00+08:00","app":"app1","room":"r","user":"B","subscribe":"all"}`,
		`{"id":"4","type":"room.leave","time":"2024-10-01T15:00:00+08:00","app":"app1","room":"r","user":"B"}`,
		`{"id":"5","type":"room.leave","time":"2024-10-01T15:00:00+08:00","app":"app1","room":"r","user":"A"}`)
	// the account lifecycle records the stop when it settles (its tick)
	if err := e.svc.SettleAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	d := e.authorize(t, livebill.AuthorizeInput{App: "app1", Action: "room.join", Room: "r2", User: "C"})
	wantDecision(t, "a join of the stopped trial app", d, livebill.ReasonTrialExhausted)
	join2 := livebill.AuthorizeInput{App: "app2", Action: "room.join", Room: "r2", User: "C"}
	wantDecision(t, "a join of the account's other app", e.authorize(t, join2), "")
	e.mustDo(t, "POST", "/v1/accounts/a1/apps/app2/disable", nil, nil)
	e.adm.Refresh(context.Background())
	wantDecision(t, "a join of the disabled app", e.authorize(t, join2), livebill.ReasonAppDisabled)
	e.mustDo(t, "POST", "/v1/accounts/a1/apps/app2/enable", nil, nil)
	e.adm.Refresh(context.Background())
	wantDecision(t, "a join of the app enabled again", e.authorize(t, join2), "")
}

// sessionCatalog extends cloudgaming with an item that meters session
// time, as an operator who also bills it would.
const sessionCatalog = `extends: cloudgaming
name: cloudgaming-metered
items:
  - {id: cloudgaming.session_time, name: "Session time", unit: minute, price: "0.05", per: 1, measure: duration_ms, sessions: cloudgaming.session}
`

// testLeaseMetering: a lease of a kind the catalog meters is stored as
// session.start/stop usage events (its release, or its expiry), and the
// account's quote bills them as `livebill quote` bills the same events.
func testLeaseMetering(t *testing.T, open Opener) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	t0 := time.Date(2024, 10, 2, 10, 0, 0, 0, sh)
	e := newAdmEnv(t, open, t0)
	ctx := context.Background()
	meter := &admission.LeaseMeter{Ingest: e.svc, Leases: e.store.(livebill.LeaseStore)}
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "g1", "catalog": "cloudgaming-metered", "catalog_yaml": sessionCatalog, "created": "2024-01-10"}, nil)
	e.mustDo(t, "POST", "/v1/accounts/g1/apps", map[string]any{"id": "game"}, nil)
	e.mustDo(t, "POST", "/v1/accounts/g1/purchases", map[string]any{"id": "s1", "plan": "cloudgaming.desktop.s1.standard", "count": 2, "region": "sh", "start": "2024-10-01"}, nil)
	session := func(lease string) livebill.AuthorizeInput {
		return livebill.AuthorizeInput{App: "game", Action: "cloudgaming.session.start", Spec: "s1", Quality: "standard", Region: "sh", Lease: lease, TTLMS: 60_000}
	}
	wantDecision(t, "session a", e.authorize(t, session("a")), "")
	wantDecision(t, "session b", e.authorize(t, session("b")), "")
	meter.Sweep(ctx, t0) // both starts stored
	// a plays 90 s (renewed at +50 s) and is released; b's player
	// crashes: no renewal, b expires at +60 s
	e.clock.Set(t0.Add(50 * time.Second))
	if _, err := e.client.RenewLease(ctx, "game", "a", time.Minute); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(t0.Add(90 * time.Second))
	if _, err := e.client.ReleaseLease(ctx, "game", "a"); err != nil {
		t.Fatal(err)
	}
	meter.Sweep(ctx, e.clock.Now())
	meter.Sweep(ctx, e.clock.Now()) // nothing left: no event twice
	var rej livebill.Rejections
	var stored []string
	evs, err := e.store.ListEventsAfter(ctx, "g1", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, se := range evs {
		stored = append(stored, string(se.Body))
	}
	want := []string{
		`{"app":"game","id":"lease:a:start","kind":"cloudgaming.session","session":"a","time":"2024-10-02T02:00:00Z","type":"session.start"}`,
		`{"app":"game","id":"lease:b:start","kind":"cloudgaming.session","session":"b","time":"2024-10-02T02:00:00Z","type":"session.start"}`,
		`{"app":"game","id":"lease:b:stop","session":"b","time":"2024-10-02T02:01:00Z","type":"session.stop"}`,
		`{"app":"game","id":"lease:a:stop","session":"a","time":"2024-10-02T02:01:30Z","type":"session.stop"}`,
	}
	if strings.Join(stored, "\n") != strings.Join(want, "\n") {
		t.Fatalf("stored events:\n%s\nwant:\n%s", strings.Join(stored, "\n"), strings.Join(want, "\n"))
	}
	// the account's quote bills a's 90 s (2 min, ceil per day) and b's
	// 60 s (1 min) as 3 minutes at 0.05, beside the purchase 2 × 897
	e.clock.Set(t0.Add(48 * time.Hour))
	var q livebill.Quote
	e.mustDo(t, "GET", "/v1/accounts/g1/quote?from=2024-10-01&to=2024-11-01", nil, &q)
	if e.mustDo(t, "GET", "/v1/accounts/g1/rejections", nil, &rej); len(rej.Events) != 0 {
		t.Fatalf("the meter refused lease events: %+v", rej.Events)
	}
	// the same events in a scenario quote the same
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "catalog.yaml"), []byte(sessionCatalog), 0o644); err != nil {
		t.Fatal(err)
	}
	doc := `catalog: catalog.yaml
period: {from: 2024-10-01, to: 2024-11-01}
account: {id: g1, created: 2024-01-10}
plans:
  - {id: s1, plan: cloudgaming.desktop.s1.standard, count: 2, region: sh, start: 2024-10-01}
events:
`
	for _, s := range stored {
		doc += "  - " + s + "\n"
	}
	path := filepath.Join(dir, "s.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := scenario.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.Run()
	if err != nil {
		t.Fatal(err)
	}
	line := func(q *livebill.Quote, item string) string {
		for _, l := range q.Lines {
			if l.Item == item {
				return l.Quantity + " " + l.Amount
			}
		}
		return "none"
	}
	// 3 min × 0.05 = 0.15; 2 × 897 = 1794; total 1794.15
	if got := line(&q, "cloudgaming.session_time"); got != "3 0.15" || q.Total != "1794.15" {
		t.Errorf("account quote: session time %s, total %s; want 3 minutes 0.15, total 1794.15", got, q.Total)
	}
	if a, b := mustJSON(t, q), mustJSON(t, res.Quote); a != b {
		t.Errorf("the account's quote differs from livebill quote's:\n%s\n%s", a, b)
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
