package billing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/livebill/livebill"
)

// Rejections lists the account's stored events its live meter refused, up
// to the watermark: events the ingestion could not judge alone (a leave
// without a join, a stream of a user not in the room) are stored and
// acknowledged, and the meter leaves them out of every bill. This is
// where an operator finds them, and the events a queue worker could not
// store because their id was already stored with another body (ingestion
// through a queue acknowledges an event before it is stored; see
// livebill.EventConflict).
func (s *Service) Rejections(ctx context.Context, accountID string) (*livebill.Rejections, error) {
	a, err := s.load(ctx, accountID)
	if err != nil {
		return nil, err
	}
	sl := s.slot(accountID)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	w := s.cut()
	lm, err := s.live(ctx, sl, a, w)
	if err != nil {
		return nil, err
	}
	out := &livebill.Rejections{AccountID: accountID, Through: w, Events: []livebill.Rejection{}}
	for _, err := range lm.rejected { // bodies that no longer parse: the message names the event
		out.Events = append(out.Events, livebill.Rejection{Reason: err.Error()})
	}
	for _, err := range lm.m.Errors() {
		r := livebill.Rejection{Reason: err.Error()}
		var ee *livebill.EventError
		if errors.As(err, &ee) {
			r = livebill.Rejection{ID: ee.ID, Field: ee.Field, Reason: ee.Reason}
		}
		out.Events = append(out.Events, r)
	}
	if cs, ok := s.Store.(livebill.EventConflictStore); ok {
		conflicts, err := cs.ListEventConflicts(ctx, accountID)
		if err != nil {
			return nil, err
		}
		for _, c := range conflicts {
			out.Events = append(out.Events, livebill.Rejection{ID: c.EventID, Field: "id",
				Reason: fmt.Sprintf("already used by a different event: this version, taken from the event queue at %s, was not stored", c.Seen.UTC().Format(time.RFC3339))})
		}
	}
	return out, nil
}
