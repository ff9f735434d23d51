package http_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
	lbhttp "github.com/livebill/livebill/http"
)

// listen starts a server with its own listener (the one `livebill serve`
// uses, with its timeouts) and returns its base URL.
func listen(t *testing.T, configure func(*lbhttp.Server)) string {
	s := api(t)
	if configure != nil {
		configure(s)
	}
	addr, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return "http://" + addr.String()
}

// filler is an endless body of spaces.
type filler struct{}

func (filler) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// sendAll writes a whole request with a body of n spaces before reading
// the answer, as many clients do (Python's http.client, curl without
// Expect), and fails the test if the server cuts the connection first.
func sendAll(t *testing.T, base, path, key string, n int64) (*http.Response, lbhttp.Problem) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	head := "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " + strconv.FormatInt(n, 10) + "\r\n"
	if key != "" {
		head += "Authorization: Bearer " + key + "\r\n"
	}
	if _, err := io.WriteString(conn, head+"\r\n"); err != nil {
		t.Fatal(err)
	}
	if sent, err := io.Copy(conn, io.LimitReader(filler{}, n)); err != nil {
		t.Fatalf("%s: the server cut the connection after %d of %d bytes: %v", path, sent, n, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s: no answer: %v", path, err)
	}
	defer resp.Body.Close()
	var p lbhttp.Problem
	json.NewDecoder(resp.Body).Decode(&p)
	return resp, p
}

// A body over a route's bound is answered 413 too_large, as a problem
// document the client actually receives: from Content-Length before
// anything is read (70 MiB to the 64 MiB event push, to a 4 MiB JSON
// route, without a key, where the 413 comes first), by a client that
// reads the answer as soon as it comes and by one that sends its whole
// body first; and, for a body of unknown length, when the bound is
// passed.
func TestOversizedBodiesGet413(t *testing.T) {
	base := listen(t, nil)
	const size = 70 << 20
	for _, c := range []struct {
		name, path, key string
		length          int64
	}{
		{"events, Content-Length", "/v1/events", testAdminKey, size},
		{"account, Content-Length", "/v1/accounts", testAdminKey, size},
		{"no key, Content-Length", "/v1/accounts", "", size},
		{"events, chunked", "/v1/events", testAdminKey, -1},
		{"quote, chunked", "/v1/quote", testAdminKey, -1},
	} {
		req, _ := http.NewRequest("POST", base+c.path, io.LimitReader(filler{}, size))
		req.ContentLength = c.length
		if c.key != "" {
			req.Header.Set("Authorization", "Bearer "+c.key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("%s: %v (the answer was lost)", c.name, err)
			continue
		}
		var p lbhttp.Problem
		err = json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge || p.Code != livebill.ETOOLARGE || resp.Header.Get("Content-Type") != lbhttp.ProblemType {
			t.Errorf("%s: %d %+v (%v), want 413 too_large", c.name, resp.StatusCode, p, err)
		}
		if c.length > 0 {
			resp, p := sendAll(t, base, c.path, c.key, c.length)
			if resp.StatusCode != http.StatusRequestEntityTooLarge || p.Code != livebill.ETOOLARGE {
				t.Errorf("%s, whole body sent first: %d %+v, want 413 too_large", c.name, resp.StatusCode, p)
			}
		}
	}
}

// A client that sends its request's header too slowly is cut off after
// ReadHeaderTimeout, and the server keeps serving others.
func TestSlowHeaderIsCutOff(t *testing.T) {
	base := listen(t, func(s *lbhttp.Server) { s.ReadHeaderTimeout = 200 * time.Millisecond })
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /v1/health HTTP/1.1\r\nHost: x\r\n"); err != nil { // never finished
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err = bufio.NewReader(conn).ReadString('\n')
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("the server still held the connection after 30 s (%v)", err)
	}
	resp, err := http.Get(base + "/v1/health")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("health: %v %v", resp, err)
	}
	resp.Body.Close()
}
