package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/httpapi"
	"github.com/blobmark/blobmark/internal/testclock"
)

// newTokenEnv is a test server whose tokens are issued and judged by a
// clock the test moves.
func newTokenEnv(t *testing.T, configure ...func(*httpapi.Server)) (*testEnv, *testclock.Clock) {
	t.Helper()
	clock := newTestClock()
	env := newTestEnv(t, append([]func(*httpapi.Server){func(s *httpapi.Server) { s.Clock = clock.Now }}, configure...)...)
	return env, clock
}

// createdToken is the answer of POST /api/token/.
type createdToken struct {
	ID        int64     `json:"id"`
	Token     string    `json:"token"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// createPAT creates a personal access token with the legacy key given.
func (e *testEnv) createPAT(key string) createdToken {
	e.t.Helper()
	r := e.requestWith("POST", "/api/token/", nil, http.Header{"Authorization": {"Token " + key}})
	if r.status != http.StatusCreated {
		e.t.Fatalf("POST /api/token/: status %d, want 201; body %s", r.status, r.raw)
	}
	var c createdToken
	r.json(e.t, &c)
	return c
}

// refresh exchanges a personal access token as the SDK does: no
// Authorization header.
func (e *testEnv) refresh(pat string) *response {
	e.t.Helper()
	return e.requestWith("POST", "/api/token/refresh/", map[string]string{"refresh": pat}, nil)
}

// accessOf exchanges a personal access token, requiring success.
func (e *testEnv) accessOf(pat string) string {
	e.t.Helper()
	r := e.refresh(pat)
	if r.status != http.StatusOK {
		e.t.Fatalf("refresh: status %d, want 200; body %s", r.status, r.raw)
	}
	var out struct{ Access string }
	r.json(e.t, &out)
	return out.Access
}

// bearer sends a request with an access token.
func (e *testEnv) bearer(access, method, path string, body any) *response {
	e.t.Helper()
	return e.requestWith(method, path, body, http.Header{"Authorization": {"Bearer " + access}})
}

// wantRefused fails unless r is an error envelope of that status saying
// detail (in its detail or its validation errors).
func wantRefused(t *testing.T, what string, r *response, status int, detail string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.status, status, r.raw)
	}
	r.envelope(t)
	if !strings.Contains(r.text(), detail) {
		t.Fatalf("%s: answer %s does not say %q", what, r.raw, detail)
	}
}

// jwtClaims decodes a JWT's claims without verifying it, as the SDK does.
func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("%q is not a JWT", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	return c
}

func TestPersonalAccessTokenFlow(t *testing.T) {
	env, clock := newTokenEnv(t)
	pat := env.createPAT(env.token)
	c := jwtClaims(t, pat.Token)
	if c["token_type"] != "refresh" || c["user_id"] != float64(env.user.ID) || c["jti"] == "" ||
		c["iat"] != float64(clock.Now().Unix()) || c["exp"] != float64(clock.Now().AddDate(0, 0, 30).Unix()) {
		t.Fatalf("PAT claims %v", c)
	}
	if !pat.CreatedAt.Equal(clock.Now()) || !pat.ExpiresAt.Equal(clock.Now().AddDate(0, 0, 30)) {
		t.Fatalf("created %v, expires %v: want now and 30 days on", pat.CreatedAt, pat.ExpiresAt)
	}

	// The list shows the token redacted, never the token.
	list := env.must(http.StatusOK, "GET", "/api/token/", nil)
	var listed []createdToken
	list.json(t, &listed)
	jti := c["jti"].(string)
	if len(listed) != 1 || listed[0].Token != jti[:8]+"…" || !listed[0].ExpiresAt.Equal(pat.ExpiresAt) {
		t.Fatalf("list %s", list.raw)
	}
	if strings.Contains(list.text(), strings.Split(pat.Token, ".")[2]) {
		t.Fatal("the list shows the token's signature")
	}

	access := env.accessOf(pat.Token)
	ac := jwtClaims(t, access)
	if ac["token_type"] != "access" || ac["exp"] != float64(clock.Now().Add(5*time.Minute).Unix()) || ac["pat_jti"] != jti {
		t.Fatalf("access claims %v", ac)
	}
	var me struct{ ID int64 }
	env.bearer(access, "GET", "/api/current-user/whoami", nil).json(t, &me)
	if me.ID != env.user.ID {
		t.Fatalf("whoami with Bearer is user %d, want %d", me.ID, env.user.ID)
	}
	// Bearer writes need no CSRF token, as Token writes do not.
	if r := env.bearer(access, "POST", "/api/projects/", map[string]string{"title": "by bearer"}); r.status != http.StatusCreated {
		t.Fatalf("create a project with Bearer: %d %s", r.status, r.raw)
	}

	// Rotation: a new token of the same lifetime; the old one and its
	// access tokens stop at once.
	clock.Advance(time.Minute)
	var rotated struct{ Refresh string }
	env.must(http.StatusOK, "POST", "/api/token/rotate/", map[string]string{"refresh": pat.Token}).json(t, &rotated)
	if rc := jwtClaims(t, rotated.Refresh); rc["jti"] == jti || rc["exp"] != float64(clock.Now().AddDate(0, 0, 30).Unix()) {
		t.Fatalf("rotated claims %v", rc)
	}
	wantRefused(t, "refresh with the rotated-away token", env.refresh(pat.Token), http.StatusUnauthorized, "Token is blacklisted.")
	wantRefused(t, "access token of the rotated-away token", env.bearer(access, "GET", "/api/projects/", nil), http.StatusUnauthorized, "Token is blacklisted.")

	// Blacklisting kills the access tokens already handed out.
	access2 := env.accessOf(rotated.Refresh)
	env.bearer(access2, "GET", "/api/projects/", nil)
	r := env.request("POST", "/api/token/blacklist/", map[string]string{"refresh": rotated.Refresh})
	if r.status != http.StatusOK {
		t.Fatalf("blacklist: %d %s", r.status, r.raw)
	}
	wantRefused(t, "access after blacklist", env.bearer(access2, "GET", "/api/projects/", nil), http.StatusUnauthorized, "Token is blacklisted.")
	wantRefused(t, "refresh after blacklist", env.refresh(rotated.Refresh), http.StatusUnauthorized, "Token is blacklisted.")
	if r := env.request("POST", "/api/token/blacklist/", map[string]string{"refresh": rotated.Refresh}); r.status != http.StatusOK {
		t.Fatalf("blacklisting again: %d %s", r.status, r.raw)
	}
	wantRefused(t, "rotating a blacklisted token", env.request("POST", "/api/token/rotate/", map[string]string{"refresh": rotated.Refresh}),
		http.StatusBadRequest, "Token is blacklisted")
	env.must(http.StatusOK, "GET", "/api/token/", nil).json(t, &listed)
	if len(listed) != 0 {
		t.Fatalf("revoked tokens listed: %+v", listed)
	}

	// Neither token appears in the logs.
	for _, secret := range []string{pat.Token, rotated.Refresh, access, access2} {
		if strings.Contains(env.logs.String(), secret) {
			t.Fatal("a token is in the logs")
		}
	}
}

func TestForgedTokensAreRefused(t *testing.T) {
	env, _ := newTokenEnv(t)
	pat := env.createPAT(env.token).Token
	access := env.accessOf(pat)
	parts := strings.Split(access, ".")
	enc := base64.RawURLEncoding.EncodeToString

	// Another user's id in a signed token's payload breaks the signature.
	c := jwtClaims(t, access)
	c["user_id"] = env.user.ID + 1
	other, _ := json.Marshal(c)
	forged := map[string]string{
		"tampered payload":   parts[0] + "." + enc(other) + "." + parts[2],
		"tampered signature": parts[0] + "." + parts[1] + "." + enc([]byte("not the signature of this token!")),
		"alg none":           enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + ".",
		"alg HS512":          enc([]byte(`{"alg":"HS512","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2],
		"extra header":       enc([]byte(`{"alg":"HS256","typ":"JWT","kid":"x"}`)) + "." + parts[1] + "." + parts[2],
		"two parts":          parts[0] + "." + parts[1],
	}
	const notOurs = "it is not a token issued by this server"
	for name, tok := range forged {
		wantRefused(t, name+" as Bearer", env.bearer(tok, "GET", "/api/projects/", nil), http.StatusUnauthorized, notOurs)
		wantRefused(t, name+" at refresh", env.refresh(tok), http.StatusUnauthorized, notOurs)
	}
	// A signed token of the other type is refused, saying what to send.
	wantRefused(t, "PAT as Bearer", env.bearer(pat, "GET", "/api/projects/", nil), http.StatusUnauthorized, "exchange it at POST /api/token/refresh/")
	wantRefused(t, "access token at refresh", env.refresh(access), http.StatusUnauthorized, "not an access token")
	wantRefused(t, "refresh without a token", env.requestWith("POST", "/api/token/refresh/", map[string]string{}, nil),
		http.StatusBadRequest, "This field is required.")
	// The genuine ones still work.
	if r := env.bearer(access, "GET", "/api/projects/", nil); r.status != http.StatusOK {
		t.Fatalf("genuine access token: %d %s", r.status, r.raw)
	}
}

func TestForgedTokensAreThrottled(t *testing.T) {
	env, clock := newTokenEnv(t, func(s *httpapi.Server) {
		s.Throttle = httpapi.Throttle{AddressFailures: 2, FirstDelay: time.Second, MaxDelay: time.Minute, Clock: s.Clock}
	})
	pat := env.createPAT(env.token).Token
	forged := pat[:len(pat)-2] + "xx"
	for range 2 {
		wantStatus(t, "forged token", env.refresh(forged), http.StatusUnauthorized, "")
	}
	// Access tokens count against the same address.
	wantStatus(t, "forged Bearer", env.bearer(forged, "GET", "/api/projects/", nil), http.StatusTooManyRequests, "1")
	wantStatus(t, "genuine token during the wait", env.refresh(pat), http.StatusTooManyRequests, "1")
	clock.Advance(time.Second)
	wantStatus(t, "genuine token after the wait", env.refresh(pat), http.StatusOK, "")
}

func TestTokensExpire(t *testing.T) {
	env, clock := newTokenEnv(t)
	pat := env.createPAT(env.token).Token
	access := env.accessOf(pat)
	clock.Advance(5*time.Minute - time.Second)
	if r := env.bearer(access, "GET", "/api/projects/", nil); r.status != http.StatusOK {
		t.Fatalf("access token before its end: %d %s", r.status, r.raw)
	}
	clock.Advance(time.Second)
	wantRefused(t, "expired access token", env.bearer(access, "GET", "/api/projects/", nil), http.StatusUnauthorized, "Access token has expired")
	access = env.accessOf(pat)
	clock.Set(newTestClock().Now().AddDate(0, 0, 30))
	wantRefused(t, "expired PAT", env.refresh(pat), http.StatusUnauthorized, "Token has expired")
	wantRefused(t, "access token of an expired PAT", env.bearer(access, "GET", "/api/projects/", nil), http.StatusUnauthorized, "expired")
	wantRefused(t, "rotating an expired PAT", env.request("POST", "/api/token/rotate/", map[string]string{"refresh": pat}),
		http.StatusBadRequest, "Token has expired")
}

func TestDeactivatedUsersTokensStop(t *testing.T) {
	env, _ := newTokenEnv(t)
	ann, key, err := env.db.AddUser(t.Context(), blobmark.NewUser{Email: "ann@example.com", Password: "pw", OrganizationID: env.user.OrganizationID})
	if err != nil {
		t.Fatal(err)
	}
	pat := env.createPAT(key).Token
	access := env.accessOf(pat)
	if _, err := env.db.SetRole(t.Context(), ann.OrganizationID, ann.ID, blobmark.RoleDeactivated, ""); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, "Bearer of a deactivated user", env.bearer(access, "GET", "/api/projects/", nil), http.StatusUnauthorized, "User inactive or deleted.")
	wantRefused(t, "refresh of a deactivated user", env.refresh(pat), http.StatusUnauthorized, "User inactive or deleted.")
}

func TestOthersCannotRevokeOurTokens(t *testing.T) {
	env, _ := newTokenEnv(t)
	pat := env.createPAT(env.token).Token
	_, bobKey, err := env.db.CreateUserInOrganization(t.Context(), "bob@example.com", "pw", "Globex")
	if err != nil {
		t.Fatal(err)
	}
	bob := http.Header{"Authorization": {"Token " + bobKey}}
	for _, path := range []string{"/api/token/blacklist/", "/api/token/rotate/"} {
		r := env.requestWith("POST", path, map[string]string{"refresh": pat}, bob)
		wantRefused(t, "bob at "+path, r, http.StatusNotFound, "not found")
	}
	env.accessOf(pat) // still alive
	wantRefused(t, "an access token as the token to revoke", env.request("POST", "/api/token/blacklist/", map[string]string{"refresh": env.accessOf(pat)}),
		http.StatusBadRequest, "not an access token")
}

// TestUnauthorizedNamesBothSchemes: a 401 advertises the legacy key's
// scheme and the access token's.
func TestUnauthorizedNamesBothSchemes(t *testing.T) {
	env, _ := newTokenEnv(t)
	for _, h := range []http.Header{{}, {"Authorization": {"Bearer not-a-jwt"}}} {
		r := env.requestWith("GET", "/api/projects/", nil, h)
		got := strings.Join(r.header.Values("WWW-Authenticate"), ", ")
		if want := `Token realm="api", Bearer realm="api"`; r.status != http.StatusUnauthorized || got != want {
			t.Errorf("%v: %d with WWW-Authenticate %q, want 401 with %q", h, r.status, got, want)
		}
	}
}

// TestRevokeTokenByID revokes a token by the id its listing shows, as the
// account page does; only the caller's own live tokens can be named.
func TestRevokeTokenByID(t *testing.T) {
	env, _ := newTokenEnv(t)
	kept, gone := env.createPAT(env.token), env.createPAT(env.token)
	var list []createdToken
	env.request("GET", "/api/token/", nil).json(t, &list)
	if len(list) != 2 || list[0].ID != kept.ID || list[1].ID != gone.ID || kept.ID == gone.ID {
		t.Fatalf("list %+v, want the ids %d and %d", list, kept.ID, gone.ID)
	}
	_, annKey, err := env.db.AddUser(t.Context(), blobmark.NewUser{Email: "ann@example.com", Password: "pw", OrganizationID: env.user.OrganizationID})
	if err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/api/token/%d/", gone.ID)
	r := env.requestWith("DELETE", path, nil, http.Header{"Authorization": {"Token " + annKey}})
	wantRefused(t, "a colleague revoking our token", r, http.StatusNotFound, "Not found.")
	env.accessOf(gone.Token) // still alive

	if r := env.request("DELETE", path, nil); r.status != http.StatusNoContent {
		t.Fatalf("DELETE %s: status %d, want 204; body %s", path, r.status, r.raw)
	}
	wantRefused(t, "refresh of the revoked token", env.refresh(gone.Token), http.StatusUnauthorized, "Token is blacklisted.")
	env.accessOf(kept.Token)
	env.request("GET", "/api/token/", nil).json(t, &list)
	if len(list) != 1 || list[0].ID != kept.ID {
		t.Fatalf("list after revoking %d: %+v", gone.ID, list)
	}
	for _, p := range []string{path, "/api/token/abc/", "/api/token/0/"} {
		wantRefused(t, "DELETE "+p, env.request("DELETE", p, nil), http.StatusNotFound, "Not found.")
	}
}

func TestTokenSettings(t *testing.T) {
	env, _ := newTokenEnv(t)
	_, annKey, err := env.db.AddUser(t.Context(), blobmark.NewUser{Email: "ann@example.com", Password: "pw", OrganizationID: env.user.OrganizationID})
	if err != nil {
		t.Fatal(err)
	}
	ann := http.Header{"Authorization": {"Token " + annKey}}
	var set blobmark.TokenSettings
	env.requestWith("GET", "/api/jwt/settings", nil, ann).json(t, &set)
	if set != (blobmark.TokenSettings{APITokenTTLDays: 30, APITokensEnabled: true, LegacyAPITokensEnabled: true}) {
		t.Fatalf("default settings %+v", set)
	}
	wantRefused(t, "annotator changing settings", env.requestWith("POST", "/api/jwt/settings", map[string]any{"api_token_ttl_days": 3}, ann),
		http.StatusForbidden, "cannot manage members")

	for body, field := range map[string]string{
		`{}`:                             "api_token_ttl_days",
		`{"api_token_ttl_days": 0}`:      "api_token_ttl_days",
		`{"api_token_ttl_days": 3651}`:   "api_token_ttl_days",
		`{"api_token_ttl_days": 1.5}`:    "api_token_ttl_days",
		`{"api_token_ttl_days": "many"}`: "api_token_ttl_days",
		`{"api_token_ttl_days": 3, "api_tokens_enabled": "no"}`: "api_tokens_enabled",
	} {
		r := env.request("POST", "/api/jwt/settings", body)
		if r.status != http.StatusBadRequest || len(r.envelope(t).ValidationErrors[field]) == 0 {
			t.Fatalf("%s: status %d, body %s; want 400 naming %s", body, r.status, r.raw, field)
		}
	}
	env.must(http.StatusOK, "GET", "/api/jwt/settings", nil).json(t, &set)
	if set.APITokenTTLDays != 30 {
		t.Fatalf("refused updates changed the settings: %+v", set)
	}

	// A flag left out keeps its value; the lifetime applies to new tokens.
	env.must(http.StatusOK, "POST", "/api/jwt/settings", map[string]any{"api_token_ttl_days": 7, "api_tokens_enabled": true}).json(t, &set)
	if set != (blobmark.TokenSettings{APITokenTTLDays: 7, APITokensEnabled: true, LegacyAPITokensEnabled: true}) {
		t.Fatalf("updated settings %+v", set)
	}
	pat := env.createPAT(env.token)
	if d := pat.ExpiresAt.Sub(pat.CreatedAt); d != 7*24*time.Hour {
		t.Fatalf("token lifetime %v after setting 7 days", d)
	}

	// Legacy keys off: Token is refused, Bearer works, no new legacy key.
	access := env.accessOf(pat.Token)
	env.bearer(access, "POST", "/api/jwt/settings", map[string]any{"api_token_ttl_days": 7, "legacy_api_tokens_enabled": false})
	wantRefused(t, "legacy key when disabled", env.request("GET", "/api/projects/", nil), http.StatusUnauthorized, "Legacy API tokens are disabled")
	if r := env.bearer(access, "GET", "/api/projects/", nil); r.status != http.StatusOK {
		t.Fatalf("Bearer with legacy keys off: %d %s", r.status, r.raw)
	}
	wantRefused(t, "reset with legacy keys off", env.bearer(access, "POST", "/api/current-user/reset-token/", nil), http.StatusForbidden, "Legacy API tokens are disabled")

	// API tokens off: no new token, and the existing ones stop.
	env.bearer(access, "POST", "/api/jwt/settings", map[string]any{"api_token_ttl_days": 7, "api_tokens_enabled": false, "legacy_api_tokens_enabled": true})
	wantRefused(t, "creating a PAT when disabled", env.request("POST", "/api/token/", nil), http.StatusForbidden, "Personal access tokens are disabled")
	wantRefused(t, "refresh when disabled", env.refresh(pat.Token), http.StatusUnauthorized, "Personal access tokens are disabled")
	wantRefused(t, "Bearer when disabled", env.bearer(access, "GET", "/api/projects/", nil), http.StatusUnauthorized, "Personal access tokens are disabled")
}

func TestLegacyKeyRoutes(t *testing.T) {
	env, _ := newTokenEnv(t)
	var got struct {
		Token  *string `json:"token"`
		Detail string  `json:"detail"`
	}
	env.must(http.StatusOK, "GET", "/api/current-user/token", nil).json(t, &got)
	if got.Token == nil || *got.Token != "" || !strings.Contains(got.Detail, env.token[:6]) || !strings.Contains(got.Detail, "reset-token") {
		t.Fatalf("GET /api/current-user/token = %+v", got)
	}
	if strings.Contains(got.Detail, env.token) {
		t.Fatal("the legacy key was shown")
	}
	var reset struct{ Token string }
	env.must(http.StatusCreated, "POST", "/api/current-user/reset-token/", nil).json(t, &reset)
	wantRefused(t, "the old key", env.request("GET", "/api/projects/", nil), http.StatusUnauthorized, "Invalid token.")
	env.token = reset.Token
	env.must(http.StatusOK, "GET", "/api/projects/", nil)
}
