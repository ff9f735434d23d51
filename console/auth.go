package console

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/livebill/livebill"
)

// home sends an operator to the accounts, an account's key to its
// account, anyone else to sign in.
func (s *Server) home(c *call) {
	switch {
	case c.session == nil:
		c.redirect("/sign-in")
	case c.session.principal.Admin():
		c.redirect("/accounts")
	default:
		c.redirect("/accounts/" + url.PathEscape(c.session.principal.Account))
	}
}

type signInData struct {
	Token, Next string
}

// signInForm shows the form, with a fresh token in a cookie of its own
// and in the form: the post must carry both (a page of another site can
// set neither).
func (s *Server) signInForm(c *call) {
	s.signInPage(c, http.StatusOK, c.r.URL.Query().Get("next"), nil)
}

func (s *Server) signInPage(c *call, status int, next string, errs []string) {
	tok := token()
	setCookie(c.w, c.r, signinCookie, tok, time.Hour)
	c.render(status, "signin", c.loc.T("signin.title"), signInData{Token: tok, Next: safeNext(next)},
		func(v *view) { v.Errors = errs })
}

// signIn checks the key and starts a session: a new id each time (a
// session id planted before sign-in is never promoted).
func (s *Server) signIn(c *call) {
	r := c.r
	if err := r.ParseForm(); err != nil {
		s.signInPage(c, http.StatusBadRequest, "", []string{err.Error()})
		return
	}
	ck, err := r.Cookie(signinCookie)
	if err != nil || !sameToken(ck.Value, r.PostFormValue("csrf")) {
		s.signInPage(c, http.StatusForbidden, r.PostFormValue("next"), []string{c.loc.T("error.csrf")})
		return
	}
	key := strings.TrimSpace(r.PostFormValue("key"))
	if key == "" {
		s.signInPage(c, http.StatusUnauthorized, r.PostFormValue("next"), []string{c.loc.T("signin.empty")})
		return
	}
	p, err := livebill.Authenticate(r.Context(), s.Store, s.AdminKey, key)
	if err != nil {
		if livebill.ErrorCode(err) != livebill.EUNAUTHORIZED {
			c.fail(err)
			return
		}
		s.signInPage(c, http.StatusUnauthorized, r.PostFormValue("next"), []string{c.loc.T("signin.invalid")})
		return
	}
	if old := c.session; old != nil {
		s.end(old)
	}
	id, _ := s.start(p)
	ttl, _ := s.ttls()
	setCookie(c.w, r, sessionCookie, id, ttl)
	setCookie(c.w, r, signinCookie, "", -1)
	next := safeNext(r.PostFormValue("next"))
	if next == "/" || next == "/sign-in" {
		next = "/"
	}
	c.redirect(next)
}

// signOut ends the session.
func (s *Server) signOut(c *call) {
	s.end(c.session)
	setCookie(c.w, c.r, sessionCookie, "", -1)
	c.redirect("/sign-in")
}

// setLanguage remembers the language chosen (a year) and goes back.
func (s *Server) setLanguage(c *call) {
	lang := c.r.URL.Query().Get("lang")
	if s.locales[lang] != nil {
		setCookie(c.w, c.r, langCookie, lang, 365*24*time.Hour)
	}
	c.redirect(safeNext(c.r.URL.Query().Get("next")))
}
