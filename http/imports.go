package http

import (
	"net/http"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
)

// importRoutes registers bulk imports: POST /v1/imports starts one, its
// batches go to POST /v1/imports/{id}/events (the body and answer of POST
// /v1/events), POST /v1/imports/{id}/finish ends it. While it is open the
// accounts its batches sent events for are not settled; each batch renews
// its expiry, so a client that crashed holds them only for the import
// timeout.
func (s *Server) importRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/imports", s.createImport)
	mux.HandleFunc("GET /v1/imports/{id}", s.getImport)
	mux.HandleFunc("POST /v1/imports/{id}/events", s.postImportEvents)
	mux.HandleFunc("POST /v1/imports/{id}/finish", s.finishImport)
}

func (s *Server) createImport(w http.ResponseWriter, r *http.Request) {
	im, err := s.Billing.CreateImport(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, im)
}

func (s *Server) getImport(w http.ResponseWriter, r *http.Request) {
	im, err := s.Billing.FindImport(r.Context(), r.PathValue("id"))
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
	im, err := s.Billing.FindImport(r.Context(), r.PathValue("id"))
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
	im, err := s.Billing.FinishImport(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, im)
}
