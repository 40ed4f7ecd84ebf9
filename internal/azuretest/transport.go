package azuretest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// counters counts requests per named endpoint.
type counters struct {
	mu sync.Mutex
	n  map[string]int64
}

func (c *counters) add(name string) {
	c.mu.Lock()
	c.n[name]++
	c.mu.Unlock()
}

func (c *counters) get(name string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[name]
}

// imdsHost is the link-local address of the Azure Instance Metadata Service.
const imdsHost = "169.254.169.254"

// newHTTPClient returns the client every test hands to the SDK: it trusts
// the harness certificate, dials any *.localhost name to 127.0.0.1 (Go does
// not resolve them), sends IMDS traffic to the fake identity endpoint, and
// refuses every other non-loopback destination, so no test can reach a real
// Azure endpoint by mistake.
func newHTTPClient(cert *serverCert, identityAddr string, counts *counters, blobPort string) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: cert.pool},
		MaxIdleConnsPerHost: 64,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			switch {
			case host == imdsHost:
				return dialer.DialContext(ctx, network, identityAddr)
			case host == "localhost" || strings.HasSuffix(host, ".localhost"):
				return dialer.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
			}
			if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
				return dialer.DialContext(ctx, network, addr)
			}
			return nil, fmt.Errorf("test transport refuses non-loopback destination %s", addr)
		},
	}
	return &http.Client{Transport: &countingTransport{next: tr, counts: counts, blobPort: blobPort}}
}

// countingTransport counts requests to Azurite, and among them the user
// delegation key requests.
type countingTransport struct {
	next     http.RoundTripper
	counts   *counters
	blobPort string
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Port() == t.blobPort {
		t.counts.add("blob")
		if r.URL.Query().Get("comp") == "userdelegationkey" {
			t.counts.add("udk")
		}
	}
	return t.next.RoundTrip(r)
}
