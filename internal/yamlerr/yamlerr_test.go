package yamlerr

import (
	"bytes"
	"regexp"
	"testing"

	"go.yaml.in/yaml/v3"
)

type item struct {
	ID    string `yaml:"id"`
	Per   int64  `yaml:"per"`
	Free  bool   `yaml:"free"`
	Ratio float64
}

type doc struct {
	Name  string  `yaml:"name"`
	Items []*item `yaml:"items"`
	Tags  map[string]string
}

// Decoding errors name the line and the field, or the kind of value
// expected and the one found, never a Go type.
func TestMessage(t *testing.T) {
	goNames := regexp.MustCompile(`yamlerr\.|\bint64\b|\bfloat64\b|\[\]\*|type |!!|unmarshal`)
	for _, c := range []struct{ in, want string }{
		{"name: a\ncolour: blue\n", `line 2: unknown field "colour"`},
		{"items:\n  - {id: a, prize: 3}\n", `line 2: unknown field "prize"`},
		{"items:\n  - {id: a, per: many}\n", "line 2: must be a whole number, not the string many"},
		{"items:\n  - {id: a, free: maybe}\n", "line 2: must be true or false, not the string maybe"},
		{"items: {a: 1}\n", "line 1: must be a list, not a mapping"},
		{"name: [a]\n", "line 1: must be a string, not a list"},
		{"items:\n  - 7\n", "line 2: must be a mapping, not the number 7"},
		{"name: a\ncolour: blue\nsize: 3\n", `line 2: unknown field "colour"; line 3: unknown field "size"`},
		{"name: [a\n", "line 1: did not find expected ',' or ']'"},
	} {
		var d doc
		dec := yaml.NewDecoder(bytes.NewReader([]byte(c.in)))
		dec.KnownFields(true)
		err := dec.Decode(&d)
		if err == nil {
			t.Errorf("%q: decoded", c.in)
			continue
		}
		got := Message(err)
		if got != c.want {
			t.Errorf("%q: %q, want %q", c.in, got, c.want)
		}
		if m := goNames.FindString(got); m != "" {
			t.Errorf("%q: %q names Go (%q)", c.in, got, m)
		}
	}
}
