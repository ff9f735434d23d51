package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/livebill/livebill/sqlstore/storetest"
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

// serveProc is a 'livebill serve' process.
type serveProc struct {
	cmd    *exec.Cmd
	url    string
	key    string        // the operator key it printed at a first start
	stderr *lockedBuffer // everything it logged
	exited chan struct{} // closed when it has exited (cmd.ProcessState set)
}

// lockedBuffer is a buffer written by one goroutine and read by another.
type lockedBuffer = storetest.SyncBuffer

// startServe runs bin serve on a loopback port with args (and env added
// to the test's environment, without $LIVEBILL_ADMIN_KEY unless env sets
// it) and returns once it listens.
func startServe(t *testing.T, bin string, env []string, args ...string) *serveProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(append(os.Environ(), "LIVEBILL_ADMIN_KEY="), env...)
	return startProc(t, cmd)
}

// startProc starts cmd, which runs a server, in a process group of its
// own and returns once the server listens.
func startProc(t *testing.T, cmd *exec.Cmd) *serveProc {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &serveProc{cmd: cmd, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	listening := regexp.MustCompile(`listening on (http://\S+)`)
	printed := regexp.MustCompile(`^\s+(lbk_[0-9a-f]{16}_[A-Za-z0-9_-]{43})\s*$`)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			fmt.Fprintln(p.stderr, sc.Text())
			if m := printed.FindStringSubmatch(sc.Text()); m != nil {
				p.key = m[1] // read after urls delivers
			}
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
		cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); <-p.exited })
	select {
	case p.url = <-urls:
		return p
	case <-p.exited:
		t.Fatalf("serve exited: %v\n%s", cmd.ProcessState, p.stderr)
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not start\n%s", p.stderr)
	}
	return nil
}
