package postgres_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livebill/livebill/billing"
	lbhttp "github.com/livebill/livebill/http"
	"github.com/livebill/livebill/postgres"
	"github.com/livebill/livebill/sqlstore/storetest"
)

// tcpProxy forwards loopback connections to PostgreSQL, and can hold
// every byte (a database that stops answering) or go away (one that
// cannot be reached) and come back.
type tcpProxy struct {
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
	held   chan struct{} // non-nil while bytes are held; closed to release them
}

func newProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{target: target}
	p.listen(t, "127.0.0.1:0")
	t.Cleanup(p.down)
	return p
}

func (p *tcpProxy) listen(t *testing.T, addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go p.pipe(c, s)
			go p.pipe(s, c)
		}
	}()
}

// pipe copies from src to dst, waiting while bytes are held.
func (p *tcpProxy) pipe(src, dst net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		p.mu.Lock()
		held := p.held
		p.mu.Unlock()
		if held != nil {
			<-held
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (p *tcpProxy) hold() {
	p.mu.Lock()
	p.held = make(chan struct{})
	p.mu.Unlock()
}

func (p *tcpProxy) release() {
	p.mu.Lock()
	close(p.held)
	p.held = nil
	p.mu.Unlock()
}

// down closes the listener and every connection: the port refuses.
func (p *tcpProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// GET /v1/ready on a PostgreSQL store through a proxy: 200 while the
// database answers; 503 saying it did not answer in time while the proxy
// holds every byte; 503 saying it cannot be reached while the port
// refuses; 200 again once it is back, without restarting the server.
func TestReadyFollowsTheDatabase(t *testing.T) {
	u, err := url.Parse(dsn(t))
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, u.Host)
	u.Host = p.addr
	store, err := postgres.Open(context.Background(), u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	s, base, _ := storetest.NewAPI(t, store, billing.New(store, nil))
	s.ReadyTimeout = 500 * time.Millisecond
	ready := func(when string, want int, detail string) {
		t.Helper()
		resp, err := http.Get(base + "/v1/ready")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var pr lbhttp.Problem
		json.Unmarshal(b, &pr)
		if resp.StatusCode != want || !strings.Contains(pr.Detail, detail) {
			t.Errorf("%s: %d %s, want %d %q", when, resp.StatusCode, b, want, detail)
		}
	}
	ready("the database answers", http.StatusOK, "")
	p.hold()
	start := time.Now()
	ready("every byte held", http.StatusServiceUnavailable, "did not answer within 500ms")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the ping took %s, bounded by 500ms", took)
	}
	p.release()
	p.down()
	ready("the port refuses", http.StatusServiceUnavailable, "cannot be reached")
	p.listen(t, p.addr)
	ready("the database is back", http.StatusOK, "")
}
