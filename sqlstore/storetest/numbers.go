package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/livebill/livebill"
)

// testSameNumbers: JSON numbers equal in value are the same event. Through
// the API a re-sent event whose quantity is spelt otherwise (1500.0,
// 1.5e3) is a duplicate, while a number naming a user stays a name (7.0 is
// not 7: a conflict); and in the store, a body kept with a number as
// written (as bodies were stored before numbers were made canonical) is a
// duplicate of the canonical one, while another value is a conflict.
func testSameNumbers(t *testing.T, open Opener) {
	e := newEnv(t, open, time.Date(2024, 10, 1, 12, 0, 0, 0, time.UTC))
	setupTRTC(t, e)
	eval := func(id, d string) string {
		return fmt.Sprintf(`{"id":%q,"time":"2024-10-01T10:00:00+08:00","type":"matchmaking.evaluation","app":%q,"duration_us":%s}`, id, app, d)
	}
	if r := e.push(t, eval("m1", "1500")); r.Accepted != 1 {
		t.Fatalf("first push %+v", r)
	}
	r := e.push(t, eval("m1", "1500.0"), eval("m1", "1.5e3"), eval("m1", "15E2"), eval("m1", "1500.000"))
	if r.Duplicate != 4 || r.Rejected != 0 {
		t.Fatalf("same duration spelt otherwise: %+v, want 4 duplicates", r)
	}
	if r := e.push(t, eval("m1", "1500.5")); r.Rejected != 1 || len(r.Errors) != 1 || r.Errors[0].Code != livebill.ECONFLICT {
		t.Fatalf("another duration: %+v, want a conflict", r)
	}
	// a user named by a number is named by its literal: 7.0 is another user than 7
	join := func(user string) string {
		return evt("j1", "2024-10-01T10:00:00+08:00", "room.join", `,"user":`+user)
	}
	if r := e.push(t, join("7")); r.Accepted != 1 {
		t.Fatalf("join: %+v", r)
	}
	if r := e.push(t, join("7"), join("7.0")); r.Duplicate != 1 || r.Rejected != 1 || r.Errors[0].Code != livebill.ECONFLICT {
		t.Fatalf("user 7 then 7.0: %+v, want a duplicate and a conflict", r)
	}

	ctx := context.Background()
	s := e.store
	ev := func(id, body string) livebill.IncomingEvent {
		return livebill.IncomingEvent{AccountID: "acct", Event: livebill.Event{ID: id, Time: 1, App: app}, Body: []byte(body)}
	}
	if st, err := s.StoreEvents(ctx, []livebill.IncomingEvent{ev("n1", `{"id":"n1","w":1.0,"x":[2.50]}`)}); err != nil || st[0].Status != livebill.IngestAccepted {
		t.Fatalf("store n1: %+v %v", st, err)
	}
	st, err := s.StoreEvents(ctx, []livebill.IncomingEvent{
		ev("n1", `{"id":"n1","w":1,"x":[2.5]}`),
		ev("n1", `{"x":[25e-1],"w":1e0,"id":"n1"}`),
		ev("n1", `{"id":"n1","w":2,"x":[2.5]}`),
		ev("n1", `{"id":"n1","w":"1","x":[2.5]}`),
		ev("n1", `{"id":"n1","w":1,"x":[2.5,0]}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{livebill.IngestDuplicate, livebill.IngestDuplicate, livebill.IngestRejected, livebill.IngestRejected, livebill.IngestRejected}
	for i, x := range st {
		if x.Status != want[i] {
			t.Errorf("event %d: %+v, want %s", i, x, want[i])
		}
	}
}
