package console

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
	"github.com/livebill/livebill/webhook"
)

// Operator pages: the accounts, a new account, and an account's apps,
// purchases, top-ups and webhook secrets. Forms call the same services as
// the API's routes, so they refuse what the API refuses with the same
// messages.

// accountsPage is how many accounts a page of the list shows.
const accountsPage = 25

// form is a submitted form: its values (shown again when refused) and
// the problems found. Secrets are never kept in it.
type form struct {
	Values url.Values
	Errors []string
}

// V is a submitted value.
func (f *form) V(key string) string {
	if f == nil {
		return ""
	}
	return f.Values.Get(key)
}

func refused(r *http.Request, err error, secrets ...string) *form {
	v := url.Values{}
	for k, vs := range r.PostForm {
		v[k] = vs
	}
	for _, k := range append(secrets, "csrf") {
		v.Del(k)
	}
	return &form{Values: v, Errors: messages(err)}
}

type accountRow struct {
	ID, Catalog, Currency string
	Standing              *standing
	MTD                   string
	Problem               string // why the account's figures cannot be shown
}

type accountsData struct {
	Rows     []accountRow
	Query    string
	Next     string
	Matches  int
	Form     *form
	Catalogs []string
	Created  string // today, the form's default creation date
}

// accounts lists accounts: arrears first, then suspended, active and
// reclaimed, each by id; ?q= keeps those whose id contains it; a page
// at a time (?after= is the next page's cursor).
func (s *Server) accounts(c *call) {
	s.accountsPage(c, http.StatusOK, nil)
}

func (s *Server) accountsPage(c *call, status int, f *form) {
	ctx := c.ctx()
	q := strings.TrimSpace(c.r.URL.Query().Get("q"))
	all, err := s.Store.ListAccounts(ctx)
	if err != nil {
		c.fail(err)
		return
	}
	var rows []accountRow
	for _, a := range all {
		if q == "" || strings.Contains(strings.ToLower(a.ID), strings.ToLower(q)) {
			rows = append(rows, accountRow{ID: a.ID, Catalog: a.Catalog, Standing: &standing{State: livebill.AccountActive}})
		}
	}
	// the order needs every match's state: one read for all
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	states, err := s.Store.FindAccountStates(ctx, ids)
	if err != nil {
		c.fail(err)
		return
	}
	for i := range rows {
		if st := states[rows[i].ID]; st != nil {
			rows[i].Standing.State = st.State
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rank(rows[i].Standing.State) < rank(rows[j].Standing.State) })
	from := 0
	if pos, err := livebill.ParseCursor(c.r.URL.Query().Get("after"), "console-accounts", 1); err != nil {
		c.fail(err)
		return
	} else if pos != nil {
		from, _ = strconv.Atoi(pos[0])
	}
	from = min(max(from, 0), len(rows))
	to := min(from+accountsPage, len(rows))
	d := &accountsData{Query: q, Matches: len(rows), Form: f, Catalogs: catalog.Builtin(), Created: date(s.now())}
	if to < len(rows) {
		d.Next = livebill.Cursor("console-accounts", strconv.Itoa(to))
	}
	for _, row := range rows[from:to] {
		s.fillRow(ctx, &row)
		d.Rows = append(d.Rows, row)
	}
	c.render(status, "accounts", c.loc.T("accounts.title"), d)
}

// fillRow adds an account's balance and month to date; an account whose
// data cannot be rated is listed with the reason.
func (s *Server) fillRow(ctx context.Context, row *accountRow) {
	h, err := s.head(ctx, row.ID)
	if err == nil {
		row.Currency = h.Currency
		var st *standing
		if st, err = s.standing(ctx, h); err == nil {
			row.Standing = st
			var m *monthToDate
			if m, err = s.monthToDate(ctx, h); err == nil {
				row.MTD = m.Total
			}
		}
	}
	if err != nil {
		row.Problem = strings.Join(messages(err), "; ")
	}
}

func (s *Server) createAccount(c *call) {
	r := c.r
	in := livebill.CreateAccountInput{ID: strings.TrimSpace(r.PostFormValue("id")), Catalog: r.PostFormValue("catalog"),
		Mode: r.PostFormValue("mode"), Created: r.PostFormValue("created"), Activated: r.PostFormValue("activated"),
		Balance: strings.TrimSpace(r.PostFormValue("balance")), Timezone: strings.TrimSpace(r.PostFormValue("timezone"))}
	a, err := s.Billing.CreateAccount(c.ctx(), &in)
	if err != nil {
		s.accountsPage(c, statusOf(err), refused(r, err))
		return
	}
	s.sessions.flash(c.session, c.loc.T("accounts.created", a.ID))
	c.redirect("/accounts/" + url.PathEscape(a.ID) + "/manage")
}

// ---- an account's apps, purchases, top-ups, webhooks

type manageData struct {
	*head
	Apps     []appRow
	Plans    []*catalog.Plan
	Forms    map[string]*form
	Vendors  []string
	Purchase string // today, the purchase form's default start
}

type appRow struct {
	*livebill.App
	Webhook *webhook.Config // nil when none is configured
}

func (s *Server) manage(c *call) { s.managePage(c, http.StatusOK, "", nil) }

// managePage shows the forms; one of them (name) may be refused.
func (s *Server) managePage(c *call, status int, name string, f *form) {
	ctx := c.ctx()
	h, err := s.head(ctx, c.r.PathValue("id"))
	if err != nil {
		c.fail(err)
		return
	}
	apps, err := s.Store.ListApps(ctx, h.ID)
	if err != nil {
		c.fail(err)
		return
	}
	d := &manageData{head: h, Plans: h.cat.Plans, Forms: map[string]*form{}, Vendors: []string{webhook.TRTC, webhook.LiveKit, webhook.Agora},
		Purchase: date(h.Today)}
	if name != "" {
		d.Forms[name] = f
	}
	for _, a := range apps {
		row := appRow{App: a}
		if w, err := s.Billing.Webhook(ctx, h.ID, a.ID); err == nil {
			row.Webhook = w
		} else if livebill.ErrorCode(err) != livebill.ENOTFOUND {
			c.fail(err)
			return
		}
		d.Apps = append(d.Apps, row)
	}
	c.render(status, "manage", h.ID, d, accountTab(h.ID, "manage"))
}

func (s *Server) createApp(c *call) {
	r := c.r
	in := livebill.CreateAppInput{AccountID: r.PathValue("id"), ID: strings.TrimSpace(r.PostFormValue("id")), Name: r.PostFormValue("name")}
	if _, err := s.Store.CreateApp(c.ctx(), &in); err != nil {
		s.managePage(c, statusOf(err), "app", refused(r, err))
		return
	}
	s.done(c, c.loc.T("manage.app.done", in.ID))
}

func (s *Server) createPurchase(c *call) {
	r := c.r
	in := livebill.CreatePurchaseInput{AccountID: r.PathValue("id"), ID: strings.TrimSpace(r.PostFormValue("id")),
		App: r.PostFormValue("app"), Plan: r.PostFormValue("plan"), Region: strings.TrimSpace(r.PostFormValue("region")),
		Device: strings.TrimSpace(r.PostFormValue("device")), Start: strings.TrimSpace(r.PostFormValue("start")),
		AutoRenew: r.PostFormValue("auto_renew") != ""}
	var err error
	if n := strings.TrimSpace(r.PostFormValue("count")); n != "" {
		if in.Count, err = strconv.Atoi(n); err != nil {
			err = livebill.Errorf(livebill.EINVALID, "count: must be a whole number, not %s", livebill.Shown(n))
		}
	}
	if err == nil {
		_, err = s.Billing.CreatePurchase(c.ctx(), &in)
	}
	if err != nil {
		s.managePage(c, statusOf(err), "purchase", refused(r, err))
		return
	}
	s.done(c, c.loc.T("manage.purchase.done", in.ID))
}

func (s *Server) createTopUp(c *call) {
	r := c.r
	in := livebill.CreateTopUpInput{AccountID: r.PathValue("id"), ID: strings.TrimSpace(r.PostFormValue("id")),
		Amount: strings.TrimSpace(r.PostFormValue("amount")), Time: strings.TrimSpace(r.PostFormValue("time"))}
	t, created, err := s.Store.CreateTopUp(c.ctx(), &in)
	if err != nil {
		s.managePage(c, statusOf(err), "topup", refused(r, err))
		return
	}
	msg := c.loc.T("manage.topup.done", t.ID)
	if !created {
		msg = c.loc.T("manage.topup.again", t.ID)
	}
	s.done(c, msg)
}

// setWebhook stores an app's webhook secret; the page shows that one is
// set, never the secret.
func (s *Server) setWebhook(c *call) {
	r := c.r
	cfg := webhook.Config{App: r.PostFormValue("app"), Vendor: r.PostFormValue("vendor"),
		Key: strings.TrimSpace(r.PostFormValue("key")), Secret: r.PostFormValue("secret")}
	if _, err := s.Billing.SetWebhook(c.ctx(), r.PathValue("id"), &cfg); err != nil {
		s.managePage(c, statusOf(err), "webhook", refused(r, err, "secret"))
		return
	}
	s.done(c, c.loc.T("manage.webhook.done", cfg.App))
}

// done goes back to the forms with a message.
func (s *Server) done(c *call, msg string) {
	s.sessions.flash(c.session, msg)
	c.redirect("/accounts/" + url.PathEscape(c.r.PathValue("id")) + "/manage")
}
