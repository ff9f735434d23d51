package catalog

import (
	"testing"
)

func TestBuiltinsLoad(t *testing.T) {
	for _, name := range Builtin() {
		c, err := Load(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.Location() == nil {
			t.Fatalf("%s: no location", name)
		}
	}
}
