package livebill

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Notifications out: operators register endpoints (URLs with a signing
// secret, optionally limited to one account and some event types), and
// every state change, issued bill, pack alert or refund is written, in
// the transaction that makes it, as a Notification and one Delivery per
// endpoint that wants it (a transactional outbox). A worker (package
// notify) posts each delivery, signed, until the endpoint acknowledges it,
// one at a time per endpoint and account, in order.

// Notification is an event for the operator's systems. Its ID is the
// webhook-id of every delivery of it: a receiver deduplicates by it.
type Notification struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	AccountID string          `json:"account"`
	At        time.Time       `json:"timestamp"` // when it happened
	Data      json.RawMessage `json:"data"`
}

// Endpoint is an operator's URL that receives notifications.
type Endpoint struct {
	ID          string    `json:"id"`
	URL         string    `json:"url"`
	AccountID   string    `json:"account,omitempty"` // "" for every account
	Types       []string  `json:"types,omitempty"`   // empty for every type
	Description string    `json:"description,omitempty"`
	Secret      string    `json:"secret,omitempty"` // shown once, when made
	CreatedAt   time.Time `json:"created_at"`
}

// Wants reports whether the endpoint receives a notification.
func (e *Endpoint) Wants(n *Notification) bool {
	return (e.AccountID == "" || e.AccountID == n.AccountID) && (len(e.Types) == 0 || slices.Contains(e.Types, n.Type))
}

// CreateEndpointInput registers an endpoint.
type CreateEndpointInput struct {
	URL         string   `json:"url"`
	AccountID   string   `json:"account,omitempty"`
	Types       []string `json:"types,omitempty"`
	Description string   `json:"description,omitempty"`
}

// MaxEndpointURL bounds an endpoint's URL.
const MaxEndpointURL = 2048

// Validate reports every problem with the input, joined.
func (in *CreateEndpointInput) Validate() error {
	var errs []error
	u, err := url.Parse(in.URL)
	switch {
	case in.URL == "":
		errs = append(errs, Errorf(EINVALID, "url: missing"))
	case len(in.URL) > MaxEndpointURL:
		errs = append(errs, Errorf(EINVALID, "url: longer than %d bytes", MaxEndpointURL))
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		errs = append(errs, Errorf(EINVALID, "url: must be an http:// or https:// URL, not %q", in.URL))
	case u.User != nil:
		errs = append(errs, Errorf(EINVALID, "url: must not hold credentials (the signature authenticates deliveries)"))
	case UnreachableIP(net.ParseIP(u.Hostname())):
		errs = append(errs, Errorf(EINVALID, "url: %s is a link-local, multicast or unspecified address; notifications are not sent there", u.Hostname()))
	}
	for _, t := range in.Types {
		if !slices.Contains(EventTypes, t) {
			errs = append(errs, Errorf(EINVALID, "types: %q is not an event type (%s)", t, strings.Join(EventTypes, ", ")))
		}
	}
	if len(in.Description) > 1000 {
		errs = append(errs, Errorf(EINVALID, "description: longer than 1000 bytes"))
	}
	return errors.Join(errs...)
}

// UnreachableIP reports whether notifications are never sent to ip (nil:
// not an address): link-local ones (169.254.0.0/16 and fe80::/10, where
// the cloud's metadata service answers), multicast and unspecified ones.
// Loopback and private addresses are allowed: a receiver beside the
// server is common.
func UnreachableIP(ip net.IP) bool {
	return ip != nil && (ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified())
}

// Delivery states.
const (
	DeliveryPending   = "pending"   // to be sent (again)
	DeliveryDelivered = "delivered" // acknowledged with a 2xx
	DeliveryFailed    = "failed"    // given up; a redelivery sends it again
)

// Delivery is one notification for one endpoint and how sending it went.
type Delivery struct {
	Seq          int64         `json:"seq"`
	Notification *Notification `json:"notification"`
	EndpointID   string        `json:"endpoint"`
	Status       string        `json:"status"`
	Attempts     int           `json:"attempts"`
	NextAt       *time.Time    `json:"next_attempt,omitempty"` // pending: not before
	LastStatus   int           `json:"last_status,omitempty"`  // HTTP status of the last attempt
	LastError    string        `json:"last_error,omitempty"`
	DeliveredAt  *time.Time    `json:"delivered_at,omitempty"`
	CreatedAt    time.Time     `json:"created_at"`
	Log          []Attempt     `json:"attempts_log,omitempty"` // FindDelivery only

	// Payload is the body sent: the notification as stored, the same
	// bytes at every attempt.
	Payload []byte `json:"-"`
	// What the worker needs to send it (ClaimDeliveries only).
	URL    string `json:"-"`
	Secret string `json:"-"`
}

// Attempt is one try to deliver.
type Attempt struct {
	At       time.Time `json:"at"`
	Status   int       `json:"status,omitempty"` // HTTP status; 0 when no answer
	Error    string    `json:"error,omitempty"`
	Duration int64     `json:"duration_ms"`
}

// DeliveryFilter narrows a delivery list.
type DeliveryFilter struct {
	EndpointID, AccountID, Status string
}

// NotificationService stores endpoints and the outbox.
type NotificationService interface {
	CreateEndpoint(ctx context.Context, in *CreateEndpointInput) (*Endpoint, error)
	PageEndpoints(ctx context.Context, p Page) ([]*Endpoint, string, error)
	// DeleteEndpoint removes an endpoint; its pending deliveries are not
	// sent, its log stays.
	DeleteEndpoint(ctx context.Context, id string) error
	// ClaimDeliveries leases, until leaseUntil, up to limit pending
	// deliveries due at now, each the oldest pending one of its endpoint
	// and account (so each account's notifications go out in order).
	ClaimDeliveries(ctx context.Context, now, leaseUntil time.Time, limit int) ([]*Delivery, error)
	// RecordAttempt records a claimed delivery's attempt: delivered, or
	// pending again from next (or failed, when next is zero).
	RecordAttempt(ctx context.Context, seq int64, a Attempt, delivered bool, next time.Time) error
	PageDeliveries(ctx context.Context, f DeliveryFilter, p Page) ([]*Delivery, string, error)
	// FindDelivery returns a delivery with its log of attempts.
	FindDelivery(ctx context.Context, seq int64) (*Delivery, error)
	// Redeliver makes a delivery pending again, due at now: it is sent
	// again, with the same notification id, in its place in its account's
	// order.
	Redeliver(ctx context.Context, seq int64, now time.Time) (*Delivery, error)
}

// SecretPrefix starts every endpoint secret (the Standard Webhooks form:
// whsec_ and the base64 of the HMAC key's bytes).
const SecretPrefix = "whsec_"

// NewEndpoint makes an endpoint of in, with a new id and secret.
func NewEndpoint(in *CreateEndpointInput, now time.Time) (*Endpoint, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	var id [8]byte
	var key [24]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("cannot make an endpoint id: %w", err)
	}
	if _, err := rand.Read(key[:]); err != nil {
		return nil, fmt.Errorf("cannot make an endpoint secret: %w", err)
	}
	return &Endpoint{ID: "we_" + hex.EncodeToString(id[:]), URL: in.URL, AccountID: in.AccountID, Types: slices.Clone(in.Types),
		Description: in.Description, Secret: SecretPrefix + base64.StdEncoding.EncodeToString(key[:]), CreatedAt: now}, nil
}

// NewNotificationID returns a new notification id (evt_ and 24 hex
// digits): a delivery's webhook-id.
func NewNotificationID() string {
	var b [12]byte
	rand.Read(b[:])
	return "evt_" + hex.EncodeToString(b[:])
}
