package sqlstore

import (
	"fmt"
	"testing"

	"github.com/livebill/livebill"
)

// TestGroupEvents: rows of a batched event read, whatever order the
// database returns them in, end up by account in seq order, each row
// once.
func TestGroupEvents(t *testing.T) {
	accts := []string{"a", "b", "c"}
	ev := func(seq int64) livebill.StoredEvent { return livebill.StoredEvent{Seq: seq, ID: fmt.Sprint(seq)} }
	for _, c := range []struct {
		name string
		seqs []int64
		of   []int32
		want map[string][]int64 // by hand: each account's seqs, ascending
	}{
		{"one account after another", []int64{1, 2, 5, 3, 4}, []int32{0, 0, 0, 1, 1},
			map[string][]int64{"a": {1, 2, 5}, "b": {3, 4}}},
		{"interleaved", []int64{1, 3, 2, 5, 4, 6}, []int32{0, 1, 0, 2, 1, 0},
			map[string][]int64{"a": {1, 2, 6}, "b": {3, 4}, "c": {5}}},
		{"seq out of order within an account", []int64{5, 1, 3, 2, 4}, []int32{0, 0, 0, 1, 1},
			map[string][]int64{"a": {1, 3, 5}, "b": {2, 4}}},
		{"interleaved and out of order", []int64{6, 3, 1, 5, 4, 2}, []int32{0, 1, 0, 2, 1, 0},
			map[string][]int64{"a": {1, 2, 6}, "b": {3, 4}, "c": {5}}},
		{"none", nil, nil, map[string][]int64{}},
	} {
		evs := make([]livebill.StoredEvent, len(c.seqs))
		for i, s := range c.seqs {
			evs[i] = ev(s)
		}
		out := map[string][]livebill.StoredEvent{}
		groupEvents(accts, evs, c.of, out)
		if len(out) != len(c.want) {
			t.Fatalf("%s: %d accounts, want %d", c.name, len(out), len(c.want))
		}
		for a, ws := range c.want {
			got := out[a]
			if len(got) != len(ws) {
				t.Fatalf("%s: account %s: %d events, want %d", c.name, a, len(got), len(ws))
			}
			for i := range ws {
				if got[i].Seq != ws[i] || got[i].ID != fmt.Sprint(ws[i]) {
					t.Fatalf("%s: account %s: %+v, want seqs %v", c.name, a, got, ws)
				}
			}
			if cap(got) != len(got) {
				t.Fatalf("%s: account %s: capacity %d beyond its events (an append would overwrite the next account's)", c.name, a, cap(got))
			}
		}
	}
}
