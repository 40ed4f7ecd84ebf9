package egress

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"
)

// Guard dials only addresses its policy allows. The zero value refuses
// private networks and uses the system resolver and a plain dialer.
type Guard struct {
	// AllowPrivate admits loopback, private (RFC 1918, unique local) and
	// shared (100.64/10) addresses. Link-local and metadata addresses are
	// refused whatever it says.
	AllowPrivate bool
	// Resolver looks host names up; nil means net.DefaultResolver. Tests
	// give names such as *.localhost their own answers.
	Resolver interface {
		LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	}
	// Dial connects to an address the guard has checked ("ip:port"), or to
	// the operator's proxy; nil means a net.Dialer with a 10 s timeout.
	// Tests route the checked address to their listeners.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Proxy returns the forward proxy for a request URL, or nil to connect
	// directly; nil means the environment's HTTPS_PROXY, HTTP_PROXY and
	// NO_PROXY, with Go's rules (http.ProxyFromEnvironment). Tests give
	// their own, since the environment is read once per process.
	Proxy func(*url.URL) (*url.URL, error)
}

// Error is a refused destination. Its message names the address and why, so
// that a storage or webhook pointed there fails with a clear reason.
type Error struct {
	Host   string
	Addr   netip.Addr
	Reason string
}

func (e *Error) Error() string {
	if e.Host != "" && e.Host != e.Addr.String() {
		return fmt.Sprintf("connections to %s (%s) are not allowed: %s", e.Host, e.Addr, e.Reason)
	}
	return fmt.Sprintf("connections to %s are not allowed: %s", e.Addr, e.Reason)
}

// IsRefused reports whether err is, or wraps, a refusal by a Guard.
func IsRefused(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

// NonRetriable tells HTTP clients that retry (the Azure SDK's pipeline
// among them) that trying again cannot help: the policy, not the network,
// said no.
func (e *Error) NonRetriable() {}

// metadata are addresses no user-directed request may reach, whatever the
// operator allows: link-local ranges, where clouds serve instance metadata
// and managed-identity tokens, the clouds' metadata and platform addresses
// outside them (Azure's WireServer, Alibaba's, AWS's and GCP's IPv6 ones).
var metadata = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("168.63.129.16/32"),
	netip.MustParsePrefix("100.100.100.200/32"),
	netip.MustParsePrefix("fd00:ec2::254/128"),
	netip.MustParsePrefix("fd20:ce::254/128"),
}

// nat64 is the well-known NAT64 prefix: its addresses reach the IPv4
// address in their last four bytes, which is what is checked.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// private are the ranges that stay inside the operator's network.
var private = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"), // "this network": 0.0.0.0 reaches the host itself
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64: reaches private IPv4
}

// Check reports whether the guard admits a connection to addr, with the
// reason when it does not.
func (g *Guard) Check(addr netip.Addr) error {
	if addr.Zone() != "" {
		// A zone names a local interface; ranges never contain zoned
		// addresses, so they would slip past every rule below.
		return &Error{Addr: addr, Reason: "addresses with an interface zone are never reached on a user's behalf"}
	}
	addr = addr.Unmap()
	if nat64.Contains(addr) {
		b := addr.As16()
		addr = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	for _, p := range metadata {
		if p.Contains(addr) {
			return &Error{Addr: addr, Reason: "link-local and cloud metadata addresses are never reached on a user's behalf"}
		}
	}
	if addr.IsMulticast() || addr.IsInterfaceLocalMulticast() || addr.IsLinkLocalMulticast() {
		return &Error{Addr: addr, Reason: "multicast addresses are never reached on a user's behalf"}
	}
	if !g.AllowPrivate {
		for _, p := range private {
			if p.Contains(addr) {
				return &Error{Addr: addr, Reason: "loopback and private network addresses are reached only when the operator allows them (--allow-private-network)"}
			}
		}
	}
	return nil
}

// CheckHost checks a host that is an IP literal, so that a URL naming a
// refused address is turned down before any credential is built for it.
// Names are checked when dialled.
func (g *Guard) CheckHost(host string) error {
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return nil
	}
	if err := g.Check(addr); err != nil {
		err.(*Error).Host = host
		return err
	}
	return nil
}

// DialContext resolves addr's host, checks every address it resolves to,
// and connects to the first allowed one that answers. A name with any
// refused address is refused as a whole, so that the answer order of a
// hostile DNS server cannot choose what is reached. When the request being
// dialled for has a proxy (see Transport), the connection is a tunnel
// through it to the checked address.
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		r := g.Resolver
		if r == nil {
			r = net.DefaultResolver
		}
		ipNetwork := "ip"
		switch network {
		case "tcp4":
			ipNetwork = "ip4"
		case "tcp6":
			ipNetwork = "ip6"
		}
		if addrs, err = r.LookupNetIP(ctx, ipNetwork, host); err != nil {
			return nil, err
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("%s has no address", host)
		}
	}
	for _, a := range addrs {
		if err := g.Check(a); err != nil {
			err.(*Error).Host = host
			return nil, err
		}
	}
	dial := g.Dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: 10 * time.Second}).DialContext
	}
	proxy, _ := ctx.Value(proxyKey{}).(*url.URL)
	var errs []error
	for _, a := range addrs {
		checked := net.JoinHostPort(a.Unmap().String(), port)
		var conn net.Conn
		var err error
		if proxy != nil {
			conn, err = tunnel(ctx, dial, network, proxy, checked)
		} else {
			conn, err = dial(ctx, network, checked)
		}
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// Client returns an HTTP client that dials through the guard and follows
// no redirect: a redirect is the answering host choosing the next
// destination, and services that are called on a user's behalf (Azure
// Storage, Entra ID) never send one.
func (g *Guard) Client() *http.Client {
	return &http.Client{Transport: g.Transport(), CheckRedirect: NoRedirects}
}

// NoRedirects is an http.Client.CheckRedirect that hands the 3xx answer
// back instead of following it.
func NoRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Transport returns an HTTP transport that dials through the guard, and
// through the proxy that applies to each request's URL (Proxy).
//
// The proxy is not http.Transport's: that one would send the proxy the host
// name, and the proxy would resolve it and connect to an address the guard
// never saw (a private network, the metadata address, or whatever a
// rebinding DNS answers the second time). Here the guard resolves and
// checks the target as for a direct connection, dials the proxy (the
// operator's, so trusted) and asks it for a tunnel to the checked address
// itself (CONNECT ip:port); TLS to the target's name runs inside the tunnel
// as it would over a direct connection. A refused target never reaches the
// proxy. Plain-http targets use a tunnel too.
func (g *Guard) Transport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext = g.DialContext
	t.MaxIdleConnsPerHost = 64
	return g.Proxied(t)
}

// Proxied wraps next, a transport whose DialContext is the guard's, so that
// each dial knows the proxy of the request it is for: DialContext sees
// only "host:port", and the proxy depends on the scheme too. The transport
// pools connections by scheme and address, which is all the proxy depends
// on, so a pooled connection never serves a request that needs another.
func (g *Guard) Proxied(next http.RoundTripper) http.RoundTripper {
	return proxied{guard: g, next: next}
}

type proxied struct {
	guard *Guard
	next  http.RoundTripper
}

// proxyKey carries a request's proxy URL from RoundTrip to DialContext.
type proxyKey struct{}

func (p proxied) RoundTrip(r *http.Request) (*http.Response, error) {
	proxyFor := p.guard.Proxy
	if proxyFor == nil {
		proxyFor = proxyFromEnvironment
	}
	proxy, err := proxyFor(r.URL)
	if err != nil {
		return nil, fmt.Errorf("proxy for %s: %w", r.URL.Host, err)
	}
	if proxy != nil {
		r = r.WithContext(context.WithValue(r.Context(), proxyKey{}, proxy))
	}
	return p.next.RoundTrip(r)
}

// proxyFromEnvironment is http.ProxyFromEnvironment for a URL.
func proxyFromEnvironment(u *url.URL) (*url.URL, error) {
	return http.ProxyFromEnvironment(&http.Request{URL: u})
}

// tunnel dials proxy and asks it for a connection to addr, a checked
// "ip:port", returning the tunnel once the proxy has said yes.
func tunnel(ctx context.Context, dial func(ctx context.Context, network, addr string) (net.Conn, error),
	network string, proxy *url.URL, addr string) (net.Conn, error) {
	defaultPort, ok := map[string]string{"http": "80", "https": "443"}[proxy.Scheme]
	if !ok {
		return nil, fmt.Errorf("proxy %s: only http:// and https:// proxies are supported", proxy.Redacted())
	}
	port := proxy.Port()
	if port == "" {
		port = defaultPort
	}
	raw, err := dial(ctx, network, net.JoinHostPort(proxy.Hostname(), port))
	if err != nil {
		return nil, fmt.Errorf("proxy %s: %w", proxy.Redacted(), err)
	}
	// Closing the connection is what interrupts a handshake that ctx ends.
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	conn := raw
	if proxy.Scheme == "https" {
		conn = tls.Client(raw, &tls.Config{ServerName: proxy.Hostname()})
	}
	req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Opaque: addr}, Host: addr, Header: http.Header{}}
	if u := proxy.User; u != nil {
		pass, _ := u.Password()
		req.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pass)))
	}
	resp, err := func() (*http.Response, error) {
		if err := req.Write(conn); err != nil {
			return nil, err
		}
		return http.ReadResponse(bufio.NewReader(conn), req)
	}()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("proxy answered %s", resp.Status)
	}
	if err != nil || !stop() {
		conn.Close()
		return nil, fmt.Errorf("proxy %s tunnel to %s: %w", proxy.Redacted(), addr, errors.Join(err, ctx.Err()))
	}
	return conn, nil
}
