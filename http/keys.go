package http

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/livebill/livebill"
)

// KeyJSON is an API key in responses. Key, the secret, is only in the
// answer of its creation.
type KeyJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name,omitempty"`
	Account   string `json:"account"` // "" for an operator key
	CreatedAt string `json:"created_at"`
	RevokedAt string `json:"revoked_at,omitempty"`
	Key       string `json:"key,omitempty"`
}

func keyJSON(k *livebill.Key) KeyJSON {
	j := KeyJSON{ID: k.ID, Name: k.Name, Account: k.AccountID, CreatedAt: k.CreatedAt.UTC().Format(time.RFC3339)}
	if k.Revoked() {
		j.RevokedAt = k.RevokedAt.UTC().Format(time.RFC3339)
	}
	return j
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request) {
	var in livebill.CreateKeyInput
	if err := readJSON(r, &in); err != nil {
		writeError(w, err)
		return
	}
	// a new id (64 random bits) equal to a stored one is a conflict:
	// another key is made
	for attempt := 1; ; attempt++ {
		k, secret, err := livebill.NewKey(&in, s.now())
		if err != nil {
			writeError(w, err)
			return
		}
		err = s.Store.CreateKey(r.Context(), k)
		if livebill.ErrorCode(err) == livebill.ECONFLICT && attempt < 3 {
			continue
		}
		if err != nil {
			writeError(w, err)
			return
		}
		j := keyJSON(k)
		if rp, ok := w.(replayer); ok {
			// the secret is stored nowhere, not even for a replay: a
			// replay tells the key's id (to revoke it if the secret was
			// lost), not the secret
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetIndent("", "  ")
			enc.Encode(j)
			rp.replayWith(b.Bytes())
		}
		j.Key = secret
		writeJSON(w, http.StatusCreated, j)
		return
	}
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) {
	servePage(w, r, "keys", s.Store.ListKeys, keyJSON)
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) {
	k, err := s.Store.RevokeKey(r.Context(), r.PathValue("id"))
	s.keys.forget(r.PathValue("id")) // refused from the next request on
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, keyJSON(k))
}
