package billing

import (
	"context"
	"fmt"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
	"github.com/livebill/livebill/scenario"
	"github.com/livebill/livebill/webhook"
)

// What the JSON API and the web console both do with a request, in one
// place, so both front ends accept the same input and answer the same
// numbers and messages.

// AccountCatalog returns the catalog an account is rated with and its
// billing zone (the catalog's, or the account's own).
func (s *Service) AccountCatalog(ctx context.Context, accountID string) (*catalog.Catalog, *time.Location, error) {
	rec, err := s.Store.FindAccount(ctx, accountID)
	if err != nil {
		return nil, nil, err
	}
	a, err := accountZone(rec)
	if err != nil {
		return nil, nil, err
	}
	return a.cat, a.loc, nil
}

// quoteGate lets one scenario document be quoted at a time: parsing one
// holds a YAML node for every value, up to 60 times the document's size,
// so requests are quoted one after another rather than side by side.
var quoteGate = make(chan struct{}, 1)

// QuoteScenario prices a scenario document (YAML or JSON, SPEC §7.2) like
// `livebill quote --format json`, with the bounds of a request: only
// built-in catalogs and inline events (nothing names a file the server
// would read), one document at a time (it waits for the one being
// quoted, or until ctx ends). Invalid events make it an EINVALID error
// listing them, unless skipInvalid quotes the rest (with the notice
// events_rejected).
func QuoteScenario(ctx context.Context, doc []byte, source string, skipInvalid bool) (*livebill.Quote, error) {
	select {
	case quoteGate <- struct{}{}:
		defer func() { <-quoteGate }()
	case <-ctx.Done():
		return nil, livebill.Errorf(livebill.EUNAVAILABLE, "quote: %v while waiting for another quote to finish", ctx.Err())
	}
	f, err := scenario.Parse(doc, source)
	if err != nil {
		return nil, err
	}
	if f.EventsFile != "" {
		return nil, livebill.Errorf(livebill.EINVALID, "events_file: not accepted here; give events inline")
	}
	if err := CheckCatalog(f.Catalog); err != nil {
		return nil, err
	}
	res, err := f.Run()
	if err != nil {
		return nil, err
	}
	if n := res.RejectedCount(); n > 0 {
		if !skipInvalid {
			return nil, &RejectedEvents{Total: res.Events, Count: n, Events: res.Rejected}
		}
		res.Quote.Notices = append(res.Quote.Notices, livebill.Notice{Code: "events_rejected",
			Message: fmt.Sprintf("%d of %d events were invalid and left out", n, res.Events)})
	}
	return res.Quote, nil
}

// RejectedEvents is QuoteScenario's error when events were invalid (code
// EINVALID): how many events there were and how many were rejected, and
// the errors of those listed (scenario.Result.Rejected: a bounded list).
type RejectedEvents struct {
	Total  int
	Count  int
	Events []error
}

func (e *RejectedEvents) Error() string {
	if e.Count > len(e.Events) {
		return fmt.Sprintf("%d of %d events rejected (%d listed); nothing quoted", e.Count, e.Total, len(e.Events))
	}
	return fmt.Sprintf("%d of %d events rejected; nothing quoted", e.Count, e.Total)
}

// Unwrap gives a coded error, so livebill.ErrorCode reads EINVALID.
func (e *RejectedEvents) Unwrap() error { return livebill.Errorf(livebill.EINVALID, "%s", e.Error()) }

// SetWebhook stores the webhook configuration of one of the account's
// apps (defaults filled in) and returns it without its secret.
func (s *Service) SetWebhook(ctx context.Context, accountID string, c *webhook.Config) (*webhook.Config, error) {
	cs, err := s.webhookConfigs()
	if err != nil {
		return nil, err
	}
	app, err := s.accountApp(ctx, accountID, c.App)
	if err != nil {
		return nil, err
	}
	c.App = app.ID
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.Defaults()
	if err := cs.PutWebhookConfig(ctx, c); err != nil {
		return nil, err
	}
	return c.Redacted(), nil
}

// Webhook returns the webhook configuration of one of the account's apps,
// without its secret.
func (s *Service) Webhook(ctx context.Context, accountID, appID string) (*webhook.Config, error) {
	cs, err := s.webhookConfigs()
	if err != nil {
		return nil, err
	}
	if _, err := s.accountApp(ctx, accountID, appID); err != nil {
		return nil, err
	}
	c, err := cs.FindWebhookConfig(ctx, appID)
	if err != nil {
		return nil, err
	}
	return c.Redacted(), nil
}

func (s *Service) webhookConfigs() (webhook.ConfigStore, error) {
	cs, ok := s.Store.(webhook.ConfigStore)
	if !ok {
		return nil, livebill.Errorf(livebill.EINTERNAL, "the store keeps no webhook configurations")
	}
	return cs, nil
}

// accountApp returns the app if it is one of the account's (ENOTFOUND
// otherwise).
func (s *Service) accountApp(ctx context.Context, accountID, appID string) (*livebill.App, error) {
	app, err := s.Store.FindApp(ctx, appID)
	if err != nil {
		return nil, err
	}
	if app.AccountID != accountID {
		return nil, livebill.Errorf(livebill.ENOTFOUND, "app %q is not an app of account %q", app.ID, accountID)
	}
	return app, nil
}
