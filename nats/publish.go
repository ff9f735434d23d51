package nats

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/livebill/livebill"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// maxBatchEvents is the largest batch the API takes (http.MaxBatchEvents):
// the publisher keeps a few batches' acknowledgements pending at once.
const maxBatchEvents = 10_000

// publishTimeout bounds the wait for one message's acknowledgement.
const publishTimeout = 10 * time.Second

// RetryAfter is what a batch refused because the queue is full or
// unreachable tells the client to wait.
const RetryAfter = 5 * time.Second

// Publisher is ingestion's side of the queue: a livebill.EventSink that
// makes validated events durable in the stream instead of the store.
//
// Each event's status is what storing it would have said:
//   - stored already (Checker, the shared store): duplicate with the same
//     body, rejected (conflict) with another;
//   - an id repeated in the batch: judged against its first occurrence;
//   - otherwise published. A new message is accepted. A message the
//     stream deduplicated (its Nats-Msg-Id, from (account, event id), was
//     published within the deduplication window) is compared with the
//     message the stream holds under that id — duplicate or conflict —
//     or, if a worker has already stored and acknowledged that one, with
//     the store.
//
// Only an event whose id was published with another body longer ago than
// the deduplication window and not yet stored (the workers are that far
// behind) is accepted here and found in conflict by the worker, which
// records it (livebill.EventConflict) for the account's rejections.
type Publisher struct {
	Queue *Queue
	// Checker judges events against the store before they are queued;
	// nil: none is (duplicates of stored events are then queued again and
	// answered accepted; the worker stores them as duplicates).
	Checker livebill.EventChecker
	// Clock times the batches for the Monitor (nil: the system clock).
	Clock livebill.Clock
	// Monitor, when set, is told of each batch published.
	Monitor livebill.QueueMonitor
}

var _ livebill.EventSink = (*Publisher)(nil)

// msgID is the message id of an account's event: stable, so that the
// same event published twice is deduplicated by the stream.
func msgID(accountID, eventID string) string {
	h := sha256.New()
	h.Write([]byte(accountID))
	h.Write([]byte{0})
	h.Write([]byte(eventID))
	return "lb-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// queueError is a batch the queue did not take: the client is told to
// send it again after RetryAfter (503 unavailable, Retry-After).
type queueError struct {
	err *livebill.Error
}

func (e *queueError) Error() string             { return e.err.Error() }
func (e *queueError) Unwrap() error             { return e.err }
func (e *queueError) RetryAfter() time.Duration { return RetryAfter }
func unavailable(format string, args ...any) error {
	return &queueError{livebill.Errorf(livebill.EUNAVAILABLE, format, args...)}
}

// streamFull reports whether err is the stream refusing a message for its
// limits (JetStream's "maximum bytes exceeded", code 10077).
func streamFull(err error) bool {
	var ae *jetstream.APIError
	return errors.As(err, &ae) && ae.ErrorCode == 10077
}

// StoreEvents publishes the events and answers once the stream has
// acknowledged every one; see Publisher. A batch the stream does not take
// whole is an error: its events acknowledged so far are queued, and
// sending the batch again is safe (they are then duplicates).
func (p *Publisher) StoreEvents(ctx context.Context, events []livebill.IncomingEvent) ([]livebill.IngestStatus, error) {
	clock := p.Clock
	if clock == nil {
		clock = livebill.SystemClock{}
	}
	start := clock.Now()
	out, err := p.publish(ctx, events)
	if p.Monitor != nil {
		p.Monitor.Published(len(events), clock.Now().Sub(start), err)
	}
	return out, err
}

func (p *Publisher) publish(ctx context.Context, events []livebill.IncomingEvent) ([]livebill.IngestStatus, error) {
	out := make([]livebill.IngestStatus, len(events))
	for i, in := range events {
		out[i] = livebill.IngestStatus{Index: i, Line: in.Event.Line, ID: in.Event.ID}
	}
	if len(events) == 0 {
		return out, nil
	}
	if p.Checker != nil {
		st, err := p.Checker.CheckEvents(ctx, events)
		if err != nil {
			return nil, err
		}
		for i := range st {
			if st[i].Status != "" {
				out[i] = st[i]
			}
		}
	}
	type key struct{ acct, id string }
	first := map[key]int{}
	type sent struct {
		i   int
		fut jetstream.PubAckFuture
	}
	var pending []sent
	limit := p.Queue.nc.MaxPayload()
	for i, in := range events {
		if out[i].Status != "" {
			continue
		}
		k := key{in.AccountID, in.Event.ID}
		if f, ok := first[k]; ok {
			out[i].JudgeRepeat(events[f].Body, in.Body)
			continue
		}
		first[k] = i
		m := p.message(&in)
		// JetStream's headers set here, not by publish options, so that
		// the size checked is the size sent: an event over the server's
		// max payload is refused alone, not left to fail its batch's
		// publish again at every retry
		m.Header.Set(jetstream.MsgIDHeader, msgID(in.AccountID, in.Event.ID))
		m.Header.Set(jetstream.ExpectedStreamHeader, p.Queue.cfg.Stream)
		if size := int64(m.Size() - len(m.Subject) - len(m.Reply)); size > limit {
			out[i].Status, out[i].Code = livebill.IngestRejected, livebill.ETOOLARGE
			out[i].Error = fmt.Sprintf("event %q: %d bytes, more than the event queue takes (%d)", in.Event.ID, len(m.Data), limit)
			continue
		}
		fut, err := p.Queue.js.PublishMsgAsync(m, jetstream.WithStallWait(publishTimeout))
		if err != nil {
			return nil, unavailable("the event queue did not take the batch (%v): send it again later (events already queued are then answered as duplicates)", err)
		}
		pending = append(pending, sent{i, fut})
	}
	var dups []int
	seqs := map[int]uint64{}
	var failed error
	for _, s := range pending {
		select {
		case ack := <-s.fut.Ok():
			if ack.Duplicate {
				dups = append(dups, s.i)
				seqs[s.i] = ack.Sequence
				continue
			}
			out[s.i].Status = livebill.IngestAccepted
		case err := <-s.fut.Err():
			if failed == nil {
				failed = err
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if failed != nil {
		if streamFull(failed) {
			return nil, unavailable("the event queue is full (the workers are behind; its limit is %d bytes): send the batch again later (events already queued are then answered as duplicates)", p.Queue.cfg.MaxBytes)
		}
		return nil, unavailable("the event queue did not acknowledge the batch (%v): send it again later (events already queued are then answered as duplicates)", failed)
	}
	if err := p.judgeDuplicates(ctx, events, dups, seqs, out); err != nil {
		return nil, err
	}
	return out, nil
}

// message is the stream message of an event.
func (p *Publisher) message(in *livebill.IncomingEvent) *natsgo.Msg {
	m := natsgo.NewMsg(p.Queue.subject(p.Queue.PartitionOf(in.AccountID)))
	m.Data = in.Body
	m.Header.Set(headerAccount, in.AccountID)
	if in.Day != "" {
		m.Header.Set(headerDay, in.Day)
	}
	if in.Import != "" {
		m.Header.Set(headerImport, in.Import)
	}
	return m
}

// judgeDuplicates judges the events the stream deduplicated (dups, with
// the sequence of the message it holds under their id): against that
// message, or, once a worker stored and acknowledged it (the work queue
// then dropped it), against the store.
func (p *Publisher) judgeDuplicates(ctx context.Context, events []livebill.IncomingEvent, dups []int, seqs map[int]uint64, out []livebill.IngestStatus) error {
	var gone []int
	for _, i := range dups {
		m, err := p.Queue.stream.GetMsg(ctx, seqs[i])
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			gone = append(gone, i)
			continue
		}
		if err != nil {
			return unavailable("the event queue cannot show the message of event %q (%v): send the batch again later", events[i].Event.ID, err)
		}
		if m.Header.Get(headerAccount) != events[i].AccountID {
			// another account's event under the same message id: cannot
			// happen short of a hash collision; say so rather than guess
			return fmt.Errorf("event %q of account %q: the queue holds another account's event under its message id", events[i].Event.ID, events[i].AccountID)
		}
		out[i].JudgeRepeat(m.Data, events[i].Body)
	}
	if len(gone) == 0 {
		return nil
	}
	var st []livebill.IngestStatus
	if p.Checker != nil {
		batch := make([]livebill.IncomingEvent, len(gone))
		for j, i := range gone {
			batch[j] = events[i]
		}
		var err error
		if st, err = p.Checker.CheckEvents(ctx, batch); err != nil {
			return err
		}
	}
	for j, i := range gone {
		if st != nil && st[j].Status != "" {
			st[j].Index, st[j].Line = i, events[i].Event.Line
			out[i] = st[j]
			continue
		}
		// taken from the queue and not stored (its account was reclaimed
		// meanwhile): nothing to compare with
		out[i].Status, out[i].Code = livebill.IngestRejected, livebill.ECONFLICT
		out[i].Error = fmt.Sprintf("event id %q was sent moments ago and not stored (see the account's rejections)", events[i].Event.ID)
	}
	return nil
}
