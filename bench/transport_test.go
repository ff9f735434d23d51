package bench

import "net/http"

// http2Off is a plain keep-alive HTTP/1.1 transport with enough idle
// connections for the concurrent clients.
type http2Off struct{ t *http.Transport }

func (h *http2Off) RoundTrip(r *http.Request) (*http.Response, error) {
	if h.t == nil {
		h.t = &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	}
	return h.t.RoundTrip(r)
}
