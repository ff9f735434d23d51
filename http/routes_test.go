package http

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The edge answers every error in JSON with the right status: 405 (with
// Allow) for a known path and a wrong method, 404 for an unknown path, 413
// for an oversized body, 400 for data after the JSON value.
func TestRouteErrors(t *testing.T) {
	h := (&Server{}).Handler()
	do := func(method, path, body string) (*httptest.ResponseRecorder, ErrorBody) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
		var b ErrorBody
		json.Unmarshal(rec.Body.Bytes(), &b)
		return rec, b
	}
	rec, b := do("DELETE", "/v1/accounts", "")
	if rec.Code != http.StatusMethodNotAllowed || b.Error.Code != "method_not_allowed" || !strings.Contains(rec.Header().Get("Allow"), "GET") {
		t.Errorf("DELETE /v1/accounts: %d %+v Allow=%q", rec.Code, b, rec.Header().Get("Allow"))
	}
	rec, b = do("GET", "/v1/nowhere", "")
	if rec.Code != http.StatusNotFound || b.Error.Code != "not_found" {
		t.Errorf("GET /v1/nowhere: %d %+v", rec.Code, b)
	}
	big := `{"id":"` + strings.Repeat("x", maxJSONBody) + `"}`
	rec, b = do("POST", "/v1/accounts", big)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d %+v", rec.Code, b)
	}
	rec, b = do("POST", "/v1/accounts", `{"id":"a","catalog":"trtc"} trailing`)
	if rec.Code != http.StatusBadRequest || !strings.Contains(b.Error.Message, "after the JSON value") {
		t.Errorf("trailing data: %d %+v", rec.Code, b)
	}
}
