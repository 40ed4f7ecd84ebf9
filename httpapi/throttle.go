package httpapi

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/blobmark/blobmark"
)

// Guessing passwords and API tokens is slowed down where it is tried: every
// failed sign-in counts against the account (its email, whether or not such
// a user exists, so the pace of the answers reveals nothing either) and
// against the client's address; every invalid API token counts against the
// address. A few failures are free; after them each attempt must wait, the
// wait doubling with each further failure up to a cap, and an attempt that
// comes too early is answered 429 with Retry-After, without its credentials
// being looked at. A successful sign-in clears its account's failures; an
// address's failures are never cleared by a success (a guesser holding one
// valid account or token could otherwise wipe its own record between
// guesses), only forgotten after an hour without failures.
//
// The counts live in this process's memory, bounded (Throttle.MaxKeys), so
// each replica counts on its own and a restart forgets them: an attacker
// gains a small constant factor, not an unthrottled channel.

// Throttle tunes the back-off of failed credentials. The zero value means
// the defaults named on each field.
type Throttle struct {
	// AccountFailures is how many sign-ins to one email may fail before each
	// further attempt waits; 0 means 5.
	AccountFailures int
	// AddressFailures is how many failed sign-ins and invalid API tokens,
	// together, one client address may send before each further attempt
	// waits; 0 means 20, as many people may share an address.
	AddressFailures int
	// FirstDelay is the first wait; each further failure doubles it, up to
	// MaxDelay. 0 means 1 s and 15 min.
	FirstDelay, MaxDelay time.Duration
	// MaxKeys bounds how many accounts and addresses are tracked at once;
	// 0 means 50,000 (a few megabytes).
	MaxKeys int
	// Clock reads the time; nil means time.Now. Tests move it instead of
	// sleeping.
	Clock blobmark.Clock
}

// forgetFailuresAfter is how long a key must stay free of failures (and out
// of its wait) before its count starts again from zero.
const forgetFailuresAfter = time.Hour

// withDefaults fills the zero fields of t.
func (t Throttle) withDefaults() Throttle {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&t.AccountFailures, 5)
	def(&t.AddressFailures, 20)
	def(&t.MaxKeys, 50_000)
	if t.FirstDelay <= 0 {
		t.FirstDelay = time.Second
	}
	if t.MaxDelay <= 0 {
		t.MaxDelay = 15 * time.Minute
	}
	t.MaxDelay = max(t.MaxDelay, t.FirstDelay)
	if t.Clock == nil {
		t.Clock = time.Now
	}
	return t
}

// keyKind tells what a throttle key counts failures of.
type keyKind uint8

const (
	accountKey keyKind = iota // the SHA-256 of an email's EmailKey
	addressKey                // a client address (an IPv6 /64)
)

// throttleKey is one thing failures are counted against.
type throttleKey struct {
	kind keyKind
	id   string
}

// failures is the record of one key.
type failures struct {
	count int       // failures since the key was cleared or forgotten
	last  time.Time // the latest failure
	until time.Time // no attempt is let through before this
}

// limiter counts failures per key. Its methods are safe for concurrent use.
type limiter struct {
	cfg  Throttle
	mu   sync.Mutex
	keys map[throttleKey]*failures
}

func newLimiter(cfg Throttle) *limiter {
	return &limiter{cfg: cfg.withDefaults(), keys: map[throttleKey]*failures{}}
}

// free is how many failures of a kind of key come without a wait.
func (l *limiter) free(k keyKind) int {
	if k == accountKey {
		return l.cfg.AccountFailures
	}
	return l.cfg.AddressFailures
}

// delay is the wait after a key's n-th failure beyond its free ones (n from
// 0): FirstDelay doubled n times, capped at MaxDelay.
func (l *limiter) delay(n int) time.Duration {
	d := l.cfg.FirstDelay
	for ; n > 0 && d < l.cfg.MaxDelay; n-- {
		d *= 2
	}
	return min(d, l.cfg.MaxDelay)
}

// get returns a key's record, forgetting it when it has been quiet long
// enough; nil means no failures to count.
func (l *limiter) get(k throttleKey, now time.Time) *failures {
	f := l.keys[k]
	if f != nil && l.idle(f, now) {
		delete(l.keys, k)
		return nil
	}
	return f
}

func (l *limiter) idle(f *failures, now time.Time) bool {
	return !now.Before(f.until) && now.Sub(f.last) >= forgetFailuresAfter
}

// admit returns how long the caller must wait before trying credentials
// under these keys, or 0 to let it try now. An attempt let through while a
// key is past its free failures holds that key for the wait it just served,
// as if it had failed already, so that attempts sent together cannot all
// slip through one opening; a success or a failure then settles the key.
func (l *limiter) admit(keys ...throttleKey) time.Duration {
	now := l.cfg.Clock()
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	for _, k := range keys {
		if f := l.get(k, now); f != nil && now.Before(f.until) {
			wait = max(wait, f.until.Sub(now))
		}
	}
	if wait > 0 {
		return wait
	}
	for _, k := range keys {
		if f := l.keys[k]; f != nil && f.count >= l.free(k.kind) {
			f.until = now.Add(l.delay(f.count - l.free(k.kind)))
		}
	}
	return 0
}

// failed counts one failure against each key and returns the longest wait
// that now applies (0 while every key still has free failures left).
func (l *limiter) failed(keys ...throttleKey) time.Duration {
	now := l.cfg.Clock()
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	for _, k := range keys {
		f := l.get(k, now)
		if f == nil {
			l.makeRoom(now)
			f = &failures{}
			l.keys[k] = f
		}
		f.count++
		f.last = now
		if over := f.count - l.free(k.kind); over >= 0 {
			if until := now.Add(l.delay(over)); until.After(f.until) {
				f.until = until
			}
			wait = max(wait, f.until.Sub(now))
		}
	}
	return wait
}

// succeeded settles attempts that passed. An account's failures are
// cleared. An address's stay (see above), but the hold its admission placed
// is lifted, so that the address's other clients do not wait for a success.
func (l *limiter) succeeded(keys ...throttleKey) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		f := l.keys[k]
		switch {
		case f == nil:
		case k.kind == accountKey:
			delete(l.keys, k)
		case f.count >= l.free(k.kind):
			f.until = f.last.Add(l.delay(f.count - l.free(k.kind)))
		}
	}
}

// makeRoom keeps the map under MaxKeys before a new key goes in. It first
// forgets quiet keys; when a flood of distinct keys leaves the map crowded
// still, it drops keys that hold no one back at the moment, then any, down
// to seven eighths of the cap, so that the next full sweep is that many
// insertions away. Memory stays bounded, and the worst a flood buys is
// leniency for the keys dropped.
func (l *limiter) makeRoom(now time.Time) {
	if len(l.keys) < l.cfg.MaxKeys {
		return
	}
	for k, f := range l.keys {
		if l.idle(f, now) {
			delete(l.keys, k)
		}
	}
	target := l.cfg.MaxKeys * 7 / 8
	for k, f := range l.keys {
		if len(l.keys) <= target {
			return
		}
		if !now.Before(f.until) {
			delete(l.keys, k)
		}
	}
	for k := range l.keys {
		if len(l.keys) <= target {
			return
		}
		delete(l.keys, k)
	}
}

// limiter returns the server's limiter, made on first use from Throttle.
func (s *Server) limiter() *limiter {
	s.throttle.once.Do(func() { s.throttle.l = newLimiter(s.Throttle) })
	return s.throttle.l
}

// throttleState is the server's limiter, made once.
type throttleState struct {
	once sync.Once
	l    *limiter
}

// accountKeyOf is the key an email's failed sign-ins count against. The
// email is hashed so that the map holds fixed-size keys and no addresses.
func accountKeyOf(email string) throttleKey {
	sum := sha256.Sum256([]byte(blobmark.EmailKey(email)))
	return throttleKey{kind: accountKey, id: string(sum[:])}
}

// addressKeyOf is the key a request's failures count against: its client
// address (clientAddr), an IPv6 address as its /64, which one client
// usually holds whole.
func (s *Server) addressKeyOf(r *http.Request) throttleKey {
	a := s.clientAddr(r)
	if !a.IsValid() {
		// Not an IP (a test transport, a Unix socket): one key for all of them.
		return throttleKey{kind: addressKey, id: r.RemoteAddr}
	}
	if a.Is6() {
		p, _ := a.Prefix(64)
		return throttleKey{kind: addressKey, id: p.String()}
	}
	return throttleKey{kind: addressKey, id: a.String()}
}

// clientAddr is the address of the client a request comes from: the peer's
// address, unless the peer is one of TrustedProxies, whose X-Forwarded-For
// is then read from the right (the entries the trusted proxies appended)
// to the first address that is not a trusted proxy. Without TrustedProxies
// the header is ignored, because anyone can send it.
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	peer := parseHostAddr(r.RemoteAddr)
	if !s.trusted(peer) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a := parseHostAddr(strings.TrimSpace(hops[i]))
		if !a.IsValid() {
			break // not written by a proxy we trust: the last trusted hop is what we know
		}
		peer = a
		if !s.trusted(a) {
			break
		}
	}
	return peer
}

func (s *Server) trusted(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range s.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseHostAddr reads "ip", "ip:port" or "[ipv6]:port"; an IPv4 address
// written as IPv6 (::ffff:a.b.c.d) comes back as IPv4.
func parseHostAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}

// ParseTrustedProxies reads a list of addresses and CIDR ranges
// ("10.0.0.0/8", "127.0.0.1", "fd00::/8"), naming the first entry that is
// neither.
func ParseTrustedProxies(entries []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, e := range entries {
		if p, err := netip.ParsePrefix(e); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an IP address nor a CIDR range such as 10.0.0.0/8", e)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// retryLater is an ERATELIMITED answer that also tells the client, in
// Retry-After, how long to wait.
type retryLater struct {
	err   *blobmark.Error
	after time.Duration
}

func (e *retryLater) Error() string { return e.err.Error() }
func (e *retryLater) Unwrap() error { return e.err }

// seconds is the wait in whole seconds, rounded up: Retry-After's unit.
func (e *retryLater) seconds() int {
	return int((e.after + time.Second - 1) / time.Second)
}

// tooManyFailures is the answer to an attempt that comes before its wait
// is over. what names the attempts ("failed sign-ins").
func tooManyFailures(what string, wait time.Duration) error {
	e := &retryLater{after: wait}
	n, unit := e.seconds(), "second"
	if n > 90 {
		n, unit = (n+59)/60, "minute"
	}
	if n != 1 {
		unit += "s"
	}
	e.err = blobmark.Errorf(blobmark.ERATELIMITED, "Too many %s. Try again in %d %s.", what, n, unit)
	return e
}
