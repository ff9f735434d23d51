package livebill

import (
	"context"
	"time"
)

// Idempotency keys: a client that sends a request creating something with
// an Idempotency-Key header and sends it again (its answer was lost) gets
// the first answer again instead of a second creation. The first answer
// is stored under (principal, key) with a fingerprint of the request; the
// same key with another request is a conflict.

// IdempotencyTTL is how long an answer is kept for replay.
const IdempotencyTTL = 24 * time.Hour

// IdempotencyRecord is a request made with an Idempotency-Key and, once
// answered, its answer.
type IdempotencyRecord struct {
	Principal   string // who asked: the API key's id
	Key         string // the Idempotency-Key header
	Fingerprint string // hash of the method, path and body
	Status      int    // 0 while the first request is in progress
	ContentType string
	Body        []byte
	CreatedAt   time.Time
}

// IdempotencyStore keeps idempotency records.
type IdempotencyStore interface {
	// ReserveIdempotencyKey records rec as in progress unless (principal,
	// key) is already recorded, in which case it returns that record and
	// leaves it. A record made before expired, or one still in progress
	// made before stale (its request died), counts as not recorded.
	ReserveIdempotencyKey(ctx context.Context, rec *IdempotencyRecord, expired, stale time.Time) (*IdempotencyRecord, error)
	// CompleteIdempotencyKey stores the answer of a reserved request.
	CompleteIdempotencyKey(ctx context.Context, rec *IdempotencyRecord) error
	// ReleaseIdempotencyKey forgets a reserved request (it failed, and
	// may be tried again with the same key).
	ReleaseIdempotencyKey(ctx context.Context, principal, key string) error
	// PurgeIdempotencyKeys deletes the records made before t and returns
	// how many.
	PurgeIdempotencyKeys(ctx context.Context, before time.Time) (int64, error)
}
