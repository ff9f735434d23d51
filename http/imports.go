package http

import (
	"net/http"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
)

// importRoutes are bulk imports: POST /v1/imports starts one, its batches
// go to POST /v1/imports/{id}/events (the body, limits and answer of POST
// /v1/events), POST /v1/imports/{id}/finish ends it. While it is open the
// accounts its batches sent events for are not settled; each batch renews
// its expiry, so a client that crashed holds them only for the import
// timeout. Any key may start one; an account key's import is its own (it
// sends that account's events only, and other keys of other accounts get
// 404 for it).
func (s *Server) importRoutes() []route {
	return []route{
		{method: "POST", path: "/v1/imports", access: AnyKey, creates: true, handle: s.createImport},
		{method: "GET", path: "/v1/imports/{id}", access: AnyKey, handle: s.getImport},
		{method: "POST", path: "/v1/imports/{id}/events", access: AnyKey, body: MaxBody, handle: s.postImportEvents},
		{method: "POST", path: "/v1/imports/{id}/finish", access: AnyKey, handle: s.finishImport},
	}
}

// createImport starts an import; the body, optional, may name it:
// {"name": "history.ndjson"}.
func (s *Server) createImport(w http.ResponseWriter, r *http.Request) {
	var in livebill.CreateImportInput
	if r.ContentLength != 0 {
		if err := readJSON(r, &in); err != nil {
			writeError(w, err)
			return
		}
	}
	p, _ := principalOf(r)
	in.Account = p.Account
	im, err := s.Billing.CreateImport(r.Context(), in)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, im)
}

// importOf returns the path's import, if the request's key may use it:
// an operator key any, an account key the imports it started (another
// account's import is not found, as one that does not exist).
func (s *Server) importOf(r *http.Request) (*livebill.Import, error) {
	im, err := s.Billing.FindImport(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if p, _ := principalOf(r); !p.Admin() && im.Account != p.Account {
		return nil, livebill.Errorf(livebill.ENOTFOUND, "import %q not found", r.PathValue("id"))
	}
	return im, nil
}

func (s *Server) getImport(w http.ResponseWriter, r *http.Request) {
	im, err := s.importOf(r)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, im)
}

// postImportEvents ingests a batch as POST /v1/events does, under the
// import: the batch is refused whole (404, 409) if the import does not
// exist or is finished.
func (s *Server) postImportEvents(w http.ResponseWriter, r *http.Request) {
	im, err := s.importOf(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if im.State == livebill.ImportFinished {
		writeError(w, livebill.Errorf(livebill.ECONFLICT, "import %q is finished: start a new import to send more events", im.ID))
		return
	}
	s.postEvents(w, r.WithContext(billing.WithImport(r.Context(), im.ID)))
}

func (s *Server) finishImport(w http.ResponseWriter, r *http.Request) {
	if _, err := s.importOf(r); err != nil {
		writeError(w, err)
		return
	}
	im, err := s.Billing.FinishImport(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, im)
}
