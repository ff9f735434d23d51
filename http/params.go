package http

import (
	"net/http"
	"strconv"

	"github.com/livebill/livebill"
)

// boolParam reads an optional true/false query parameter.
func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, livebill.Errorf(livebill.EINVALID, "%s: must be true or false, not %q", name, v)
	}
	return b, nil
}
