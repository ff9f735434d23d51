// Package console is livebill's web console: server-rendered pages
// (html/template) for operators and their customers, served by `livebill
// serve` beside the JSON API (every path outside /v1). Assets, templates
// and message files are embedded; the only script draws the usage charts
// with the vendored uPlot library (static/vendor/uplot).
//
// Every page is declared once, with who may open it, in the page table
// (pages.go). Signing in with an API key makes a server-side session
// (session.go): an operator key sees every account, an account key only
// its own (another account is answered as a missing one, as by the API).
// The figures come from the same services as the API's answers: month to
// date and packs from the account's quote, usage from its usage, bills as
// issued, statements as the API's.
package console

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
	lbhttp "github.com/livebill/livebill/http"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

//go:embed locales/*.json
var localeFS embed.FS

// Server serves the console.
type Server struct {
	Store   livebill.Store
	Billing *billing.Service
	// AdminKey is the operator key the server was started with ("" for
	// none), valid besides the stored keys, as for the API.
	AdminKey string
	// Status tells whether each app serves, and why not (the account
	// lifecycle: billing.Service); nil: apps are not shown a status. The
	// account's state and balance are read from the store's ledger.
	Status livebill.StatusReader
	// SessionTTL is how long a session lasts after sign-in, SessionIdle
	// how long it lasts unused (0: DefaultSessionTTL, DefaultSessionIdle).
	SessionTTL, SessionIdle time.Duration
	// Logger gets the errors a page could not show (nil: slog's default).
	Logger *slog.Logger

	sessions *sessions
	pages    map[string]*template.Template
	locales  map[string]*locale
}

// Session lifetimes.
const (
	DefaultSessionTTL  = 12 * time.Hour
	DefaultSessionIdle = time.Hour
)

// New returns the console of store and the billing service.
func New(store livebill.Store, b *billing.Service, adminKey string) (*Server, error) {
	s := &Server{Store: store, Billing: b, AdminKey: adminKey, sessions: &sessions{}}
	var err error
	if s.locales, err = loadLocales(); err != nil {
		return nil, err
	}
	if s.pages, err = parseTemplates(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) now() time.Time { return s.Billing.Clock.Now() }

func (s *Server) logf(format string, args ...any) {
	l := s.Logger
	if l == nil {
		l = slog.Default()
	}
	l.Error(fmt.Sprintf(format, args...))
}

// parseTemplates parses each page with the layout.
func parseTemplates() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" || base == "partials" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html", n)
		if err != nil {
			return nil, fmt.Errorf("cannot parse the console page %s: %w", base, err)
		}
		out[base] = t
	}
	return out, nil
}

// funcs are the template functions that need no locale.
var funcs = template.FuncMap{
	"json": func(v any) (template.JS, error) {
		b, err := jsonText(v)
		return template.JS(b), err
	},
}

// ---- requests

// call is one request to a page: who asks, in which language, and what
// the layout needs.
type call struct {
	s       *Server
	w       http.ResponseWriter
	r       *http.Request
	session *session // nil when not signed in
	loc     *locale
}

// view is what every template gets: the page's data, the language's
// formatting, the session's CSRF token and the navigation.
type view struct {
	*locale
	Title   string
	Data    any
	CSRF    string
	Admin   bool   // an operator is signed in
	Self    string // the account an account key is of
	Signed  bool
	Account string // the account the page is of, for its tabs
	Tab     string
	Path    string // the request's path and query, for the language switch
	Flash   string
	Errors  []string
}

// render writes a page with status.
func (c *call) render(status int, page, title string, data any, setup ...func(*view)) {
	v := &view{locale: c.loc, Title: title, Data: data, Path: c.r.URL.RequestURI()}
	if ss := c.session; ss != nil {
		v.Signed, v.CSRF, v.Admin, v.Self = true, ss.csrf, ss.principal.Admin(), ss.principal.Account
		v.Flash = c.s.sessions.takeFlash(ss)
	}
	for _, f := range setup {
		f(v)
	}
	t := c.s.pages[page]
	if t == nil {
		c.fail(fmt.Errorf("no console page %q", page))
		return
	}
	var b strings.Builder
	if err := t.Execute(&b, v); err != nil {
		c.s.logf("console: page %s: %v", page, err)
		http.Error(c.w, "internal error", http.StatusInternalServerError)
		return
	}
	h := c.w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	c.w.WriteHeader(status)
	fmt.Fprint(c.w, b.String())
}

// fail answers an error page: the status of its code, the message for
// people (an internal error is logged, not shown).
func (c *call) fail(err error) {
	status := lbhttp.StatusOf(err)
	msgs := messages(err)
	if status == http.StatusInternalServerError {
		c.s.logf("console: %s %s: %v", c.r.Method, c.r.URL.Path, err)
		msgs = []string{c.loc.T("error.internal")}
	}
	c.render(status, "error", c.loc.T("error.title"), nil, func(v *view) { v.Errors = msgs })
}

// messages lists the problems an error holds: each of a joined error's,
// or its own.
func messages(err error) []string {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, messages(e)...)
		}
		return out
	}
	if livebill.ErrorCode(err) == livebill.EINTERNAL {
		return []string{"internal error"}
	}
	return []string{err.Error()}
}

// statusOf is the HTTP status of an error's code, as the API answers it.
func statusOf(err error) int { return lbhttp.StatusOf(err) }

// redirect answers 303 See Other to path (after a form: the browser GETs it).
func (c *call) redirect(path string) { http.Redirect(c.w, c.r, path, http.StatusSeeOther) }

// ctx is the request's context.
func (c *call) ctx() context.Context { return c.r.Context() }

// notFound is the answer for a missing account and for another account's.
func notFound(id string) error {
	return livebill.Errorf(livebill.ENOTFOUND, "account %q not found", id)
}
