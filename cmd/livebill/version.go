package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/livebill/livebill/postgres"
	"github.com/livebill/livebill/sqlite"
	"github.com/livebill/livebill/sqlstore"
)

const versionSynopsis = `livebill version

Prints the module version, the version-control revision and time the
binary was built from (when it was built in a git checkout), the Go
version and platform, and the database schema version this binary
migrates to (a newer schema is refused at start). Same as 'livebill --version'.`

func init() {
	register("version", command{synopsis: "print the version, build revision, Go version and schema version", order: 90, run: cmdVersion})
}

func cmdVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", versionSynopsis, stderr)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		fs.Usage()
		return &exitError{code: 2, err: fmt.Errorf("version takes no arguments, got %q", pos)}
	}
	bi, _ := debug.ReadBuildInfo()
	sv, err := schemaVersions()
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, versionText(bi, sv))
	return nil
}

// schemaVersions names the schema version the embedded migrations reach,
// per backend when they differ.
func schemaVersions() (string, error) {
	lite, err := sqlstore.SchemaVersion(sqlite.Migrations(), "migrations")
	if err != nil {
		return "", err
	}
	pg, err := sqlstore.SchemaVersion(postgres.Migrations(), "migrations")
	if err != nil {
		return "", err
	}
	if lite == pg {
		return fmt.Sprint(lite), nil
	}
	return fmt.Sprintf("%d (SQLite), %d (PostgreSQL)", lite, pg), nil
}

// versionText is what 'livebill version' prints for the build bi (nil
// when the binary carries none).
func versionText(bi *debug.BuildInfo, schema string) string {
	version, goVersion := "(unknown)", runtime.Version()
	vcs := map[string]string{}
	if bi != nil {
		version, goVersion = bi.Main.Version, bi.GoVersion
		for _, s := range bi.Settings {
			if k, ok := strings.CutPrefix(s.Key, "vcs."); ok {
				vcs[k] = s.Value
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "livebill %s\n", version)
	if rev := vcs["revision"]; rev != "" {
		var at []string
		if t := vcs["time"]; t != "" {
			at = append(at, t)
		}
		if vcs["modified"] == "true" {
			at = append(at, "with local changes")
		}
		fmt.Fprintf(&b, "revision %s", rev)
		if len(at) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(at, ", "))
		}
		b.WriteString("\n")
	} else {
		b.WriteString("revision unknown (built without version control information)\n")
	}
	fmt.Fprintf(&b, "%s %s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&b, "schema version %s\n", schema)
	return b.String()
}
