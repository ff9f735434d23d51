package notify

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/livebill/livebill"
)

// A delivery follows no redirect: the endpoint's 303 or 307 is its
// answer (an attempt that failed), and the address it names is never
// asked.
func TestClientFollowsNoRedirect(t *testing.T) {
	landed := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/r303":
			http.Redirect(w, r, "/landing", http.StatusSeeOther)
		case "/r307":
			http.Redirect(w, r, "/landing", http.StatusTemporaryRedirect)
		default:
			landed++
		}
	}))
	defer srv.Close()
	c := NewClient()
	for _, path := range []string{"/r303", "/r307"} {
		resp, err := c.Post(srv.URL+path, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusTemporaryRedirect {
			t.Errorf("%s: %d, want the redirect itself", path, resp.StatusCode)
		}
	}
	if landed != 0 {
		t.Errorf("the redirect's target was asked %d times", landed)
	}
}

// No connection is made to a link-local address (the cloud's metadata
// service), also when a name resolves to one; the refusal happens before
// connecting, so no network is needed.
func TestClientRefusesLinkLocal(t *testing.T) {
	for _, u := range []string{"http://169.254.169.254/latest/meta-data/", "http://[fe80::1]:8080/", "http://0.0.0.0:9/"} {
		_, err := NewClient().Post(u, "application/json", strings.NewReader("{}"))
		if err == nil || !strings.Contains(err.Error(), "notifications are not sent there") {
			t.Errorf("%s: %v, want refused", u, err)
		}
	}
}

// Registering such an endpoint is refused at once; loopback and private
// addresses and names are accepted.
func TestEndpointURLs(t *testing.T) {
	for u, ok := range map[string]bool{
		"http://169.254.169.254/latest/meta-data/": false,
		"http://[fe80::1]/":                        false,
		"http://224.0.0.1/":                        false,
		"http://127.0.0.1:9/hook":                  true,
		"http://10.0.0.5/hook":                     true,
		"https://hooks.example.com/livebill":       true,
	} {
		err := (&livebill.CreateEndpointInput{URL: u}).Validate()
		if (err == nil) != ok {
			t.Errorf("%s: %v, want accepted %v", u, err, ok)
		}
	}
}
