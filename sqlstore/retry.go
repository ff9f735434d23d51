package sqlstore

import (
	"errors"
	"strings"
)

// sqlState is implemented by PostgreSQL driver errors (pgconn.PgError).
type sqlState interface{ SQLState() string }

func stateOf(err error) string {
	var s sqlState
	if errors.As(err, &s) {
		return s.SQLState()
	}
	return ""
}

// transient reports a PostgreSQL deadlock or serialization failure: the
// transaction was rolled back and may simply be run again.
func transient(err error) bool {
	switch stateOf(err) {
	case "40P01", "40001":
		return true
	}
	return false
}

// uniqueViolation reports an insert refused by a unique constraint, on
// PostgreSQL (23505) or SQLite.
func uniqueViolation(err error) bool {
	return err != nil && (stateOf(err) == "23505" || strings.Contains(err.Error(), "UNIQUE constraint failed"))
}

// maxAttempts bounds retries of a transaction that lost a race.
const maxAttempts = 5

// retried runs a transaction, again while PostgreSQL rolls it back as a
// deadlock or serialization failure, at most maxAttempts times.
func retried[T any](tx func() (T, error)) (T, error) {
	for attempt := 1; ; attempt++ {
		v, err := tx()
		if err == nil || attempt == maxAttempts || !transient(err) {
			return v, err
		}
	}
}
