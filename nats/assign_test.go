package nats

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

// Every partition has exactly one owner, shares differ by at most one,
// and every worker computing from the same list agrees (the function is
// deterministic).
func TestAssignBalanced(t *testing.T) {
	for _, n := range []int{1, 5, 12, 64} {
		for w := 1; w <= 7; w++ {
			workers := make([]string, w)
			for i := range workers {
				workers[i] = fmt.Sprintf("host%d-%d", i, 1000+i)
			}
			got := assign(workers, n)
			owner := map[int]string{}
			lo, hi := n, 0
			for _, wk := range workers {
				for _, p := range got[wk] {
					if o, ok := owner[p]; ok {
						t.Fatalf("n=%d w=%d: partition %d owned by %s and %s", n, w, p, o, wk)
					}
					owner[p] = wk
				}
				lo, hi = min(lo, len(got[wk])), max(hi, len(got[wk]))
			}
			if len(owner) != n {
				t.Fatalf("n=%d w=%d: %d partitions owned", n, w, len(owner))
			}
			// n=5, w=7: shares 1,1,1,1,1,0,0 — never more than ⌈n/w⌉
			if hi > (n+w-1)/w || (n >= w && hi-lo > 1) {
				t.Fatalf("n=%d w=%d: shares from %d to %d", n, w, lo, hi)
			}
			if again := assign(workers, n); fmt.Sprint(again) != fmt.Sprint(got) {
				t.Fatalf("n=%d w=%d: two computations differ", n, w)
			}
		}
	}
}

// A worker leaving moves its own partitions and few others: the ones of
// the workers left stay where they were, but for those the caps push
// (at most a share's worth per worker).
func TestAssignStable(t *testing.T) {
	const n = 12
	three := []string{"a-1", "b-2", "c-3"}
	before := assign(three, n)
	after := assign([]string{"a-1", "c-3"}, n)
	moved := 0
	for _, wk := range []string{"a-1", "c-3"} {
		for _, p := range before[wk] {
			found := false
			for _, q := range after[wk] {
				found = found || p == q
			}
			if !found {
				moved++
			}
		}
	}
	// 4 of b-2's partitions must move; of the 8 others, the test allows
	// 2 to move (the caps, 6 each, can push some)
	if moved > 2 {
		t.Fatalf("%d partitions of the remaining workers moved: before %v, after %v", moved, before, after)
	}
}

// Accounts spread over the partitions: 10,000 ids over 12 partitions,
// each within 20 % of the mean (833).
func TestPartitionOfSpread(t *testing.T) {
	counts := make([]int, 12)
	for i := 0; i < 10_000; i++ {
		counts[PartitionOf(fmt.Sprintf("acct-%d", i), 12)]++
	}
	sort.Ints(counts)
	if counts[0] < 666 || counts[11] > 1000 {
		t.Fatalf("partition sizes %v", counts)
	}
	// stable across versions (a stream's subjects depend on it): FNV-1a
	// 32 of "acct-1" is 2,353,143,644, which is 8 modulo 12
	if p := PartitionOf("acct-1", 12); p != 8 {
		t.Fatalf("acct-1 is in partition %d, want 8", p)
	}
}

// The message id is stable and tells accounts apart for one event id.
func TestMsgID(t *testing.T) {
	// stable across versions (the stream deduplicates by it): "lb-" and
	// the first 16 bytes of SHA-256("a\x00e1") in hex
	if id := msgID("a", "e1"); id != "lb-0d6808f66fbfe86c36cd8680d6b41b74" {
		t.Fatalf("msgID(a, e1) = %s", id)
	}
	if msgID("a", "e1") == msgID("b", "e1") || msgID("a", "be1") == msgID("ab", "e1") {
		t.Fatal("message ids are not stable, or collide across accounts")
	}
}

func TestConfigValidate(t *testing.T) {
	c := Config{URL: "nats://127.0.0.1:4222"}
	c.defaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	bad := Config{Stream: "a.b", Partitions: 2000, MaxBytes: 10, MaxAge: time.Second, Duplicates: time.Minute, Replicas: 9, AckWait: time.Millisecond}
	err := bad.Validate()
	for _, want := range []string{"queue: missing", "queue stream", "queue partitions", "max bytes", "max age", "queue replicas", "ack wait"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate(%+v) = %v, want it to name %q", bad, err, want)
		}
	}
}
