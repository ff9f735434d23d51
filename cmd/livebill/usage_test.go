package main

import "testing"

func TestFixed(t *testing.T) {
	for _, c := range []struct {
		v      int64
		places int
		want   string
	}{{3600000, 3, "3600"}, {1500, 3, "1.5"}, {1, 3, "0.001"}, {0, 3, "0"}, {-1500, 3, "-1.5"}, {1234567, 6, "1.234567"}} {
		if got := fixed(c.v, c.places); got != c.want {
			t.Errorf("fixed(%d, %d) = %s, want %s", c.v, c.places, got, c.want)
		}
	}
}
