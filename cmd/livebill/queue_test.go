package main

import (
	"strings"
	"testing"
)

// serve's queue flags are checked before anything is opened: roles need a
// queue, roles and sizes are spelled as documented, a stream made with
// another partition count is not a flag error but the queue's (nats).
func TestServeQueueFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--roles", "ingest"}, "--roles needs --queue"},
		{[]string{"--queue", "nats://127.0.0.1:1", "--roles", "ingest,meter"}, `"meter" is not a role`},
		{[]string{"--queue", "nats://127.0.0.1:1", "--worker-lease-ttl", "10ms"}, "--worker-lease-ttl must be at least 1s"},
		{[]string{"--queue-max-bytes", "12XB"}, "must be a positive size in bytes, or KiB, MiB, GiB"},
	} {
		_, stderr, code := runCLI(t, append([]string{"serve", "--db", t.TempDir()}, c.args...)...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("serve %v: exit %d, %s; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
}

// A queue that cannot be reached stops the start (exit 1), naming it.
func TestServeQueueUnreachable(t *testing.T) {
	_, stderr, code := runCLI(t, "serve", "--db", t.TempDir(), "--addr", "127.0.0.1:0", "--queue", "nats://127.0.0.1:1")
	if code != 1 || !strings.Contains(stderr, "cannot open the event queue (nats://127.0.0.1:1)") {
		t.Fatalf("exit %d, %s", code, stderr)
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int64{"1048576": 1 << 20, "512MiB": 512 << 20, "4GiB": 4 << 30, "64KiB": 64 << 10} {
		var b byteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("%s: %d %v, want %d", in, b, err, want)
		}
	}
	b := byteSize(1 << 30)
	if b.String() != "1GiB" {
		t.Errorf("1 GiB prints as %s", b.String())
	}
	for _, bad := range []string{"0", "-1MiB", "1TB", "GiB", "9999999999999GiB"} {
		if err := new(byteSize).Set(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
