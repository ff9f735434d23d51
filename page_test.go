package livebill

import (
	"strings"
	"testing"
)

// A cursor gives back the keys it was made of, also keys longer than an
// id (a lease's pool joins a plan and a region, or a device: up to 513
// bytes); one made by hand with a NUL byte, or of another list, is not a
// cursor.
func TestParseCursor(t *testing.T) {
	pool := "industrial.operator@" + strings.Repeat("d", MaxIDLen)
	keys, err := ParseCursor(Cursor("leases", pool, "7"), "leases", 2)
	if err != nil || len(keys) != 2 || keys[0] != pool || keys[1] != "7" {
		t.Fatalf("a cursor of a %d-byte pool: %q %v", len(pool), keys, err)
	}
	for name, c := range map[string]string{
		"a NUL byte":      Cursor("leases", "a\x00", "7"),
		"a newline":       Cursor("leases", "a\n", "7"),
		"another list":    Cursor("apps", "a", "7"),
		"too few keys":    Cursor("leases", "a"),
		"not base64":      "!!",
		"not a JSON list": "e30",
	} {
		if _, err := ParseCursor(c, "leases", 2); ErrorCode(err) != EINVALID {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
}
