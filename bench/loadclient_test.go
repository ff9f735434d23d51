package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
)

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
