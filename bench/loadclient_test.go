package bench

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// callTimeout bounds one request and its answer: a server that hangs
// fails the benchmark instead of hanging it.
var callTimeout = 10 * time.Second

// loadClient sends requests encoded beforehand on one kept-alive HTTP/1.1
// connection and reads each answer with net/http's parser, as a load
// generator (wrk, vegeta) does: on two cores the client shares the CPU
// with the server it measures, and net/http's Client spends about four
// times the server's CPU on a small call (connection pool, headers,
// a goroutine per request).
type loadClient struct {
	conn net.Conn
	br   *bufio.Reader
}

func dialLoad(url string) (*loadClient, error) {
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		return nil, err
	}
	return &loadClient{conn: conn, br: bufio.NewReader(conn)}, nil
}

// encodeRequest returns the bytes of a POST of v as JSON to path.
func encodeRequest(path, key string, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		path, key, len(body), body), nil
}

// do sends one encoded request and decodes its 200 answer into out.
func (c *loadClient) do(req []byte, out any) error {
	if err := c.conn.SetDeadline(time.Now().Add(callTimeout)); err != nil {
		return err
	}
	if _, err := c.conn.Write(req); err != nil {
		return err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, body)
	}
	return json.Unmarshal(body, out)
}

func (c *loadClient) Close() error { return c.conn.Close() }

// A server that takes a request and never answers fails the call once
// callTimeout has passed, rather than hanging the benchmark.
func TestLoadClientTimesOut(t *testing.T) {
	defer func(d time.Duration) { callTimeout = d }(callTimeout)
	callTimeout = 50 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		io.Copy(io.Discard, conn) // reads, never writes
	}()
	c, err := dialLoad("http://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req, err := encodeRequest("/v1/authorize", "k", map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	var out any
	var ne net.Error
	if err := c.do(req, &out); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("a server that never answers: %v, want a timeout", err)
	}
}
