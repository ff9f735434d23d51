package http

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/livebill/livebill"
)

const apiDoc = "../docs/api.md"

var updateAPIDoc = flag.Bool("update-api-doc", false, "rewrite the route list of docs/api.md from the route table and the OpenAPI document")

// docTable returns the lines of the table after "<!-- test: label -->"
// in doc, and where it starts and ends (line indexes, end exclusive).
func docTable(t *testing.T, doc []string, label string) (rows []string, start, end int) {
	t.Helper()
	for i, l := range doc {
		if l == "<!-- test: "+label+" -->" {
			end = i + 1
			for end < len(doc) && strings.HasPrefix(doc[end], "|") {
				end++
			}
			return doc[i+1 : end], i + 1, end
		}
	}
	t.Fatalf("%s has no table labelled %s", apiDoc, label)
	return nil, 0, 0
}

// routeRows is the route list docs/api.md should show: one row per route
// of the table, in its order, with who may call it, its body limit, whether
// it honours Idempotency-Key and the OpenAPI document's summary.
func routeRows(t *testing.T) []string {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapi, &doc); err != nil {
		t.Fatal(err)
	}
	who := map[Access]string{Public: "none", Signed: "signature", Admin: "operator", Account: "account", AnyKey: "any key"}
	rows := []string{"| method | path | key | body | Idempotency-Key | what |", "|---|---|---|---|---|---|"}
	for _, rt := range (&Server{}).routes() {
		var op struct{ Summary string }
		if raw, ok := doc.Paths[rt.path][strings.ToLower(rt.method)]; ok {
			json.Unmarshal(raw, &op)
		}
		if op.Summary == "" {
			t.Errorf("openapi.json: %s %s has no summary", rt.method, rt.path)
		}
		body := ""
		if rt.method != "GET" {
			body = size(or64(rt.body, maxJSONBody))
		}
		idem := ""
		if rt.creates {
			idem = "yes"
		}
		rows = append(rows, fmt.Sprintf("| %s | `%s` | %s | %s | %s | %s |", rt.method, rt.path, who[rt.access], body, idem, op.Summary))
	}
	return rows
}

func or64(v, def int64) int64 {
	if v == 0 {
		return def
	}
	return v
}

// size writes a byte count as the documents do: 64 MiB, 64 KiB.
func size(n int64) string {
	if n%(1<<20) == 0 {
		return strconv.FormatInt(n>>20, 10) + " MiB"
	}
	return strconv.FormatInt(n>>10, 10) + " KiB"
}

// The route list of docs/api.md is the route table: every route, who may
// call it, its body limit, Idempotency-Key and the OpenAPI summary. Run
// with -update-api-doc to rewrite it after changing the routes.
func TestAPIDocRoutes(t *testing.T) {
	b, err := os.ReadFile(apiDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Split(string(b), "\n")
	got, start, end := docTable(t, doc, "routes")
	want := routeRows(t)
	if *updateAPIDoc {
		out := append(append(append([]string(nil), doc[:start]...), want...), doc[end:]...)
		if err := os.WriteFile(apiDoc, []byte(strings.Join(out, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:%d: the route list is not the server's (go test ./http -run TestAPIDocRoutes -update-api-doc rewrites it); it should be\n%s",
			apiDoc, start+1, strings.Join(want, "\n"))
	}
}

// The error codes of docs/api.md are the codes the OpenAPI document's
// Problem lists, each with the status the server answers it with.
func TestAPIDocErrorCodes(t *testing.T) {
	b, err := os.ReadFile(apiDoc)
	if err != nil {
		t.Fatal(err)
	}
	rows, start, _ := docTable(t, strings.Split(string(b), "\n"), "error-codes")
	var doc struct {
		Components struct {
			Schemas struct {
				Problem struct {
					Properties struct {
						Code struct {
							Enum []string `json:"enum"`
						} `json:"code"`
					} `json:"properties"`
				}
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openapi, &doc); err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| `([a-z_]+)` \\| ([0-9]{3}) \\|")
	documented := map[string]int{}
	for _, r := range rows {
		if m := row.FindStringSubmatch(r); m != nil {
			documented[m[1]], _ = strconv.Atoi(m[2])
		}
	}
	for _, code := range doc.Components.Schemas.Problem.Properties.Code.Enum {
		status := StatusOf(livebill.Errorf(code, "x"))
		if code == codeMethodNotAllowed {
			status = http.StatusMethodNotAllowed
		}
		if got, ok := documented[code]; !ok {
			t.Errorf("%s:%d: the error codes lack %s (%d)", apiDoc, start+1, code, status)
		} else if got != status {
			t.Errorf("%s:%d: %s is documented as %d; the server answers %d", apiDoc, start+1, code, got, status)
		}
		delete(documented, code)
	}
	for code := range documented {
		t.Errorf("%s:%d: the error codes list %s, which the OpenAPI document does not", apiDoc, start+1, code)
	}
}
