package nats_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	lbnats "github.com/livebill/livebill/nats"
	"github.com/livebill/livebill/sqlstore/storetest"
)

// A run of large messages, more bytes than a worker takes at once, is
// taken in several fetches, each at most FetchMaxBytes besides its first
// message, and every message is delivered once, in order.
func TestFetchBytesBounded(t *testing.T) {
	ctx := context.Background()
	q, err := lbnats.Open(ctx, lbnats.Config{URL: storetest.StartNATS(t), Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	// 30 messages of 600 KiB (under the server's 1 MiB payload): 18 MiB,
	// more than two fetches' worth
	const n, size = 30, 600 << 10
	for i := range n {
		if err := q.Publish(ctx, 0, append([]byte(fmt.Sprintf("%02d", i)), bytes.Repeat([]byte{'x'}, size-2)...)); err != nil {
			t.Fatal(err)
		}
	}
	next, fetches := 0, 0
	for next < n {
		if fetches++; fetches > n {
			t.Fatalf("%d fetches and only %d of %d messages", fetches, next, n)
		}
		msgs, err := q.Fetch(ctx, 0, lbnats.DefaultBatch)
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for j, m := range msgs {
			if j > 0 {
				total += len(m.Data())
			}
			if got := string(m.Data()[:2]); got != fmt.Sprintf("%02d", next) {
				t.Fatalf("fetch %d: message %s, want %02d", fetches, got, next)
			}
			next++
			if err := m.Ack(); err != nil {
				t.Fatal(err)
			}
		}
		if total > lbnats.FetchMaxBytes {
			t.Fatalf("fetch %d took %d messages, %d bytes besides the first: more than %d", fetches, len(msgs), total, lbnats.FetchMaxBytes)
		}
	}
	// 8 MiB holds 13 more of 600 KiB: 14, 14 and 2
	if fetches < 3 {
		t.Fatalf("%d messages of %d bytes in %d fetches, want at least 3", n, size, fetches)
	}
}
