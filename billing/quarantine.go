package billing

import (
	"context"
	"errors"
	"fmt"

	"github.com/livebill/livebill"
)

// Quarantine: an account whose stored data cannot be rated (stored by an
// older version, or anything that slipped through validation) must not
// stop the settlement of the others, nor be retried and logged on every
// tick. Its error is recorded with the account's revision
// (livebill.QuarantineStore); SettleAll skips it while the revision stays
// the same and tries it again once it changes (a purchase cancelled, a new
// event), releasing it when it settles. GET /v1/accounts/{id} shows the
// quarantine, GET /v1/quarantine lists them.

// dataError reports whether err says the account's data cannot be rated
// (a coded error: an unknown plan, a catalog, a rule of the plans), as
// opposed to the store failing, which is tried again at the next tick.
func dataError(err error) bool {
	switch livebill.ErrorCode(err) {
	case livebill.EINVALID, livebill.ENOTFOUND, livebill.ECONFLICT, livebill.EUNPUBLISHED:
		return true
	}
	return false
}

// judge records how settling the account (at revision rev; prev its
// quarantine, if any) ended: a data error quarantines it and is returned
// only when it is new (another error, or another revision), so the ticker
// logs each once; a success releases a quarantined account; other errors
// are returned as they are.
func (s *Service) judge(ctx context.Context, id string, rev int64, prev *livebill.Quarantine, err error) error {
	if err == nil {
		if prev != nil {
			return s.Store.DeleteQuarantine(ctx, id)
		}
		return nil
	}
	if !dataError(err) {
		return fmt.Errorf("account %s: %w", id, err)
	}
	if prev != nil && prev.Revision == rev && prev.Error == err.Error() {
		return nil
	}
	q := &livebill.Quarantine{AccountID: id, Revision: rev, Error: err.Error(), Since: s.Clock.Now()}
	if perr := s.Store.PutQuarantine(ctx, q); perr != nil {
		return errors.Join(fmt.Errorf("account %s: %w", id, err), perr)
	}
	return fmt.Errorf("account %s quarantined (settlement skips it until its data changes): %w", id, err)
}

// judgeOne is judge for Settle: the error returned is the account's,
// coded as a conflict (the account's state, not the request, is at fault)
// when its data cannot be rated.
func (s *Service) judgeOne(ctx context.Context, rec *livebill.AccountRecord, err error) error {
	prev, ferr := s.Store.FindQuarantine(ctx, rec.ID)
	if ferr != nil {
		return errors.Join(err, ferr)
	}
	jerr := s.judge(ctx, rec.ID, rec.Revision, prev, err)
	if err == nil || !dataError(err) {
		return jerr
	}
	return livebill.Errorf(livebill.ECONFLICT, "account %s cannot be settled, and is quarantined until its data changes: %v", rec.ID, err)
}
