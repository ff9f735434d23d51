// Package yamlerr says what is wrong with a YAML document (a catalog, a
// scenario) in the document's terms: the YAML decoder names the Go types
// it decodes into ("field colour not found in type catalog.Catalog"),
// which mean nothing to whoever wrote the file.
package yamlerr

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

var (
	unknownField = regexp.MustCompile(`^(line \d+: )?field (\S+) not found in type \S+$`)
	cannot       = regexp.MustCompile(`^(line \d+: )?cannot unmarshal !!(\w+)(?: ` + "`" + `(.*)` + "`" + `)? into (\S+)$`)
)

// Message returns err as a message about the document: each problem of a
// decoding error on its line, joined by "; ", with the field or the kind
// of value expected instead of a Go type. Other errors keep their text,
// without the decoder's "yaml: " prefix.
func Message(err error) string {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return strings.TrimPrefix(err.Error(), "yaml: ")
	}
	msgs := make([]string, len(te.Errors))
	for i, e := range te.Errors {
		msgs[i] = problem(e)
	}
	return strings.Join(msgs, "; ")
}

func problem(e string) string {
	if m := unknownField.FindStringSubmatch(e); m != nil {
		return fmt.Sprintf("%sunknown field %q", m[1], m[2])
	}
	if m := cannot.FindStringSubmatch(e); m != nil {
		got := kinds[m[2]]
		if got == "" {
			got = "a " + m[2]
		}
		if m[3] != "" && (m[2] == "str" || m[2] == "int" || m[2] == "float" || m[2] == "bool") {
			got += " " + m[3]
		}
		return fmt.Sprintf("%smust be %s, not %s", m[1], expected(m[4]), got)
	}
	return e
}

// kinds names the YAML tags the decoder reports.
var kinds = map[string]string{
	"str": "the string", "int": "the number", "float": "the number", "bool": "the value",
	"map": "a mapping", "seq": "a list", "null": "null", "binary": "binary data", "timestamp": "a time",
}

// expected says what the Go type decoded into takes.
func expected(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["):
		return "a mapping"
	case strings.Contains(goType, "int"):
		return "a whole number"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "bool":
		return "true or false"
	case goType == "string":
		return "a string"
	}
	return "a mapping" // a struct, or a pointer to one
}
