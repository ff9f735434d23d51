package billing

import (
	"context"

	"github.com/livebill/livebill/rating"
)

// AccountInput returns what rating the account needs (catalog, zone,
// purchases, devices, refunds; no usage) and the account's revision,
// which every change of them bumps. Admission reads it.
func (s *Service) AccountInput(ctx context.Context, accountID string) (*rating.Input, int64, error) {
	a, err := s.load(ctx, accountID)
	if err != nil {
		return nil, 0, err
	}
	in := a.in
	return &in, a.rec.Revision, nil
}
