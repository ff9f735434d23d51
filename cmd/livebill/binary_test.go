package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// The livebill binary, built once for the tests that run it as a process.
var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// livebillBinary builds the command (with version-control information
// when the source is a git checkout) and returns its path.
func livebillBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary and runs it")
	}
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "livebill-bin"); binErr != nil {
			return
		}
		// -buildvcs=auto overrides a GOFLAGS=-buildvcs=false
		build := exec.Command("go", "build", "-buildvcs=auto", "-o", filepath.Join(binDir, "livebill"), ".")
		build.Stderr = os.Stderr
		binErr = build.Run()
	})
	if binErr != nil {
		t.Fatalf("go build: %v", binErr)
	}
	return filepath.Join(binDir, "livebill")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}
