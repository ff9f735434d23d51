package sqlstore

import (
	"strings"
	"testing"
	"testing/fstest"
)

// Two migrations with one version (branches that each added the next
// migration, merged) are refused: a database would record only one of them
// and the other would never run.
func TestMigrationsSameVersion(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0001_init.sql":  {Data: []byte("CREATE TABLE a (x INT);")},
		"m/0002_keys.sql":  {Data: []byte("CREATE TABLE b (x INT);")},
		"m/0002_meter.sql": {Data: []byte("CREATE TABLE c (x INT);")},
	}
	_, err := Migrations(fsys, "m")
	if err == nil || !strings.Contains(err.Error(), "0002_keys.sql and 0002_meter.sql have the same version") {
		t.Fatalf("err = %v", err)
	}
	delete(fsys, "m/0002_meter.sql")
	v, err := SchemaVersion(fsys, "m")
	if err != nil || v != 2 {
		t.Fatalf("SchemaVersion = %d, %v; want 2", v, err)
	}
}
