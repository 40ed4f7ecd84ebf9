package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
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
	// Dial connects to an address the guard has checked ("ip:port"); nil
	// means a net.Dialer with a 10 s timeout. Tests route the checked
	// address to their listeners.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
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
// hostile DNS server cannot choose what is reached.
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
	var errs []error
	for _, a := range addrs {
		conn, err := dial(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
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

// Transport returns an HTTP transport that dials through the guard. It
// uses no proxy: a proxy would make the connection on the guard's behalf
// to an address the guard never saw.
func (g *Guard) Transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext = g.DialContext
	t.MaxIdleConnsPerHost = 64
	return t
}
