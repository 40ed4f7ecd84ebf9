package httpapi_test

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/blobmark/blobmark/httpapi"
	"github.com/blobmark/blobmark/internal/testclock"
)

// newTestClock is a clock the test moves by hand, so back-off is checked
// without sleeping.
func newTestClock() *testclock.Clock {
	return testclock.New(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
}

const alicePassword = "correct horse battery staple"

// login posts a sign-in, from the client named by X-Forwarded-For when from
// is not empty.
func (e *testEnv) login(email, password, from string) *response {
	e.t.Helper()
	h := http.Header{}
	if from != "" {
		h.Set("X-Forwarded-For", from)
	}
	return e.requestWith("POST", "/api/auth/login", map[string]string{"email": email, "password": password}, h)
}

// tokenCall sends an API request with a token, from the client named by
// X-Forwarded-For when from is not empty.
func (e *testEnv) tokenCall(token, from string) *response {
	e.t.Helper()
	h := http.Header{"Authorization": {"Token " + token}}
	if from != "" {
		h.Set("X-Forwarded-For", from)
	}
	return e.requestWith("GET", "/api/projects/", nil, h)
}

// wantStatus fails the test unless r has the status, and, for 429, the
// Retry-After (in seconds) and a detail saying when to come back.
func wantStatus(t *testing.T, what string, r *response, status int, retryAfter string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.status, status, r.raw)
	}
	if got := r.header.Get("Retry-After"); got != retryAfter {
		t.Fatalf("%s: Retry-After %q, want %q", what, got, retryAfter)
	}
	if status == http.StatusTooManyRequests {
		if d := r.envelope(t).Detail; !strings.Contains(d, "Too many") || !strings.Contains(d, "Try again in "+retryAfter+" second") {
			t.Fatalf("%s: detail %q does not say to try again in %s seconds", what, d, retryAfter)
		}
	}
}

func TestSignInBackOffEngagesAndReleases(t *testing.T) {
	clock := newTestClock()
	e := newTestEnv(t, func(s *httpapi.Server) {
		s.Throttle = httpapi.Throttle{AccountFailures: 3, AddressFailures: 100,
			FirstDelay: time.Second, MaxDelay: 8 * time.Second, Clock: clock.Now}
	})
	email := e.user.Email

	// Three free failures, in any spelling of the email.
	for _, spelling := range []string{email, strings.ToUpper(email), " " + email} {
		wantStatus(t, "failure as "+spelling, e.login(spelling, "wrong", ""), http.StatusUnauthorized, "")
	}
	// Then the back-off: even the right password is not looked at.
	r := e.login(email, alicePassword, "")
	wantStatus(t, "right password during the back-off", r, http.StatusTooManyRequests, "1")
	if len(r.header.Values("Set-Cookie")) != 0 {
		t.Fatal("a sign-in refused for back-off set cookies")
	}
	clock.Advance(999 * time.Millisecond)
	wantStatus(t, "1 ms before the wait ends", e.login(email, alicePassword, ""), http.StatusTooManyRequests, "1")

	// Each further failure doubles the wait, up to the cap.
	clock.Advance(time.Millisecond)
	for _, wait := range []string{"2", "4", "8", "8"} {
		wantStatus(t, "failure after the wait", e.login(email, "wrong", ""), http.StatusUnauthorized, "")
		wantStatus(t, "attempt right after it", e.login(email, "wrong", ""), http.StatusTooManyRequests, wait)
		d, _ := time.ParseDuration(wait + "s")
		clock.Advance(d)
	}

	// The back-off is the account's: another account from the same address
	// is not held back.
	wantStatus(t, "another account", e.login("bob@example.com", "wrong", ""), http.StatusUnauthorized, "")

	// Once the wait is over the right password signs in, and that clears the
	// account's failures: three free ones again, then a 1 s wait.
	e.signIn()
	for range 3 {
		wantStatus(t, "failure after a success", e.login(email, "wrong", ""), http.StatusUnauthorized, "")
	}
	wantStatus(t, "back-off after a success", e.login(email, "wrong", ""), http.StatusTooManyRequests, "1")
	if !strings.Contains(e.logs.String(), "backing off") || strings.Contains(e.logs.String(), email) {
		t.Errorf("the log should note the back-off without the email:\n%s", e.logs.String())
	}
}

// TestSignInUnknownEmailAnswersAlike checks that a guesser cannot tell an
// existing email from an unknown one: not by the answer, its headers, nor
// when the back-off starts.
func TestSignInUnknownEmailAnswersAlike(t *testing.T) {
	clock := newTestClock()
	e := newTestEnv(t, func(s *httpapi.Server) {
		s.Throttle = httpapi.Throttle{AccountFailures: 2, Clock: clock.Now}
	})
	want := []int{http.StatusUnauthorized, http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusTooManyRequests}
	for i, status := range want {
		known := e.login(e.user.Email, "wrong", "")
		unknown := e.login("nobody@example.com", "wrong", "")
		if known.status != status || unknown.status != status {
			t.Fatalf("attempt %d: known email %d, unknown email %d, want %d for both", i+1, known.status, unknown.status, status)
		}
		if k, u := known.envelope(t).Detail, unknown.envelope(t).Detail; k != u {
			t.Errorf("attempt %d: known email says %q, unknown email says %q", i+1, k, u)
		}
		for _, h := range []string{"Retry-After", "WWW-Authenticate", "Content-Type", "Set-Cookie"} {
			if k, u := known.header.Values(h), unknown.header.Values(h); strings.Join(k, "\n") != strings.Join(u, "\n") {
				t.Errorf("attempt %d: %s is %q for a known email, %q for an unknown one", i+1, h, k, u)
			}
		}
	}
}

func TestTokenBruteForceLimitedPerAddress(t *testing.T) {
	clock := newTestClock()
	e := newTestEnv(t, func(s *httpapi.Server) {
		s.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		s.Throttle = httpapi.Throttle{AddressFailures: 3, AccountFailures: 100, Clock: clock.Now}
	})
	const guesser, neighbour = "203.0.113.7", "203.0.113.8"

	for range 3 {
		wantStatus(t, "wrong token", e.tokenCall("0000000000000000000000000000000000000000", guesser), http.StatusUnauthorized, "")
	}
	wantStatus(t, "wrong token after the free ones", e.tokenCall("1111111111111111111111111111111111111111", guesser), http.StatusTooManyRequests, "1")
	// A held-back address is not told whether its token is right.
	wantStatus(t, "valid token from the held-back address", e.tokenCall(e.token, guesser), http.StatusTooManyRequests, "1")
	// Another address is not affected.
	wantStatus(t, "valid token from another address", e.tokenCall(e.token, neighbour), http.StatusOK, "")

	// Failed sign-ins count against the address too, whatever account they name.
	wantStatus(t, "wrong token from the neighbour", e.tokenCall("2222222222222222222222222222222222222222", neighbour), http.StatusUnauthorized, "")
	wantStatus(t, "failed sign-in from the neighbour", e.login("carol@example.com", "x", neighbour), http.StatusUnauthorized, "")
	wantStatus(t, "failed sign-in from the neighbour", e.login("dave@example.com", "x", neighbour), http.StatusUnauthorized, "")
	wantStatus(t, "valid token from the neighbour after three failures", e.tokenCall(e.token, neighbour), http.StatusTooManyRequests, "1")

	// The wait ends, and valid tokens work again, one after another.
	clock.Advance(time.Second)
	wantStatus(t, "valid token after the wait", e.tokenCall(e.token, guesser), http.StatusOK, "")
	wantStatus(t, "valid token right after a success", e.tokenCall(e.token, guesser), http.StatusOK, "")
	// But a success did not clear the address: the next wrong token doubles the wait.
	wantStatus(t, "wrong token after the wait", e.tokenCall("0000000000000000000000000000000000000000", guesser), http.StatusUnauthorized, "")
	wantStatus(t, "valid token after a further failure", e.tokenCall(e.token, guesser), http.StatusTooManyRequests, "2")

	// An IPv6 client counts as its /64.
	for _, a := range []string{"2001:db8::1", "2001:db8::2", "2001:db8::3"} {
		wantStatus(t, "wrong token from "+a, e.tokenCall("0000000000000000000000000000000000000000", a), http.StatusUnauthorized, "")
	}
	wantStatus(t, "valid token from the same /64", e.tokenCall(e.token, "[2001:db8::4]:1234"), http.StatusTooManyRequests, "1")
	wantStatus(t, "valid token from the next /64", e.tokenCall(e.token, "2001:db8:0:1::1"), http.StatusOK, "")
}

// TestForwardedForTrustedOnlyFromTrustedProxies checks that a client cannot
// escape its back-off by naming another address in X-Forwarded-For: the
// header is ignored unless the peer is a trusted proxy, and then only the
// entries trusted proxies appended count.
func TestForwardedForTrustedOnlyFromTrustedProxies(t *testing.T) {
	clock := newTestClock()
	throttle := httpapi.Throttle{AddressFailures: 2, Clock: clock.Now}

	untrusting := newTestEnv(t, func(s *httpapi.Server) { s.Throttle = throttle })
	for _, from := range []string{"198.51.100.1", "198.51.100.2"} {
		wantStatus(t, "wrong token, forwarded for "+from, untrusting.tokenCall("00", from), http.StatusUnauthorized, "")
	}
	wantStatus(t, "valid token claiming a fresh address", untrusting.tokenCall(untrusting.token, "198.51.100.3"), http.StatusTooManyRequests, "1")

	trusting := newTestEnv(t, func(s *httpapi.Server) {
		s.Throttle = throttle
		s.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}
	})
	// The client prepends made-up hops; the proxies (10.1.2.3, then the
	// peer) appended the address they saw, 203.0.113.9.
	for _, fake := range []string{"198.51.100.1", "198.51.100.2"} {
		wantStatus(t, "wrong token behind "+fake, trusting.tokenCall("00", fake+", 203.0.113.9, 10.1.2.3"), http.StatusUnauthorized, "")
	}
	wantStatus(t, "valid token with a new made-up hop", trusting.tokenCall(trusting.token, "198.51.100.3, 203.0.113.9, 10.1.2.3"), http.StatusTooManyRequests, "1")
	wantStatus(t, "valid token from another client", trusting.tokenCall(trusting.token, "203.0.113.10, 10.1.2.3"), http.StatusOK, "")
}
