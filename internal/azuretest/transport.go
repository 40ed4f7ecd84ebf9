package azuretest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/blobmark/blobmark/egress"
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
//
// proxy, when not nil, is the transport's Proxy, for tests of the server's
// identity behind a proxy (IdentityClient).
func newHTTPClient(cert *serverCert, identityAddr string, counts *counters, blobPort string, proxy func(*http.Request) (*url.URL, error)) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		Proxy:               proxy,
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

// MetadataSuffix ends host names that the harness's resolver answers with
// the instance-metadata address (169.254.169.254), as a hostile DNS name
// would: attacker tests point storages and webhooks at such names.
const MetadataSuffix = ".metadata.localhost"

// testResolver is the DNS of the user-directed clients: *.localhost is
// loopback, *.metadata.localhost the metadata address, and nothing else
// resolves, so no test reaches past this machine.
type testResolver struct{}

func (testResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	switch {
	case strings.HasSuffix(host, MetadataSuffix):
		return []netip.Addr{netip.MustParseAddr(imdsHost)}, nil
	case host == "localhost" || strings.HasSuffix(host, ".localhost"):
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	return nil, fmt.Errorf("test resolver: %s does not resolve", host)
}

// GuardedClient returns a client like the server's own for requests made
// on a user's behalf: it dials through an egress.Guard (with allowPrivate,
// as the tests' --allow-private-network), resolving names with the harness
// resolver. reroute sends a checked address ("ip:port") to another one, so
// that an attacker test can put its listener where a refused address would
// lead: if the guard ever let the address through, the listener would see
// the request.
func (e *Env) GuardedClient(allowPrivate bool, reroute map[string]string) *http.Client {
	return e.guardedClient(allowPrivate, reroute, direct)
}

// ProxiedClient is GuardedClient (private networks allowed) sending each
// request through the proxy that proxy picks for its URL, as the server
// does with HTTPS_PROXY and NO_PROXY.
func (e *Env) ProxiedClient(proxy func(*url.URL) (*url.URL, error)) *http.Client {
	return e.guardedClient(true, nil, proxy)
}

// IdentityClient is HTTPClient with proxy as its transport's Proxy.
func (e *Env) IdentityClient(proxy func(*http.Request) (*url.URL, error)) *http.Client {
	return newHTTPClient(e.srvCert, e.identityAddr, e.counts, e.blobPort, proxy)
}

// direct is the proxy choice of tests without a proxy, whatever the
// environment running them says.
func direct(*url.URL) (*url.URL, error) { return nil, nil }

func (e *Env) guardedClient(allowPrivate bool, reroute map[string]string, proxy func(*url.URL) (*url.URL, error)) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	guard := &egress.Guard{AllowPrivate: allowPrivate, Resolver: testResolver{}, Proxy: proxy,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if to, ok := reroute[addr]; ok {
				addr = to
			}
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return nil, fmt.Errorf("test transport refuses non-loopback destination %s", addr)
			}
			return dialer.DialContext(ctx, network, addr)
		}}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.srvCert.pool}, MaxIdleConnsPerHost: 64, DialContext: guard.DialContext}
	return &http.Client{Transport: &countingTransport{next: guard.Proxied(tr), counts: e.counts, blobPort: e.blobPort}, CheckRedirect: egress.NoRedirects}
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
