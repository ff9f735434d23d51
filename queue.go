package livebill

import (
	"context"
	"time"
)

// Scale-out through an event queue (package nats): ingestion validates a
// batch and hands it to an EventSink, which makes it durable in the queue
// instead of the store; workers, each owning some of the queue's
// partitions (PartitionStore), store the events through the store's
// idempotent path and settle the accounts of their partitions. These are
// the seams between the billing service, the queue and the store.

// EventSink makes a batch of validated events durable and tells what
// became of each, in batch order, as EventService.StoreEvents does: the
// store itself, or a queue whose workers store them. Nothing is
// acknowledged before it is durable.
type EventSink interface {
	StoreEvents(ctx context.Context, events []IncomingEvent) ([]IngestStatus, error)
}

// AccountIDs returns the accounts of a batch's events, each once, in
// the order they first appear.
func AccountIDs(events []IncomingEvent) []string {
	var ids []string
	seen := map[string]bool{}
	for _, e := range events {
		if !seen[e.AccountID] {
			seen[e.AccountID] = true
			ids = append(ids, e.AccountID)
		}
	}
	return ids
}

// EventChecker tells which events of a batch are already stored, without
// writing anything.
type EventChecker interface {
	// CheckEvents returns a status per event, in order: IngestDuplicate
	// when its (account, id) is stored with the same body, IngestRejected
	// with code ECONFLICT when it is stored with another body, and an
	// empty Status when it is not stored. Each event is judged against
	// the store alone, even an id repeated in the batch.
	CheckEvents(ctx context.Context, events []IncomingEvent) ([]IngestStatus, error)
}

// EventConflict is an event a queue worker could not store: its
// (account, id) was already stored with another body. Ingestion judges
// that before it acknowledges an event whenever it can; a conflict with
// an event still in the queue can only be found when the worker stores
// it, and is kept here, for GET /v1/accounts/{id}/rejections.
type EventConflict struct {
	AccountID string
	EventID   string
	Body      []byte // the version not stored
	Seen      time.Time
}

// EventConflictStore keeps the conflicts queue workers found.
type EventConflictStore interface {
	// PutEventConflicts records conflicts; one already recorded (same
	// account, id and body: a message delivered again) is kept once.
	PutEventConflicts(ctx context.Context, cs []EventConflict) error
	// ListEventConflicts returns an account's conflicts in the order seen.
	ListEventConflicts(ctx context.Context, accountID string) ([]EventConflict, error)
}

// PartitionLease says who owns one partition of a queue until when. The
// generation grows with every claim, so an owner that lost its lease
// (it expired and another worker claimed it) can no longer renew it.
type PartitionLease struct {
	Partition  int
	Owner      string // "" when free
	Generation int64
	Expires    time.Time
}

// PartitionStore keeps, in the shared database, the workers of a queue
// and the leases on its partitions. Times are the workers' clocks: a
// worker's heartbeat and its leases last until the given instant.
type PartitionStore interface {
	// JoinQueue records that worker is alive until until (a heartbeat).
	JoinQueue(ctx context.Context, queue, worker string, until time.Time) error
	// LeaveQueue forgets the worker and frees the partitions it owns.
	LeaveQueue(ctx context.Context, queue, worker string) error
	// ListWorkers returns the workers alive at now, sorted.
	ListWorkers(ctx context.Context, queue string, now time.Time) ([]string, error)
	// ListPartitions returns the leases recorded, by partition.
	ListPartitions(ctx context.Context, queue string) ([]PartitionLease, error)
	// ClaimPartition takes partition p for worker until until if it is
	// free or its lease expired by now, with a new generation; ok is
	// false when another worker holds it.
	ClaimPartition(ctx context.Context, queue string, p int, worker string, now, until time.Time) (gen int64, ok bool, err error)
	// RenewPartition extends the worker's lease of generation gen; ok is
	// false when the worker no longer holds it (lost).
	RenewPartition(ctx context.Context, queue string, p int, worker string, gen int64, until time.Time) (ok bool, err error)
	// ReleasePartition frees the worker's lease of generation gen.
	ReleasePartition(ctx context.Context, queue string, p int, worker string, gen int64) error
}

// QueueMonitor is told what an event queue does, for monitoring. Its
// methods are called concurrently and must not block.
type QueueMonitor interface {
	// Published reports one batch handed to the queue: its events and how
	// long until the queue acknowledged every one (err: it did not).
	Published(events int, took time.Duration, err error)
	// Consumed reports a batch a worker stored and acknowledged.
	Consumed(partition, events int, took time.Duration)
}

// PartitionLag is how far the workers are behind on one partition.
type PartitionLag struct {
	Partition int
	// Pending counts the messages not yet delivered to a worker;
	// Unacked those delivered and not yet stored and acknowledged.
	Pending, Unacked uint64
}
