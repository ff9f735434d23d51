package http

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
)

// The edge answers every error as a problem document with the right
// status: 405 (with Allow) for a known path and a wrong method, 404 for an
// unknown path, 413 for an oversized body, 400 for data after the JSON
// value.
func TestRouteErrors(t *testing.T) {
	h := (&Server{AdminKey: "test-operator-key-0123456789abcdef0123"}).Handler()
	do := func(method, path, body string) (*httptest.ResponseRecorder, Problem) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer test-operator-key-0123456789abcdef0123")
		h.ServeHTTP(rec, req)
		var p Problem
		json.Unmarshal(rec.Body.Bytes(), &p)
		if ct := rec.Header().Get("Content-Type"); rec.Code >= 400 && ct != ProblemType {
			t.Errorf("%s %s: Content-Type %q, want %s", method, path, ct, ProblemType)
		}
		if rec.Code >= 400 && (p.Status != rec.Code || p.Title != http.StatusText(rec.Code) || p.Type != "about:blank" || p.Detail == "") {
			t.Errorf("%s %s: problem %+v does not match status %d", method, path, p, rec.Code)
		}
		return rec, p
	}
	rec, p := do("DELETE", "/v1/accounts", "")
	if rec.Code != http.StatusMethodNotAllowed || p.Code != "method_not_allowed" || !strings.Contains(rec.Header().Get("Allow"), "GET") {
		t.Errorf("DELETE /v1/accounts: %d %+v Allow=%q", rec.Code, p, rec.Header().Get("Allow"))
	}
	rec, p = do("GET", "/v1/nowhere", "")
	if rec.Code != http.StatusNotFound || p.Code != "not_found" {
		t.Errorf("GET /v1/nowhere: %d %+v", rec.Code, p)
	}
	big := `{"id":"` + strings.Repeat("x", maxJSONBody) + `"}`
	rec, p = do("POST", "/v1/accounts", big)
	if rec.Code != http.StatusRequestEntityTooLarge || p.Code != livebill.ETOOLARGE {
		t.Errorf("oversized body: %d %+v", rec.Code, p)
	}
	rec, p = do("POST", "/v1/accounts", `{"id":"a","catalog":"trtc"} trailing`)
	if rec.Code != http.StatusBadRequest || !strings.Contains(p.Detail, "after the JSON value") {
		t.Errorf("trailing data: %d %+v", rec.Code, p)
	}
}

// Request bodies that do not decode are answered with the field and the
// JSON type expected, never a Go type or package name.
func TestBodyErrorsNameFieldsNotGoTypes(t *testing.T) {
	goNames := regexp.MustCompile(`Go |livebill\.|http\.|Input|struct|int64|\[\]|\bint\b|string field|unmarshal`)
	for _, c := range []struct {
		body string
		into any
		want string
	}{
		{`{"id": 5}`, &livebill.CreateAccountInput{}, `field "id": must be a string, not a number`},
		{`{"count": "two"}`, &livebill.CreatePurchaseInput{}, `field "count": must be a whole number, not a string`},
		{`{"count": 1.5}`, &livebill.CreatePurchaseInput{}, `field "count": must be a whole number, not the number 1.5`},
		{`{"auto_renew": "yes"}`, &livebill.CreatePurchaseInput{}, `field "auto_renew": must be true or false, not a string`},
		{`{"id": "d", "cameras": [{"width": "wide"}]}`, &DeviceJSON{}, `field "cameras.width": must be a whole number, not a string`},
		{`{"id": "d", "cameras": {}}`, &DeviceJSON{}, `field "cameras": must be an array, not an object`},
		{`[1, 2]`, &livebill.CreateAccountInput{}, `must be an object, not an array`},
		{`{"id": "a", "colour": "red"}`, &livebill.CreateAccountInput{}, `unknown field "colour"`},
		{`{"id": "a",}`, &livebill.CreateAccountInput{}, `not valid JSON at byte`},
		{`{"id": "a"`, &livebill.CreateAccountInput{}, `the JSON ends early`},
		{``, &livebill.CreateAccountInput{}, `empty`},
	} {
		err := readJSON(httptest.NewRequest("POST", "/", strings.NewReader(c.body)), c.into)
		if livebill.ErrorCode(err) != livebill.EINVALID || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want invalid with %q", c.body, err, c.want)
			continue
		}
		if m := goNames.FindString(err.Error()); m != "" {
			t.Errorf("%s: %q names Go (%q)", c.body, err, m)
		}
	}
}

// Every route the server's mux knows has a declared access level: each
// path of the OpenAPI document and of the route table is tried with every
// method, and whatever pattern the mux matches must be in the table. The
// table and the document list the same operations, and the document asks
// for the bearer key exactly where the table does.
func TestEveryRouteHasAnAccessLevel(t *testing.T) {
	s := &Server{}
	mux, access := s.mux()
	var doc struct {
		Security []map[string][]string `json:"security"`
		Paths    map[string]map[string]struct {
			Security *[]map[string][]string `json:"security"`
		} `json:"paths"`
		Components struct {
			SecuritySchemes map[string]struct {
				Type, Scheme string
			} `json:"securitySchemes"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openapi, &doc); err != nil {
		t.Fatal(err)
	}
	if sc := doc.Components.SecuritySchemes["bearer"]; sc.Type != "http" || sc.Scheme != "bearer" {
		t.Errorf("openapi.json: securitySchemes.bearer = %+v, want http bearer", sc)
	}
	if len(doc.Security) != 1 || doc.Security[0]["bearer"] == nil {
		t.Errorf("openapi.json: the global security is %v, want [{bearer: []}]", doc.Security)
	}
	paths := map[string]bool{}
	for p := range doc.Paths {
		paths[p] = true
	}
	table := map[string]Route{}
	for _, rt := range s.Routes() {
		table[rt.Method+" "+rt.Path] = rt
		paths[rt.Path] = true
		switch rt.Access {
		case Public, Signed, Admin, AnyKey:
		case Account:
			if !strings.Contains(rt.Path, "{id}") {
				t.Errorf("%s %s: account access needs an {id} in the path", rt.Method, rt.Path)
			}
		default:
			t.Errorf("%s %s: access %q is not a level", rt.Method, rt.Path, rt.Access)
		}
		if rt.Creates && rt.Method != "POST" {
			t.Errorf("%s %s: only a POST creates", rt.Method, rt.Path)
		}
		op, ok := doc.Paths[rt.Path][strings.ToLower(rt.Method)]
		if !ok {
			t.Errorf("%s %s is not in openapi.json", rt.Method, rt.Path)
			continue
		}
		open := op.Security != nil && len(*op.Security) == 0
		if want := rt.Access == Public || rt.Access == Signed; open != want {
			t.Errorf("openapi.json: %s %s: without a key %v, the table says %s", rt.Method, rt.Path, open, rt.Access)
		}
	}
	for p, ops := range doc.Paths {
		for m := range ops {
			if _, ok := table[strings.ToUpper(m)+" "+p]; !ok && m != "parameters" {
				t.Errorf("openapi.json documents %s %s, which the route table does not have", strings.ToUpper(m), p)
			}
		}
	}
	fill := strings.NewReplacer("{id}", "acct", "{app}", "app", "{month}", "2024-10")
	tried := 0
	for p := range paths {
		for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
			_, pattern := mux.Handler(httptest.NewRequest(m, fill.Replace(p), nil))
			if pattern == "" {
				continue
			}
			tried++
			if access[pattern] == "" {
				t.Errorf("%s %s: the mux serves %q, which has no access level", m, p, pattern)
			}
		}
	}
	if tried < len(table) {
		t.Errorf("only %d routes matched, the table has %d", tried, len(table))
	}
}

// A route whose access level is not one of the levels is refused (500),
// never served.
func TestUnknownAccessFailsClosed(t *testing.T) {
	served := false
	h := (&Server{}).guard(route{method: "GET", path: "/x", access: "", handle: func(http.ResponseWriter, *http.Request) { served = true }})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	if served || rec.Code != http.StatusInternalServerError {
		t.Fatalf("served %v, status %d", served, rec.Code)
	}
}

// Listen gives the server every timeout, WriteTimeout included, so no
// client can hold a connection open for good; zero fields take the
// defaults.
func TestListenSetsTimeouts(t *testing.T) {
	s := &Server{ReadHeaderTimeout: time.Second}
	if _, err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer s.listener.Close()
	got := []time.Duration{s.server.ReadHeaderTimeout, s.server.ReadTimeout, s.server.WriteTimeout, s.server.IdleTimeout}
	want := []time.Duration{time.Second, DefaultReadTimeout, DefaultWriteTimeout, DefaultIdleTimeout}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("timeouts %v, want %v", got, want)
			break
		}
	}
	if DefaultWriteTimeout <= DefaultReadTimeout {
		t.Errorf("the write timeout %v counts from the end of the header, so it must be longer than reading a body (%v)", DefaultWriteTimeout, DefaultReadTimeout)
	}
}

// The console, when the server has one, gets every path outside /v1 and
// nothing under it: the API's route table stays the only authority on
// /v1. Without one, / is the API's 404 problem.
func TestConsoleMount(t *testing.T) {
	var got []string
	con := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = append(got, r.URL.Path) })
	s := &Server{AdminKey: "test-operator-key-0123456789abcdef0123", Console: con}
	h := s.Handler()
	for _, p := range []string{"/", "/accounts/1", "/static/console.css", "/v1x", "/sign-in"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	for _, p := range []string{"/v1", "/v1/", "/v1/health", "/v1/accounts", "/v1/nowhere"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	if strings.Join(got, " ") != "/ /accounts/1 /static/console.css /v1x /sign-in" {
		t.Errorf("the console got %v", got)
	}
	rec := httptest.NewRecorder()
	(&Server{}).Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusNotFound || rec.Header().Get("Content-Type") != ProblemType {
		t.Errorf("GET / without a console: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
}

// Every operation of the OpenAPI document has an operationId (unique), a
// summary and a description; its request body's schema says which fields
// are required; and it lists the errors the route table implies, each a
// problem document whose description starts with the problem's code: 401
// and 500 where a key is needed, 403 on operator routes, 404 where an
// account key may name another account, 409 where Idempotency-Key is
// honoured, 400 and 413 where a body is read, 400 where the path has
// parameters.
func TestOpenAPIOperations(t *testing.T) {
	type schema struct {
		Ref        string                     `json:"$ref"`
		Type       string                     `json:"type"`
		Properties map[string]json.RawMessage `json:"properties"`
		Required   *[]string                  `json:"required"`
	}
	type response struct {
		Description string `json:"description"`
		Content     map[string]struct {
			Schema schema `json:"schema"`
		} `json:"content"`
	}
	type operation struct {
		OperationID string              `json:"operationId"`
		Summary     string              `json:"summary"`
		Description string              `json:"description"`
		Responses   map[string]response `json:"responses"`
		RequestBody *struct {
			Content map[string]struct {
				Schema schema `json:"schema"`
			} `json:"content"`
		} `json:"requestBody"`
	}
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]schema `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openapi, &doc); err != nil {
		t.Fatal(err)
	}
	var problem struct {
		Properties struct {
			Code struct {
				Enum []string `json:"enum"`
			} `json:"code"`
		} `json:"properties"`
	}
	if b, err := json.Marshal(doc.Components.Schemas["Problem"].Properties); err != nil || json.Unmarshal([]byte(`{"properties":`+string(b)+`}`), &problem) != nil {
		t.Fatal("openapi.json: no Problem schema")
	}
	codes := map[string]bool{}
	for _, c := range problem.Properties.Code.Enum {
		codes[c] = true
	}
	for _, c := range []string{livebill.EINVALID, livebill.EUNAUTHORIZED, livebill.EFORBIDDEN, livebill.ENOTFOUND, livebill.ECONFLICT,
		livebill.ETOOLARGE, livebill.EUNPUBLISHED, livebill.EINTERNAL, livebill.EUNAVAILABLE, codeMethodNotAllowed} {
		if !codes[c] {
			t.Errorf("openapi.json: the Problem schema's codes lack %s", c)
		}
	}
	resolve := func(s schema) schema {
		if name, ok := strings.CutPrefix(s.Ref, "#/components/schemas/"); ok {
			return doc.Components.Schemas[name]
		}
		return s
	}
	ids := map[string]string{}
	opID := regexp.MustCompile(`^[a-z][A-Za-z0-9]+$`)
	for _, rt := range (&Server{}).Routes() {
		name := rt.Method + " " + rt.Path
		raw, ok := doc.Paths[rt.Path][strings.ToLower(rt.Method)]
		if !ok {
			t.Errorf("%s is not in openapi.json", name)
			continue
		}
		var op operation
		if err := json.Unmarshal(raw, &op); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !opID.MatchString(op.OperationID) {
			t.Errorf("%s: operationId %q is not a camelCase name", name, op.OperationID)
		} else if other, dup := ids[op.OperationID]; dup {
			t.Errorf("%s: operationId %q is also %s's", name, op.OperationID, other)
		}
		ids[op.OperationID] = name
		if strings.TrimSpace(op.Summary) == "" || len(strings.TrimSpace(op.Description)) < 20 {
			t.Errorf("%s: summary %q, description %q: both are needed", name, op.Summary, op.Description)
		}
		need := map[int]string{}
		if rt.Access != Public && rt.Access != Signed {
			need[401], need[500] = "it needs a key", "it reads the store"
		}
		if rt.Access == Signed {
			need[401], need[500] = "its signature is checked", "it writes the store"
		}
		if rt.Access == Admin {
			need[403] = "it is an operator route"
		}
		if rt.Access == Account {
			need[404] = "an account key may name another account"
		}
		if rt.Creates {
			need[409] = "it honours Idempotency-Key"
		}
		if strings.Contains(rt.Path, "{") {
			need[400] = "a path segment may not be an id (checkPath)"
		}
		if op.RequestBody != nil {
			need[400], need[413] = "it reads a body", "its body is bounded"
			for ct, c := range op.RequestBody.Content {
				s := resolve(c.Schema)
				if s.Type != "object" {
					continue
				}
				if s.Required == nil {
					t.Errorf("%s: the %s request schema does not say which fields are required", name, ct)
					continue
				}
				for _, f := range *s.Required {
					if _, ok := s.Properties[f]; !ok {
						t.Errorf("%s: required field %q is not a property of the request", name, f)
					}
				}
			}
		}
		for status, why := range need {
			if _, ok := op.Responses[strconv.Itoa(status)]; !ok {
				t.Errorf("%s: openapi.json does not list %d, which it can answer (%s)", name, status, why)
			}
		}
		for st, resp := range op.Responses {
			status, err := strconv.Atoi(st)
			if err != nil || status < 400 {
				continue
			}
			c, ok := resp.Content[ProblemType]
			if !ok || c.Schema.Ref != "#/components/schemas/Problem" {
				t.Errorf("%s: %d is not a problem document", name, status)
			}
			code, _, _ := strings.Cut(resp.Description, ":")
			if !codes[code] {
				t.Errorf("%s: %d: the description %q does not start with the problem's code", name, status, resp.Description)
				continue
			}
			// the code's status, but for the webhooks' 422 (invalid events)
			if want := StatusOf(livebill.Errorf(code, "")); want != status && !(rt.Access == Signed && status == http.StatusUnprocessableEntity) {
				t.Errorf("%s: %d names code %s, which is answered with %d", name, status, code, want)
			}
		}
	}
}
