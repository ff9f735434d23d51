package livebill

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
)

// Lists are read a page at a time: at most Limit items after a cursor, in
// the list's fixed order, and the cursor of the next page ("" at the end).
// A cursor is opaque to clients: it names the last item of a page and its
// list, so items made while a client pages never shift a page.

// Page sizes.
const (
	DefaultPageLimit = 100
	MaxPageLimit     = 1000
)

// Page asks for one page of a list.
type Page struct {
	Limit int    // 1..MaxPageLimit; 0 means DefaultPageLimit
	After string // the Next of the previous page; "" for the first page
}

// Size is the number of items the page holds at most.
func (p Page) Size() int {
	if p.Limit <= 0 {
		return DefaultPageLimit
	}
	return min(p.Limit, MaxPageLimit)
}

// ParsePage reads the limit and after query parameters.
func ParsePage(limit, after string) (Page, error) {
	p := Page{After: after}
	if limit != "" {
		n, err := strconv.Atoi(limit)
		if err != nil || n < 1 || n > MaxPageLimit {
			return p, Errorf(EINVALID, "limit: must be a whole number from 1 to %d, not %q", MaxPageLimit, limit)
		}
		p.Limit = n
	}
	return p, nil
}

// Cursor encodes the position after an item of list: the values of the
// item's sort key.
func Cursor(list string, key ...string) string {
	b, _ := json.Marshal(append([]string{list}, key...))
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParseCursor decodes a cursor of list with n key values; "" is the
// start of the list (nil, nil).
func ParseCursor(cursor, list string, n int) ([]string, error) {
	if cursor == "" {
		return nil, nil
	}
	var v []string
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err == nil {
		err = json.Unmarshal(b, &v)
	}
	// a cursor made by hand: no key holds a NUL byte or a control character
	badKey := func(k string) bool { return CharsProblem(k) != "" }
	if err != nil || len(v) != n+1 || v[0] != list || slices.ContainsFunc(v[1:], badKey) {
		return nil, Errorf(EINVALID, "after: not a cursor of this list (use the next value a page of %s gave)", list)
	}
	return v[1:], nil
}

// PageService pages through the stored lists the API shows, in the
// order of the full lists of the other services (accounts, apps and
// devices by id, quarantines by account id; the rest in the order made).
type PageService interface {
	PageAccounts(ctx context.Context, p Page) ([]*AccountRecord, string, error)
	PageApps(ctx context.Context, accountID string, p Page) ([]*App, string, error)
	PageDevices(ctx context.Context, accountID string, p Page) ([]*Device, string, error)
	PagePurchases(ctx context.Context, accountID string, p Page) ([]*StoredPurchase, string, error)
	PageRefunds(ctx context.Context, accountID string, p Page) ([]*StoredRefund, string, error)
	PageTopUps(ctx context.Context, accountID string, p Page) ([]*TopUp, string, error)
	PageBills(ctx context.Context, accountID string, p Page) ([]IssuedBill, string, error)
	PageQuarantines(ctx context.Context, p Page) ([]*Quarantine, string, error)
}
