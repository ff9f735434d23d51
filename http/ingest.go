package http

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/webhook"
)

// MaxWebhookBody bounds one vendor callback.
const MaxWebhookBody = 1 << 20

// MaxAgoraApps is the most Agora configurations POST /v1/ingest/agora
// tries a notification's signature with: NCS notifications name no
// project, so the route finds the app by the secret that verifies, and
// every secret tried is an HMAC over the whole body, which anyone may
// send. With more apps taking Agora notifications, the route is refused
// (409) and each app's notifications go to /v1/ingest/agora/{app}.
const MaxAgoraApps = 10

// ingestRoutes are the per-app webhook configuration (operators only: it
// holds the vendor's secret) and the vendor webhook endpoints, which the
// vendors' signatures authenticate.
func (s *Server) ingestRoutes() []route {
	return []route{
		{method: "PUT", path: "/v1/accounts/{id}/apps/{app}/webhook", access: Admin, handle: s.putWebhookConfig},
		{method: "GET", path: "/v1/accounts/{id}/apps/{app}/webhook", access: Admin, handle: s.getWebhookConfig},
		{method: "POST", path: "/v1/ingest/trtc/{app}", access: Signed, body: MaxWebhookBody, handle: s.ingestTRTC},
		{method: "POST", path: "/v1/ingest/livekit", access: Signed, body: MaxWebhookBody, handle: s.ingestLiveKit},
		{method: "POST", path: "/v1/ingest/livekit/{app}", access: Signed, body: MaxWebhookBody, handle: s.ingestLiveKit},
		{method: "POST", path: "/v1/ingest/agora", access: Signed, body: MaxWebhookBody, handle: s.ingestAgora},
		{method: "POST", path: "/v1/ingest/agora/{app}", access: Signed, body: MaxWebhookBody, handle: s.ingestAgora},
	}
}

func (s *Server) configs() (webhook.ConfigStore, error) {
	cs, ok := s.Store.(webhook.ConfigStore)
	if !ok {
		return nil, livebill.Errorf(livebill.EINTERNAL, "the store keeps no webhook configurations")
	}
	return cs, nil
}

func (s *Server) putWebhookConfig(w http.ResponseWriter, r *http.Request) {
	var c webhook.Config
	if err := readJSON(r, &c); err != nil {
		writeError(w, err)
		return
	}
	c.App = r.PathValue("app")
	out, err := s.Billing.SetWebhook(r.Context(), r.PathValue("id"), &c)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getWebhookConfig(w http.ResponseWriter, r *http.Request) {
	c, err := s.Billing.Webhook(r.Context(), r.PathValue("id"), r.PathValue("app"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// Why a vendor's callback is refused (401).
const (
	BadSignature = "signature" // its signature does not verify
	StaleWebhook = "stale"     // its signed timestamp is outside the webhook window
)

// refuseWebhook refuses a vendor's callback whose signature does not
// verify or is stale (why), and counts and logs it (the app and why; never
// the signature).
func (s *Server) refuseWebhook(w http.ResponseWriter, r *http.Request, vendor, why string, err error) {
	s.refuseCallback(w, r, vendor, why, err, err)
}

// refuseSignature refuses a callback whose signature does not verify
// (verr, which it answers) or whose app takes no such callbacks (missing,
// from vendorConfig): that answers ErrSignature, as a wrong signature
// does, so a caller without the app's secret cannot tell which apps
// exist, have a configuration or which vendor they take; only the log
// (and so the operator) says which.
func (s *Server) refuseSignature(w http.ResponseWriter, r *http.Request, vendor string, verr, missing error) {
	if missing != nil {
		s.refuseCallback(w, r, vendor, BadSignature, webhook.ErrSignature, missing)
		return
	}
	s.refuseWebhook(w, r, vendor, BadSignature, verr)
}

// refuseCallback answers 401 with answer and counts and logs the refusal with
// cause.
func (s *Server) refuseCallback(w http.ResponseWriter, r *http.Request, vendor, why string, answer, cause error) {
	if s.Monitor != nil {
		s.Monitor.WebhookRefused(vendor, why)
	}
	s.logger().WarnContext(r.Context(), "webhook refused", "vendor", vendor, "reason", why, "app", r.PathValue("app"), "error", cause.Error())
	writeProblem(w, problemOf(http.StatusUnauthorized, livebill.EUNAUTHORIZED, answer))
}

func readWebhook(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := readBody(w, r, MaxWebhookBody)
	if err != nil {
		writeError(w, readError(err))
		return nil, false
	}
	return body, true
}

// vendorConfig returns the app's configuration for vendor. When the app
// takes no such callbacks (it does not exist, has no webhook
// configuration or one of another vendor), it returns why (missing) and
// a stand-in configuration whose secret nobody knows: the caller checks
// the signature against it as against the app's own and refuses the
// callback (refuseSignature) after the same work and with the same
// answer as for a wrong signature. err is the store's failure.
func (s *Server) vendorConfig(ctx context.Context, app, vendor string) (cfg *webhook.Config, missing, err error) {
	cs, err := s.configs()
	if err != nil {
		return nil, nil, err
	}
	c, err := cs.FindWebhookConfig(ctx, app)
	switch {
	case livebill.ErrorCode(err) == livebill.ENOTFOUND:
		missing = err
	case err != nil:
		return nil, nil, err
	case c.Vendor != vendor:
		missing = fmt.Errorf("app %q takes %s webhooks, not %s", app, c.Vendor, vendor)
	default:
		return c, nil, nil
	}
	return &webhook.Config{App: app, Vendor: vendor, Secret: standInSecret}, missing, nil
}

// standInSecret is the secret of vendorConfig's stand-in configurations:
// random, never stored nor shown.
var standInSecret = rand.Text()

func (s *Server) ingestTRTC(w http.ResponseWriter, r *http.Request) {
	body, ok := readWebhook(w, r)
	if !ok {
		return
	}
	cfg, missing, err := s.vendorConfig(r.Context(), r.PathValue("app"), webhook.TRTC)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := webhook.VerifyTRTC(body, r.Header.Get("Sign"), cfg.Secret); err != nil || missing != nil {
		s.refuseSignature(w, r, webhook.TRTC, err, missing)
		return
	}
	if err := webhook.CheckTRTCTime(body, s.now(), s.webhookWindow()); err != nil {
		s.refuseWebhook(w, r, webhook.TRTC, StaleWebhook, err)
		return
	}
	evs, err := webhook.MapTRTC(cfg, body)
	s.storeWebhook(w, r, evs, err)
}

func (s *Server) ingestLiveKit(w http.ResponseWriter, r *http.Request) {
	body, ok := readWebhook(w, r)
	if !ok {
		return
	}
	auth := r.Header.Get("Authorization")
	claims, err := webhook.ParseLiveKitToken(auth)
	if err != nil {
		s.refuseWebhook(w, r, webhook.LiveKit, BadSignature, err)
		return
	}
	var cfg *webhook.Config
	var missing error
	if app := r.PathValue("app"); app != "" {
		if cfg, missing, err = s.vendorConfig(r.Context(), app, webhook.LiveKit); err != nil {
			writeError(w, err)
			return
		}
	} else {
		cs, err := s.configs()
		if err != nil {
			writeError(w, err)
			return
		}
		list, err := cs.ListWebhookConfigs(r.Context(), webhook.LiveKit, claims.Issuer, 2)
		if err != nil {
			writeError(w, err)
			return
		}
		if len(list) != 1 { // unknown key, or one key on several apps: use /v1/ingest/livekit/{app}
			s.refuseWebhook(w, r, webhook.LiveKit, BadSignature, webhook.ErrSignature)
			return
		}
		cfg = list[0]
	}
	if err := webhook.VerifyLiveKit(body, auth, cfg.Key, cfg.Secret, s.now()); err != nil || missing != nil {
		s.refuseSignature(w, r, webhook.LiveKit, err, missing)
		return
	}
	if err := webhook.CheckLiveKitTime(auth, s.now(), s.webhookWindow()); err != nil {
		s.refuseWebhook(w, r, webhook.LiveKit, StaleWebhook, err)
		return
	}
	evs, err := webhook.MapLiveKit(cfg, body)
	s.storeWebhook(w, r, evs, err)
}

func (s *Server) ingestAgora(w http.ResponseWriter, r *http.Request) {
	body, ok := readWebhook(w, r)
	if !ok {
		return
	}
	sig := r.Header.Get("Agora-Signature-V2")
	var cfg *webhook.Config
	var missing error
	if app := r.PathValue("app"); app != "" {
		c, m, err := s.vendorConfig(r.Context(), app, webhook.Agora)
		if err != nil {
			writeError(w, err)
			return
		}
		if webhook.VerifyAgora(body, sig, c.Secret) == nil && m == nil {
			cfg = c
		}
		missing = m
	} else {
		// NCS notifications do not name the project (neither the body
		// nor the headers): the secret that verifies the signature does.
		// Each secret tried costs an HMAC over the body, so at most
		// MaxAgoraApps are.
		cs, err := s.configs()
		if err != nil {
			writeError(w, err)
			return
		}
		list, err := cs.ListWebhookConfigs(r.Context(), webhook.Agora, "", MaxAgoraApps+1)
		if err != nil {
			writeError(w, err)
			return
		}
		if len(list) > MaxAgoraApps {
			s.logger().WarnContext(r.Context(), "webhook refused: too many agora apps for /v1/ingest/agora", "vendor", webhook.Agora, "max", MaxAgoraApps)
			writeError(w, livebill.Errorf(livebill.ECONFLICT,
				"more than %d apps take agora notifications: send each app's to /v1/ingest/agora/{app}", MaxAgoraApps))
			return
		}
		for _, c := range list {
			if webhook.VerifyAgora(body, sig, c.Secret) == nil {
				cfg = c
				break
			}
		}
	}
	if cfg == nil {
		s.refuseSignature(w, r, webhook.Agora, webhook.ErrSignature, missing)
		return
	}
	if err := webhook.CheckAgoraTime(body, s.now(), s.webhookWindow()); err != nil {
		s.refuseWebhook(w, r, webhook.Agora, StaleWebhook, err)
		return
	}
	evs, err := webhook.MapAgora(cfg, body)
	s.storeWebhook(w, r, evs, err)
}

// webhookWindow is the freshness window for callbacks' own timestamps:
// signed callbacks older (or newer) than this are refused, so a captured
// one cannot be replayed later (webhook/fresh.go).
func (s *Server) webhookWindow() time.Duration {
	if s.WebhookWindow > 0 {
		return s.WebhookWindow
	}
	return webhook.DefaultWindow
}

func (s *Server) now() time.Time {
	if s.Billing != nil && s.Billing.Clock != nil {
		return s.Billing.Clock.Now()
	}
	return time.Now()
}

// storeWebhook ingests a callback's events and answers the vendor:
// {"code":0} with 200 once stored (or already stored: a retry). A
// callback whose events the ingestion rejects gets 422 with the reasons;
// the same id with another body (a callback re-sent after the app's
// configuration changed) keeps the first version and is acknowledged.
func (s *Server) storeWebhook(w http.ResponseWriter, r *http.Request, evs []webhook.Event, err error) {
	if err != nil {
		writeError(w, err)
		return
	}
	if len(evs) > 0 {
		res, err := s.Billing.Ingest(r.Context(), webhook.Raw(evs))
		if err != nil {
			writeError(w, err)
			return
		}
		var details []error
		for _, st := range res.Errors {
			if st.Code == livebill.ECONFLICT {
				s.logger().WarnContext(r.Context(), "webhook: event already stored with another body; first version kept", "event", st.ID)
				continue
			}
			details = append(details, ProblemDetail{Detail: st.Error, Line: st.Line, ID: st.ID})
		}
		if len(details) > 0 {
			writeProblem(w, problemOf(http.StatusUnprocessableEntity, livebill.EINVALID,
				fmt.Errorf("callback rejected: %d of %d events invalid", len(details), len(evs)), details...))
			return
		}
		lateness := s.WebhookLateness
		if lateness == 0 {
			lateness = webhook.DefaultLateness
		}
		if t, err := time.Parse(time.RFC3339Nano, evs[0].Time); err == nil && s.now().Sub(t) > lateness && res.Accepted > 0 {
			s.logger().InfoContext(r.Context(), "webhook: arrived after the allowed lateness: re-rated as a late event", "event", evs[0].ID,
				"late", s.now().Sub(t).Round(time.Second).String(), "lateness", lateness.String())
		}
	}
	writeJSON(w, http.StatusOK, map[string]int{"code": 0})
}
