package egress

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
)

func TestCheck(t *testing.T) {
	cases := []struct {
		addr          string
		strict, loose bool // allowed without and with AllowPrivate
	}{
		{"169.254.169.254", false, false},
		{"169.254.0.1", false, false},
		{"::ffff:169.254.169.254", false, false},
		{"fe80::1", false, false},
		{"fd00:ec2::254", false, false},
		{"fd20:ce::254", false, false},
		{"168.63.129.16", false, false},
		{"100.100.100.200", false, false},
		{"64:ff9b::a9fe:a9fe", false, false}, // NAT64 of 169.254.169.254
		{"64:ff9b::a00:1", false, true},      // NAT64 of 10.0.0.1
		{"64:ff9b::1443:101", true, true},    // NAT64 of 20.67.1.1
		{"::1%lo", false, false},
		{"fe80::1%eth0", false, false},
		{"fd00:ec2::254%eth0", false, false},
		{"224.0.0.1", false, false},
		{"127.0.0.1", false, true},
		{"127.8.9.10", false, true},
		{"::1", false, true},
		{"0.0.0.0", false, true},
		{"10.1.2.3", false, true},
		{"172.16.0.1", false, true},
		{"172.31.255.255", false, true},
		{"192.168.1.1", false, true},
		{"100.64.0.1", false, true},
		{"fd12::1", false, true},
		{"20.60.1.1", true, true},
		{"172.32.0.1", true, true},
		{"2603:1000::1", true, true},
	}
	for _, c := range cases {
		a := netip.MustParseAddr(c.addr)
		strict, loose := (&Guard{}).Check(a), (&Guard{AllowPrivate: true}).Check(a)
		if (strict == nil) != c.strict || (loose == nil) != c.loose {
			t.Errorf("%s: strict %v, with private %v; want allowed %v, %v", c.addr, strict, loose, c.strict, c.loose)
		}
	}
}

// fixedResolver answers every name with the same addresses.
type fixedResolver []netip.Addr

func (r fixedResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return r, nil
}

// TestDialChecksResolvedAddresses plays a DNS server that answers a public
// looking name with the metadata address, alone or among allowed ones: the
// guard refuses before anything is dialled.
func TestDialChecksResolvedAddresses(t *testing.T) {
	var dials atomic.Int64
	dial := func(context.Context, string, string) (net.Conn, error) {
		dials.Add(1)
		return nil, net.ErrClosed
	}
	for _, answer := range []fixedResolver{
		{netip.MustParseAddr("169.254.169.254")},
		{netip.MustParseAddr("20.60.1.1"), netip.MustParseAddr("169.254.169.254")},
		{netip.MustParseAddr("fd00:ec2::254")},
	} {
		g := &Guard{AllowPrivate: true, Resolver: answer, Dial: dial}
		_, err := g.DialContext(context.Background(), "tcp", "myacct.blob.core.windows.net:443")
		if !IsRefused(err) || !strings.Contains(err.Error(), "myacct.blob.core.windows.net") {
			t.Errorf("answer %v: err %v, want a refusal naming the host", answer, err)
		}
	}
	if n := dials.Load(); n != 0 {
		t.Fatalf("%d dials reached the network", n)
	}
}

// TestDialConnectsToTheCheckedAddress proves the connection goes to the
// address that was checked, not to a second lookup of the name.
func TestDialConnectsToTheCheckedAddress(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	var dialled []string
	g := &Guard{AllowPrivate: true, Resolver: fixedResolver{netip.MustParseAddr("127.0.0.1")},
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dialled = append(dialled, addr)
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}
	resp, err := (&http.Client{Transport: g.Transport()}).Get("http://rebind.example:" + port + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || len(dialled) != 1 || dialled[0] != "127.0.0.1:"+port {
		t.Fatalf("status %d, dialled %v", resp.StatusCode, dialled)
	}

	strict := &Guard{Resolver: fixedResolver{netip.MustParseAddr("127.0.0.1")}}
	if _, err := (&http.Client{Transport: strict.Transport()}).Get("http://rebind.example:" + port + "/"); !IsRefused(err) ||
		!strings.Contains(err.Error(), "--allow-private-network") {
		t.Fatalf("loopback without the operator's consent: %v", err)
	}
}

func TestCheckHost(t *testing.T) {
	g := &Guard{AllowPrivate: true}
	if err := g.CheckHost("169.254.169.254"); !IsRefused(err) {
		t.Fatalf("metadata literal: %v", err)
	}
	if err := g.CheckHost("myacct.blob.core.windows.net"); err != nil {
		t.Fatalf("a name is checked when dialled: %v", err)
	}
	if err := (&Guard{}).CheckHost("10.0.0.4"); !IsRefused(err) {
		t.Fatalf("private literal without consent: %v", err)
	}
}

// TestClientFollowsNoRedirect: the answering host may not choose where the
// next request goes.
func TestClientFollowsNoRedirect(t *testing.T) {
	var reached atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }))
	defer target.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/secret", http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	resp, err := (&Guard{AllowPrivate: true}).Client().Get(redirect.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || reached.Load() != 0 {
		t.Fatalf("status %d, target reached %d times", resp.StatusCode, reached.Load())
	}
}
