package sqlstore

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

// SchemaError is a database that records schema migrations the binary does
// not have: a newer livebill migrated it (or one built from another
// branch). Running on it could misread or corrupt what the newer schema
// holds, so the store refuses to open it.
type SchemaError struct {
	Found   int64    // the database's schema version (its highest migration)
	Known   int64    // the highest version this binary's migrations reach
	Unknown []string // the recorded migrations this binary does not have
}

func (e *SchemaError) Error() string {
	how := "newer than"
	if e.Found <= e.Known {
		how = "different from what"
	}
	return fmt.Sprintf("database schema version %d is %s this livebill knows (version %d; migrations it does not have: %s): upgrade livebill, or restore a backup taken before the upgrade",
		e.Found, how, e.Known, strings.Join(e.Unknown, ", "))
}

// Migration is a schema migration file, NNNN_name.sql.
type Migration struct {
	Version int64
	Name    string // the file name
}

// Migrations lists the migrations in dir of fsys in version order.
func Migrations(fsys fs.FS, dir string) ([]Migration, error) {
	ents, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	var ms []Migration
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", name)
		}
		ms = append(ms, Migration{Version: v, Name: name})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return nil, fmt.Errorf("migrations %s and %s have the same version", ms[i-1].Name, ms[i].Name)
		}
	}
	return ms, nil
}

// SchemaVersion is the version the migrations in dir of fsys bring a
// database to: the highest one's.
func SchemaVersion(fsys fs.FS, dir string) (int64, error) {
	ms, err := Migrations(fsys, dir)
	if err != nil || len(ms) == 0 {
		return 0, err
	}
	return ms[len(ms)-1].Version, nil
}

// CheckSchema returns the database's schema version (0 before any
// migration), or a *SchemaError when the database records a migration
// that dir of fsys does not hold under the same version and name. The
// database must have its schema_migrations table.
func (s *DB) CheckSchema(ctx context.Context, fsys fs.FS, dir string) (int64, error) {
	known, err := Migrations(fsys, dir)
	if err != nil {
		return 0, err
	}
	byVersion := make(map[int64]string, len(known))
	for _, m := range known {
		byVersion[m.Version] = m.Name
	}
	rows, err := s.db.QueryContext(ctx, `SELECT version, name FROM schema_migrations ORDER BY version`)
	if err != nil {
		return 0, fmt.Errorf("cannot read the schema version: %w", err)
	}
	defer rows.Close()
	var found int64
	var unknown []string
	for rows.Next() {
		var m Migration
		if err := rows.Scan(&m.Version, &m.Name); err != nil {
			return 0, fmt.Errorf("cannot read the schema version: %w", err)
		}
		found = max(found, m.Version)
		if byVersion[m.Version] != m.Name {
			unknown = append(unknown, m.Name)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("cannot read the schema version: %w", err)
	}
	if len(unknown) > 0 {
		var latest int64
		if len(known) > 0 {
			latest = known[len(known)-1].Version
		}
		return found, &SchemaError{Found: found, Known: latest, Unknown: unknown}
	}
	return found, nil
}
