package billing

import (
	"context"
	"testing"

	"github.com/livebill/livebill"
)

// Scenario documents are quoted one at a time: a request that finds
// another being quoted waits, and gives up when its context ends.
func TestQuoteScenarioOneAtATime(t *testing.T) {
	// A alone in a room for 10 minutes: 10 audio minutes of usage (the
	// free pack covers them).
	doc := []byte(`catalog: trtc
period: {from: 2024-10-01, to: 2024-10-02}
events:
  - {time: "2024-10-01T10:00:00+08:00", type: room.join, app: a, room: r, user: A}
  - {time: "2024-10-01T10:10:00+08:00", type: room.leave, app: a, room: r, user: A}
`)
	quoteGate <- struct{}{} // another quote is being computed
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // its client went away while waiting
	if _, err := QuoteScenario(ctx, doc, "t", false); livebill.ErrorCode(err) != livebill.EUNAVAILABLE {
		t.Errorf("waiting behind another quote, context ended: %v, want unavailable", err)
	}
	<-quoteGate // the other quote is done
	q, err := QuoteScenario(context.Background(), doc, "t", false)
	if err != nil || len(q.Usage) == 0 || q.Usage[0].Quantity != "10" {
		t.Fatalf("quote: %+v %v", q, err)
	}
	if len(quoteGate) != 0 {
		t.Error("the quote did not let the next one in")
	}
}
