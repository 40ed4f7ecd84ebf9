package egress_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/http/httpproxy"

	"github.com/blobmark/blobmark/egress"
	"github.com/blobmark/blobmark/internal/azuretest"
)

// namesResolver answers names ending in ".metadata.localhost" with the
// metadata address and every other name with loopback.
type namesResolver struct{}

func (namesResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if strings.HasSuffix(host, ".metadata.localhost") {
		return []netip.Addr{netip.MustParseAddr("169.254.169.254")}, nil
	}
	return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
}

// proxyRules are the rules HTTPS_PROXY, HTTP_PROXY and NO_PROXY set, as Go
// reads them, with proxy for both schemes and noProxy as NO_PROXY.
func proxyRules(proxy *url.URL, noProxy string) func(*url.URL) (*url.URL, error) {
	return (&httpproxy.Config{HTTPProxy: proxy.String(), HTTPSProxy: proxy.String(), NoProxy: noProxy}).ProxyFunc()
}

// hostsServer answers every request and records its Host.
type hostsServer struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func startHostsServer(t *testing.T) *hostsServer {
	s := &hostsServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.seen = append(s.seen, r.Host)
		s.mu.Unlock()
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *hostsServer) hosts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seen)
}

func TestProxyTunnelsToTheCheckedAddress(t *testing.T) {
	proxy := azuretest.StartProxy(t)
	srv := startHostsServer(t)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	g := &egress.Guard{AllowPrivate: true, Resolver: namesResolver{}, Proxy: proxyRules(proxy.URL, "direct.localhost")}
	client := g.Client()

	resp, err := client.Post("http://hook.localhost:"+port+"/", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The proxy is asked for the address the guard checked, never the name
	// it would resolve itself; the target still sees the name.
	if n := proxy.Count("127.0.0.1:" + port); n != 1 || proxy.Total() != 1 {
		t.Fatalf("proxy saw %d tunnels to the checked address and %d requests in all, want 1 and 1", n, proxy.Total())
	}
	if got := srv.hosts(); len(got) != 1 || got[0] != "hook.localhost:"+port {
		t.Fatalf("target saw hosts %q", got)
	}

	resp, err = client.Get("http://direct.localhost:" + port + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := srv.hosts(); proxy.Total() != 1 || len(got) != 2 {
		t.Fatalf("a NO_PROXY host went through the proxy (%d requests) or was not reached (%q)", proxy.Total(), got)
	}
}

func TestProxyTunnelCarriesTLSToTheName(t *testing.T) {
	proxy := azuretest.StartProxy(t)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	g := &egress.Guard{AllowPrivate: true, Resolver: namesResolver{}, Proxy: proxyRules(proxy.URL, "")}
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.DialContext = g.DialContext
	// The test server's certificate names example.com: verifying it proves
	// TLS ran end to end with the target's name, not the proxy's.
	resp, err := (&http.Client{Transport: g.Proxied(tr)}).Get("https://example.com:" + port + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := proxy.Count("127.0.0.1:" + port); n != 1 {
		t.Fatalf("proxy saw %d tunnels, want 1", n)
	}
}

func TestProxyNeverSeesRefusedTargets(t *testing.T) {
	proxy := azuretest.StartProxy(t)
	srv := startHostsServer(t)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	always := func(*url.URL) (*url.URL, error) { return proxy.URL, nil }
	for _, tc := range []struct {
		name         string
		allowPrivate bool
		url          string
	}{
		{"private network not allowed", false, "http://hook.localhost:" + port + "/"},
		{"loopback literal not allowed", false, "http://127.0.0.1:" + port + "/"},
		{"name resolving to the metadata address", true, "http://x.metadata.localhost:" + port + "/"},
		{"metadata address", true, "http://169.254.169.254/metadata/identity/oauth2/token"},
	} {
		g := &egress.Guard{AllowPrivate: tc.allowPrivate, Resolver: namesResolver{}, Proxy: always}
		_, err := g.Client().Get(tc.url)
		if !egress.IsRefused(err) {
			t.Errorf("%s: err = %v, want a refusal", tc.name, err)
		}
	}
	if reached := len(srv.hosts()); proxy.Total() != 0 || reached != 0 {
		t.Fatalf("refused targets reached the proxy %d times and the target %d times, want 0 and 0", proxy.Total(), reached)
	}
}

// publicResolver answers every name with one public address.
type publicResolver struct{}

func (publicResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.MustParseAddr("20.60.1.2")}, nil
}

func TestProxyAnswerIsTheError(t *testing.T) {
	proxy := azuretest.StartProxy(t)
	g := &egress.Guard{Resolver: publicResolver{}, Proxy: proxyRules(proxy.URL, "")}
	// The test proxy reaches loopback only, so it turns the storage's
	// address down, as a corporate proxy turns down what it does not allow.
	_, err := g.Client().Get("https://mylabelsdata.blob.core.windows.net/images?comp=list")
	if err == nil || !strings.Contains(err.Error(), "proxy answered 403") {
		t.Fatalf("err = %v, want the proxy's 403", err)
	}
	if n := proxy.Count("20.60.1.2:443"); n != 1 {
		t.Fatalf("proxy was asked for the checked address %d times, want 1", n)
	}
}

func TestProxyCredentialsFromItsURL(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan *http.Request, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		req, err := http.ReadRequest(bufio.NewReader(conn))
		if err != nil {
			return
		}
		got <- req
		io.WriteString(conn, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
	}()
	proxy := &url.URL{Scheme: "http", User: url.UserPassword("svc-blobmark", "s3cret"), Host: ln.Addr().String()}
	g := &egress.Guard{Resolver: publicResolver{}, Proxy: func(*url.URL) (*url.URL, error) { return proxy, nil }}
	_, err = g.Client().Get("https://mylabelsdata.blob.core.windows.net/")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("err = %v, want a failure that does not show the password", err)
	}
	req := <-got
	user, pass, ok := (&http.Request{Header: http.Header{"Authorization": req.Header["Proxy-Authorization"]}}).BasicAuth()
	if req.Method != http.MethodConnect || req.Host != "20.60.1.2:443" || !ok || user != "svc-blobmark" || pass != "s3cret" {
		t.Fatalf("proxy got %s %s with credentials %q:%q (%v)", req.Method, req.Host, user, pass, ok)
	}
}
