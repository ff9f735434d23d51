package livebill

import (
	"context"
	"time"
)

// Rollups and checkpoints: what settlement keeps of each settled day, so
// that the service reads usage of settled time from the store instead of
// replaying events, and resumes an account's live meter from its latest
// checkpoint instead of its history. They are written in the transaction
// that records the settlement (SettleWrite.Rollup).

// UsageWindow is one item's metered value in one 5-minute window of an
// app: ms for durations, µs for matchmaking time, a count otherwise.
type UsageWindow struct {
	App, Item string
	Window    int64 // Unix ms of the window's start
	Value     int64
}

// UsageDay is one item's metered value in one billing day of an app: the
// sum of its 5-minute windows starting that day (in the billing zone).
type UsageDay struct {
	App, Item string
	Day       int64 // Unix ms of the day's midnight in the billing zone
	Value     int64
}

// DayStart is the midnight in loc that starts the billing day of instant
// t (Unix ms): a 5-minute window belongs to the day its start is in.
func DayStart(t int64, loc *time.Location) int64 {
	y, m, d := time.UnixMilli(t).In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc).UnixMilli()
}

// SumDays sums usage windows by app, item and billing day in loc (days
// in the order of their first window).
func SumDays(ws []UsageWindow, loc *time.Location) []UsageDay {
	type key struct {
		app, item string
		day       int64
	}
	at := map[key]int{}
	var out []UsageDay
	var lo, hi, day int64 = 1, 0, 0 // the day of the last window, [lo, hi)
	for _, w := range ws {
		if w.Window < lo || w.Window >= hi {
			day = DayStart(w.Window, loc)
			lo, hi = day, time.UnixMilli(day).In(loc).AddDate(0, 0, 1).UnixMilli()
		}
		k := key{w.App, w.Item, day}
		if i, ok := at[k]; ok {
			out[i].Value += w.Value
			continue
		}
		at[k] = len(out)
		out = append(out, UsageDay{App: w.App, Item: w.Item, Day: day, Value: w.Value})
	}
	return out
}

// RelayPiece is a relay task's run inside the span of one rollup write
// (a relay running across days is kept in pieces; peaks do not change).
type RelayPiece struct {
	App, Room, Task, Destination string
	Kbps                         int64
	Start, End                   int64 // Unix ms
}

// FirstLogin is a user's first login of a month in an app (MAU).
type FirstLogin struct {
	App, Month, User string // Month: YYYY-MM in the billing zone
	First            int64  // Unix ms
}

// Checkpoint is an account's metering and deduction state at a midnight
// of its billing zone (At): the live meter's state (opaque, versioned by
// the meter) once every event before At was applied, the last event seq
// it had read, and the deduction's state there with the fingerprint of
// the rating inputs it holds for.
type Checkpoint struct {
	AccountID   string
	At          int64 // Unix ms
	Seq         int64
	Meter       []byte
	Fingerprint string
	Deduction   []byte
	MadeAt      time.Time
}

// RollupWrite replaces an account's rollups of [From, To) (Unix ms) with
// the given ones (usage windows and first logins in it, relay pieces
// starting in it) and stores the checkpoint, if any (replacing one at
// the same instant). Fresh says none is stored from From on yet: there
// is nothing to replace. From and To are midnights of the billing zone
// (or From is before any usage), so Days, the sums of Usage per billing
// day (SumDays), replace the daily rollups of whole days.
type RollupWrite struct {
	From, To   int64
	Fresh      bool
	Usage      []UsageWindow
	Days       []UsageDay
	Relays     []RelayPiece
	Logins     []FirstLogin
	Checkpoint *Checkpoint
	Location   *time.Location // the billing zone
}

// MonthStart reports whether instant at is the first midnight of a month
// in the zone of the write's checkpoint (checkpoints there are kept).
func (r *RollupWrite) MonthStart(at int64) bool {
	loc := r.Location
	if loc == nil {
		loc = time.UTC
	}
	return time.UnixMilli(at).In(loc).Day() == 1
}

// RollupStore reads rollups and checkpoints.
type RollupStore interface {
	// ListUsageRollups returns the account's usage windows in [from, to)
	// (in no particular order); items, when given, limits them.
	ListUsageRollups(ctx context.Context, accountID string, from, to int64, items []string) ([]UsageWindow, error)
	// ListUsageDays returns the account's daily usage of the days
	// starting in [from, to) (in no particular order), and the instant
	// complete from which days have their daily rows: the days starting
	// before it were settled before daily rollups were kept, and are read
	// from the 5-minute rollups.
	ListUsageDays(ctx context.Context, accountID string, from, to int64) ([]UsageDay, int64, error)
	// ListRelayRollups returns the relay pieces that start in [from, to).
	ListRelayRollups(ctx context.Context, accountID string, from, to int64) ([]RelayPiece, error)
	// ListLoginRollups returns the first logins in [from, to).
	ListLoginRollups(ctx context.Context, accountID string, from, to int64) ([]FirstLogin, error)
	// FindCheckpoint returns the account's newest checkpoint with At at
	// most at, with its Meter state only when meter is true; ENOTFOUND if
	// none.
	FindCheckpoint(ctx context.Context, accountID string, at int64, meter bool) (*Checkpoint, error)
	// EarliestAfter returns the earliest time of the account's events
	// stored after seq (false: none). A checkpoint made with the events up
	// to seq has seen them all if that is not before its instant.
	EarliestAfter(ctx context.Context, accountID string, seq int64) (int64, bool, error)
	// PruneCheckpoints deletes, of every account, the checkpoints more
	// than keepDays days before its newest one, but those at the first
	// midnight of a month.
	PruneCheckpoints(ctx context.Context, keepDays int) error
	// HasCheckpoints reports which of the accounts ids have a checkpoint.
	HasCheckpoints(ctx context.Context, ids []string) (map[string]bool, error)
	// FindCheckpointMade returns the account's newest checkpoint stored
	// (MadeAt) at or before instant made; ENOTFOUND if none.
	FindCheckpointMade(ctx context.Context, accountID string, made int64) (*Checkpoint, error)
	// PurgeEvents deletes the account's events before instant before and
	// its checkpoints before boundary (at or after before), and records
	// boundary as its purge boundary (AccountRecord.Purged); it returns
	// how many events it deleted, taken off the account's event count in
	// the same transaction (EventSpan). It deletes nothing (0, nil) when an
	// event stored after seq anchor (the anchor checkpoint's) is timed
	// before boundary: a late event the archive may lack and the anchor
	// does not account for.
	PurgeEvents(ctx context.Context, accountID string, before, boundary, anchor int64) (int64, error)
	// SetPurged sets the account's purge boundary (0: all its events are
	// stored again).
	SetPurged(ctx context.Context, accountID string, purged int64) error
}

// EventArchive keeps the events retention deletes: one account's events
// of one month (billing zone), in time order, as stored. Archive takes
// them a page at a time from next until it gives none (or an error), so
// that a month is never held whole in memory.
type EventArchive interface {
	Archive(accountID, month string, next func() ([]StoredEvent, error)) error
}
