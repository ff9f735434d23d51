package meter

import (
	"fmt"
	"strings"
	"testing"
)

// TestIDTable: a room's ids are found whether or not they arrive as the
// string they were stored with, across the table's change from a slice to
// a map and back.
func TestIDTable(t *testing.T) {
	var tb idTable
	idents := map[string]uid{}
	check := func(stage string) {
		t.Helper()
		if tb.len() != len(idents) {
			t.Fatalf("%s: len %d, want %d", stage, tb.len(), len(idents))
		}
		for id, want := range idents {
			// a copy: same bytes at another address, as an id the
			// decoder did not intern arrives
			if u, ok := tb.get(strings.Clone(id)); !ok || u != want {
				t.Fatalf("%s: get(%q) = %p, %v; want %p", stage, id, u, ok, want)
			}
			if u, ok := tb.get(id); !ok || u != want {
				t.Fatalf("%s: get of the stored string %q = %p, %v; want %p", stage, id, u, ok, want)
			}
		}
		if _, ok := tb.get("nobody"); ok {
			t.Fatalf("%s: found an id never added", stage)
		}
		seen := map[string]bool{}
		for id, u := range tb.all() {
			if seen[id] || idents[id] != u {
				t.Fatalf("%s: all yields %q twice or with the wrong ident", stage, id)
			}
			seen[id] = true
		}
		if len(seen) != len(idents) {
			t.Fatalf("%s: all yields %d ids, want %d", stage, len(seen), len(idents))
		}
	}
	add := func(n int) {
		for i := len(idents); i < n; i++ {
			id := fmt.Sprintf("user-%03d", i) // same length: bytes decide
			u := &ident{id: id}
			tb.add(id, u)
			idents[id] = u
		}
	}

	add(maxListedIDs)
	if tb.byID != nil {
		t.Fatalf("%d ids are a map, want a slice", maxListedIDs)
	}
	check("slice")

	add(maxListedIDs + 1)
	if tb.list != nil || tb.byID == nil {
		t.Fatalf("%d ids are not a map", maxListedIDs+1)
	}
	check("map")

	// Keep the ids of even number: 25 of 49 stay, more than half of
	// maxListedIDs (24), so the table stays a map.
	even := func(u uid) bool { return (u.id[len(u.id)-1]-'0')%2 == 0 }
	tb.keep(even)
	for id := range idents {
		if !even(idents[id]) {
			delete(idents, id)
		}
	}
	if tb.byID == nil {
		t.Fatalf("%d ids after a sweep are a slice, want a map", len(idents))
	}
	check("map after a sweep")

	// Keep those below 20 of the 25: 10 (0, 2, …, 18), a slice again.
	below20 := func(u uid) bool { return u.id < "user-020" }
	tb.keep(below20)
	for id := range idents {
		if !below20(idents[id]) {
			delete(idents, id)
		}
	}
	if len(idents) != 10 || tb.byID != nil {
		t.Fatalf("%d ids (want 10) after the second sweep, map %v (want a slice)", len(idents), tb.byID != nil)
	}
	check("slice after a sweep")
}
