package console

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strings"

	"github.com/livebill/livebill"
)

// Access is who may open a console page.
type Access string

// Access levels of the page table.
const (
	// Public: anyone (sign-in, the language switch, static assets).
	Public Access = "public"
	// Session: anyone signed in (the price calculator, sign-out).
	Session Access = "session"
	// Operator: signed in with an operator key.
	Operator Access = "operator"
	// Account: signed in with an operator key, or with a key of the
	// account the path's {id} names. Another account is answered 404, as
	// for one that does not exist.
	Account Access = "account"
)

// page is one entry of the page table.
type page struct {
	method, path string
	access       Access
	handle       func(*call)
}

// maxForm bounds a form's body; the calculator takes a scenario file.
const (
	maxForm         = 1 << 20
	maxScenarioForm = 1 << 20
)

// table is every page the console serves, with its access level; the
// handler registers nothing else.
func (s *Server) table() []page {
	return []page{
		{"GET", "/{$}", Public, s.home},
		{"GET", "/sign-in", Public, s.signInForm},
		{"POST", "/sign-in", Public, s.signIn},
		{"GET", "/language", Public, s.setLanguage},
		{"GET", "/static/", Public, nil}, // embedded assets (Handler)
		{"POST", "/sign-out", Session, s.signOut},

		{"GET", "/accounts", Operator, s.accounts},
		{"POST", "/accounts", Operator, s.createAccount},
		{"GET", "/accounts/{id}/manage", Operator, s.manage},
		{"POST", "/accounts/{id}/apps", Operator, s.createApp},
		{"POST", "/accounts/{id}/purchases", Operator, s.createPurchase},
		{"POST", "/accounts/{id}/topups", Operator, s.createTopUp},
		{"POST", "/accounts/{id}/webhook", Operator, s.setWebhook},

		{"GET", "/accounts/{id}", Account, s.overview},
		{"GET", "/accounts/{id}/usage", Account, s.usage},
		{"GET", "/accounts/{id}/usage/download", Account, s.usageDownload},
		{"GET", "/accounts/{id}/bills", Account, s.bills},
		{"GET", "/accounts/{id}/bills/download", Account, s.billsDownload},
		{"GET", "/accounts/{id}/bills/{seq}", Account, s.bill},
		{"GET", "/accounts/{id}/statements/{month}", Account, s.statement},
		{"GET", "/accounts/{id}/statements/{month}/download", Account, s.statementDownload},
		{"GET", "/accounts/{id}/purchases", Account, s.purchases},

		{"GET", "/calculator", Session, s.calculatorForm},
		{"POST", "/calculator", Session, s.calculate},
	}
}

// Page describes a page of the table, for tests and documentation.
type Page struct {
	Method, Path string
	Access       Access
}

// Pages lists the page table.
func (s *Server) Pages() []Page {
	var out []Page
	for _, p := range s.table() {
		out = append(out, Page{p.method, p.path, p.access})
	}
	return out
}

// Handler serves the console: each page of the table behind its guard,
// and a page "not found" for anything else. Cross-origin form posts are
// refused before any page sees them (http.CrossOriginProtection, by the
// browser's Sec-Fetch-Site and Origin headers), besides each form's CSRF
// token.
func (s *Server) Handler() http.Handler {
	if s.sessions == nil {
		s.sessions = &sessions{}
	}
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	assets := http.StripPrefix("/static/", http.FileServerFS(static))
	for _, p := range s.table() {
		pattern := p.method + " " + p.path
		if p.handle == nil {
			mux.Handle(pattern, cacheAssets(assets))
			continue
		}
		mux.Handle(pattern, s.guard(p))
	}
	mux.Handle("/", s.guard(page{access: Public, handle: func(c *call) {
		c.fail(errNotFound(c.r.URL.Path))
	}}))
	return http.NewCrossOriginProtection().Handler(securityHeaders(mux))
}

func errNotFound(path string) error {
	return livebill.Errorf(livebill.ENOTFOUND, "no page %s", path)
}

// cacheAssets lets browsers keep the embedded assets for a day; folders
// are not listed.
func cacheAssets(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=86400")
		h.ServeHTTP(w, r)
	})
}

// securityHeaders: no framing (clickjacking), scripts and styles only
// from the console itself, no sniffing, no referrer beyond the origin.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// guard runs a page's checks, in order: the body bound, the session, the
// access level, the CSRF token of a form; then the page.
func (s *Server) guard(p page) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{s: s, w: w, r: r, loc: s.language(r)}
		if r.Method == "POST" {
			limit := int64(maxForm)
			if p.path == "/calculator" {
				limit = maxScenarioForm
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		c.session = s.find(r)
		switch p.access {
		case Public:
		case Session, Operator, Account:
			if c.session == nil {
				if r.Method == "GET" {
					c.redirect("/sign-in?next=" + url.QueryEscape(r.URL.RequestURI()))
					return
				}
				c.render(http.StatusUnauthorized, "error", c.loc.T("error.title"), nil, func(v *view) { v.Errors = []string{c.loc.T("error.signin")} })
				return
			}
			pr := c.session.principal
			if p.access == Operator && !pr.Admin() {
				c.render(http.StatusForbidden, "error", c.loc.T("error.title"), nil, func(v *view) { v.Errors = []string{c.loc.T("error.operator")} })
				return
			}
			if p.access == Account && !pr.Admin() && r.PathValue("id") != pr.Account {
				c.fail(notFound(r.PathValue("id")))
				return
			}
		default:
			http.Error(w, fmt.Sprintf("page %s %s has no access level", p.method, p.path), http.StatusInternalServerError)
			return
		}
		// A form changes something for its session: it must carry the
		// session's token. Public pages have no session to check against
		// (sign-in makes one; the catch-all only answers 404).
		if r.Method == "POST" && p.access != Public {
			if err := r.ParseMultipartForm(maxScenarioForm); err != nil && err != http.ErrNotMultipart {
				c.fail(livebill.Errorf(livebill.EINVALID, "form: %v", err))
				return
			}
			if !sameToken(r.PostFormValue("csrf"), c.session.csrf) {
				c.render(http.StatusForbidden, "error", c.loc.T("error.title"), nil, func(v *view) { v.Errors = []string{c.loc.T("error.csrf")} })
				return
			}
		}
		p.handle(c)
	})
}

// safeNext is where to go after sign-in or a language switch: a path of
// this console, never another site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.HasPrefix(next, "/v1") {
		return "/"
	}
	return next
}

// accountPage reads the account of the path and a page (?after=) of one
// of its lists, 50 items at most, or answers the error.
func accountPage[T any](s *Server, c *call, fetch func(context.Context, string, livebill.Page) ([]T, string, error)) (*head, []T, string, bool) {
	h, err := s.head(c.ctx(), c.r.PathValue("id"))
	if err != nil {
		c.fail(err)
		return nil, nil, "", false
	}
	p, err := livebill.ParsePage("", c.r.URL.Query().Get("after"))
	if err != nil {
		c.fail(err)
		return nil, nil, "", false
	}
	p.Limit = 50
	items, next, err := fetch(c.ctx(), h.ID, p)
	if err != nil {
		c.fail(err)
		return nil, nil, "", false
	}
	return h, items, next, true
}
