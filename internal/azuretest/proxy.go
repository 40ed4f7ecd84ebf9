package azuretest

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// Proxy is a forward proxy on loopback, like a corporate one: it tunnels
// CONNECT requests to loopback targets and counts every request it gets
// per target (the "host:port" asked for), so tests can show what went
// through it and what did not. Requests other than CONNECT are counted and
// answered 502, so traffic proxied the other way fails loudly.
type Proxy struct {
	// URL is the proxy's address, as HTTPS_PROXY would name it.
	URL    *url.URL
	counts counters

	mu    sync.Mutex
	conns []net.Conn
}

// StartProxy starts a Proxy for the rest of the test.
func StartProxy(tb testing.TB) *Proxy {
	p := &Proxy{counts: counters{n: map[string]int64{}}}
	srv := httptest.NewServer(http.HandlerFunc(p.serve))
	tb.Cleanup(func() {
		srv.Close()
		// Tunnels are hijacked connections, which the server does not close.
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
	})
	p.URL, _ = url.Parse(srv.URL)
	return p
}

// Count returns how many requests asked for target ("host:port").
func (p *Proxy) Count(target string) int64 { return p.counts.get(target) }

// Total returns how many requests the proxy has received.
func (p *Proxy) Total() int64 { return p.counts.get("") }

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.counts.add("")
	p.counts.add(r.Host)
	if r.Method != http.MethodConnect {
		http.Error(w, "this proxy only tunnels", http.StatusBadGateway)
		return
	}
	host, _, err := net.SplitHostPort(r.Host)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		http.Error(w, "this proxy only reaches loopback addresses", http.StatusForbidden)
		return
	}
	target, err := net.DialTimeout("tcp", r.Host, 5*time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	client, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		target.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, client, target)
	p.mu.Unlock()
	io.WriteString(client, "HTTP/1.1 200 Connection Established\r\n\r\n")
	go func() {
		io.Copy(target, buf)
		target.Close()
	}()
	io.Copy(client, target)
	client.Close()
}
