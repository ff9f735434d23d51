package console

import (
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
)

type stepClock struct{ t time.Time }

func (c *stepClock) Now() time.Time { c.t = c.t.Add(time.Second); return c.t }

// Signing in again and again with one account's key ends that account's
// oldest sessions, not the operator's or another account's: with
// MaxSessionsPerAccount (50) sessions of account a, the 51st sign-in
// ends a's first session only.
func TestSessionsPerAccount(t *testing.T) {
	s := &Server{Billing: &billing.Service{Clock: &stepClock{time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}}, sessions: &sessions{}}
	op, _ := s.start(livebill.Principal{KeyID: livebill.AdminKeyID})
	b, _ := s.start(livebill.Principal{KeyID: "kb", Account: "b"})
	var a []string
	for range MaxSessionsPerAccount + 1 {
		id, _ := s.start(livebill.Principal{KeyID: "ka", Account: "a"})
		a = append(a, id)
	}
	has := func(id string) bool { return s.sessions.m[hashID(id)] != nil }
	if has(a[0]) || !has(a[1]) || !has(a[MaxSessionsPerAccount]) {
		t.Errorf("account a: first session kept %v, second %v, last %v; want only the first ended", has(a[0]), has(a[1]), has(a[MaxSessionsPerAccount]))
	}
	if !has(op) || !has(b) {
		t.Errorf("the operator's session kept: %v, account b's: %v; want both", has(op), has(b))
	}
	if n := len(s.sessions.m); n != 2+MaxSessionsPerAccount {
		t.Errorf("%d sessions, want %d", n, 2+MaxSessionsPerAccount)
	}
}
