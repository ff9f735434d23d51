package nats

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"
)

// FetchMaxBytes is fetchMaxBytes, for the package's external tests.
const FetchMaxBytes = fetchMaxBytes

// Fetch takes a batch of partition p's messages as a worker does.
func (q *Queue) Fetch(ctx context.Context, p, size int) ([]jetstream.Msg, error) {
	return fetch(ctx, q.cons[p], size)
}

// Publish puts data on partition p's subject, as it is.
func (q *Queue) Publish(ctx context.Context, p int, data []byte) error {
	_, err := q.js.Publish(ctx, q.subject(p), data)
	return err
}
