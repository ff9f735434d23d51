package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/livebill/livebill"
)

// Sessions are kept in the server's memory: the cookie holds a random
// session id, never the key; the server keeps the key's id and scope (not
// its secret), a CSRF token and the session's times. A session ends at
// sign-out, SessionTTL after sign-in, SessionIdle after its last use, when
// its key is revoked, or when the server restarts (sign in again).
// MaxSessions bounds the memory: the least recently used go first. One
// account (or the operator) keeps at most MaxSessionsPerAccount: signing
// in again and again with one key ends that account's own oldest
// sessions, never another's.

// Cookie names.
const (
	sessionCookie = "livebill_session"
	signinCookie  = "livebill_signin" // the sign-in form's CSRF token
	langCookie    = "livebill_lang"
)

// MaxSessions is the most sessions kept at once, MaxSessionsPerAccount
// the most of one account's keys (or of operator keys).
const (
	MaxSessions           = 10000
	MaxSessionsPerAccount = 50
)

type session struct {
	key       string // SHA-256 of the id, the map key (the id itself is only in the cookie)
	principal livebill.Principal
	csrf      string
	created   time.Time
	seen      time.Time
	flash     string
}

type sessions struct {
	mu sync.Mutex
	m  map[string]*session
}

// token returns 32 random bytes, base64url.
func token() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("console: no randomness: " + err.Error()) // crypto/rand does not fail on supported systems
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func hashID(id string) string {
	h := sha256.Sum256([]byte(id))
	return string(h[:])
}

func (s *Server) ttls() (ttl, idle time.Duration) {
	ttl, idle = s.SessionTTL, s.SessionIdle
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	if idle <= 0 {
		idle = DefaultSessionIdle
	}
	return ttl, idle
}

// start makes a session for p and returns its id (the cookie's value).
func (s *Server) start(p livebill.Principal) (string, *session) {
	now := s.now()
	id := token()
	ss := &session{key: hashID(id), principal: p, csrf: token(), created: now, seen: now}
	st := s.sessions
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.m == nil {
		st.m = map[string]*session{}
	}
	s.evictOwn(p, now)
	if len(st.m) >= MaxSessions {
		s.evict(now)
	}
	st.m[ss.key] = ss
	return id, ss
}

// evictOwn ends the least recently used sessions of p's account (of the
// operator, for an operator key) until it has room for one more. Callers
// hold the lock.
func (s *Server) evictOwn(p livebill.Principal, now time.Time) {
	var own []*session
	for _, ss := range s.sessions.m {
		if ss.principal.Account == p.Account { // "" for the operator's keys
			own = append(own, ss)
		}
	}
	if len(own) < MaxSessionsPerAccount {
		return
	}
	sort.Slice(own, func(i, j int) bool { return own[i].seen.Before(own[j].seen) })
	for _, ss := range own[:len(own)-MaxSessionsPerAccount+1] {
		delete(s.sessions.m, ss.key)
	}
}

// evict drops expired sessions, then the least recently used until there
// is room for one more. Callers hold the lock.
func (s *Server) evict(now time.Time) {
	st := s.sessions
	for k, ss := range st.m {
		if s.expired(ss, now) {
			delete(st.m, k)
		}
	}
	if len(st.m) < MaxSessions {
		return
	}
	all := make([]*session, 0, len(st.m))
	for _, ss := range st.m {
		all = append(all, ss)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].seen.Before(all[j].seen) })
	for _, ss := range all[:len(all)-MaxSessions+1] {
		delete(st.m, ss.key)
	}
}

func (s *Server) expired(ss *session, now time.Time) bool {
	ttl, idle := s.ttls()
	return !now.Before(ss.created.Add(ttl)) || !now.Before(ss.seen.Add(idle))
}

// find returns the request's session, or nil: none, unknown, expired, or
// its key revoked (the session is then ended).
func (s *Server) find(r *http.Request) *session {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" || len(ck.Value) > 100 {
		return nil
	}
	now := s.now()
	st := s.sessions
	st.mu.Lock()
	ss := st.m[hashID(ck.Value)]
	if ss != nil && s.expired(ss, now) {
		delete(st.m, ss.key)
		ss = nil
	}
	if ss != nil {
		ss.seen = now
	}
	st.mu.Unlock()
	if ss == nil {
		return nil
	}
	// A key revoked since sign-in ends its sessions at their next request.
	if p := ss.principal; p.KeyID != livebill.AdminKeyID {
		k, err := s.Store.FindKey(r.Context(), p.KeyID)
		if err != nil || k.Revoked() {
			s.end(ss)
			return nil
		}
	}
	return ss
}

// end forgets a session.
func (s *Server) end(ss *session) {
	st := s.sessions
	st.mu.Lock()
	delete(st.m, ss.key)
	st.mu.Unlock()
}

// flash leaves a message for the session's next page.
func (st *sessions) flash(ss *session, msg string) {
	st.mu.Lock()
	ss.flash = msg
	st.mu.Unlock()
}

func (st *sessions) takeFlash(ss *session) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	f := ss.flash
	ss.flash = ""
	return f
}

// secure reports whether the browser reached the console over TLS (here,
// or at a proxy in front that says so): the cookies are then Secure.
func secure(r *http.Request) bool {
	return r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
}

// setCookie sets an HttpOnly, SameSite=Strict cookie for the whole
// console; maxAge < 0 deletes it.
func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	ck := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure(r)}
	switch {
	case maxAge < 0:
		ck.MaxAge = -1
	case maxAge > 0:
		ck.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(w, ck)
}

// sameToken compares two tokens in constant time; empty never matches.
func sameToken(a, b string) bool {
	return a != "" && b != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
