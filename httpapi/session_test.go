package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// signIn posts the test user's password and returns the session and CSRF
// cookies the answer set.
func (e *testEnv) signIn() (session, csrf *http.Cookie) {
	e.t.Helper()
	r := e.requestWith("POST", "/api/auth/login",
		map[string]string{"email": e.user.Email, "password": "correct horse battery staple"}, http.Header{})
	if r.status != http.StatusOK {
		e.t.Fatalf("login: status %d body %s", r.status, r.raw)
	}
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		switch c.Name {
		case "blobmark_session":
			session = c
		case "blobmark_csrf":
			csrf = c
		}
	}
	if session == nil || csrf == nil {
		e.t.Fatalf("login set cookies %q, want blobmark_session and blobmark_csrf", r.header.Values("Set-Cookie"))
	}
	return session, csrf
}

func cookieHeader(cs ...*http.Cookie) http.Header {
	var parts []string
	for _, c := range cs {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return http.Header{"Cookie": {strings.Join(parts, "; ")}}
}

func TestSessionSignIn(t *testing.T) {
	e := newTestEnv(t)

	bad := e.requestWith("POST", "/api/auth/login", map[string]string{"email": e.user.Email, "password": "wrong"}, http.Header{})
	if bad.status != http.StatusUnauthorized || !strings.Contains(bad.envelope(t).Detail, "wrong") {
		t.Errorf("wrong password: status %d body %s, want 401 saying what is wrong", bad.status, bad.raw)
	}
	if len(bad.header.Values("Set-Cookie")) != 0 {
		t.Errorf("a failed login set cookies: %q", bad.header.Values("Set-Cookie"))
	}
	missing := e.requestWith("POST", "/api/auth/login", map[string]string{}, http.Header{})
	if ve := missing.envelope(t).ValidationErrors; missing.status != 400 || ve["email"] == nil || ve["password"] == nil {
		t.Errorf("empty login: status %d body %s, want 400 naming email and password", missing.status, missing.raw)
	}
	form := e.requestWith("POST", "/api/auth/login", "email=a&password=b",
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	if form.status != http.StatusBadRequest {
		t.Errorf("form-encoded login (what a cross-site form can send): status %d, want 400", form.status)
	}

	session, csrf := e.signIn()
	if !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/" {
		t.Errorf("session cookie HttpOnly=%v SameSite=%v Path=%q, want HttpOnly, Lax, /", session.HttpOnly, session.SameSite, session.Path)
	}
	if csrf.HttpOnly {
		t.Error("the CSRF cookie is HttpOnly; the page's scripts must read it")
	}
	if strings.Contains(session.Value, e.token) || strings.Contains(csrf.Value, session.Value) {
		t.Error("a cookie carries the API token or the CSRF cookie reveals the session")
	}

	var who struct {
		ID    int64  `json:"id"`
		Email string `json:"email"`
	}
	r := e.requestWith("GET", "/api/current-user/whoami", nil, cookieHeader(session))
	r.json(t, &who)
	if r.status != 200 || who.ID != e.user.ID || who.Email != e.user.Email {
		t.Errorf("whoami with the session: status %d body %s", r.status, r.raw)
	}
	// Token callers get the same answer.
	if r := e.request("GET", "/api/current-user/whoami", nil); r.status != 200 {
		t.Errorf("whoami with the token: status %d", r.status)
	}

	forged := *session
	forged.Value = strings.Replace(session.Value, ".", "x.", 1)
	if r := e.requestWith("GET", "/api/projects/?page=1", nil, cookieHeader(&forged)); r.status != http.StatusUnauthorized {
		t.Errorf("forged session: status %d, want 401", r.status)
	}
}

func TestSessionCSRF(t *testing.T) {
	e := newTestEnv(t)
	session, csrf := e.signIn()
	body := map[string]string{"title": "p", "label_config": `<View><Text name="t" value="$text"/><Choices name="c" toName="t"><Choice value="a"/></Choices></View>`}

	withToken := func(token string, extra http.Header) http.Header {
		h := cookieHeader(session, csrf)
		if token != "" {
			h.Set("X-CSRFToken", token)
		}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	cases := []struct {
		name   string
		header http.Header
		want   int
	}{
		{"no CSRF header", withToken("", nil), http.StatusForbidden},
		{"wrong CSRF header", withToken("x"+csrf.Value, nil), http.StatusForbidden},
		{"right header from another origin", withToken(csrf.Value, http.Header{"Origin": {"http://evil.example"}}), http.StatusForbidden},
		{"right header, cross-site fetch", withToken(csrf.Value, http.Header{"Sec-Fetch-Site": {"cross-site"}}), http.StatusForbidden},
		{"right header", withToken(csrf.Value, nil), http.StatusCreated},
		{"right header, same origin", withToken(csrf.Value, http.Header{"Origin": {e.srv.URL}, "Sec-Fetch-Site": {"same-origin"}}), http.StatusCreated},
	}
	for _, c := range cases {
		r := e.requestWith("POST", "/api/projects/", body, c.header)
		if r.status != c.want {
			t.Errorf("%s: status %d, want %d; body %s", c.name, r.status, c.want, r.raw)
		}
		if c.want == http.StatusForbidden && !strings.Contains(r.envelope(t).Detail, "CSRF") {
			t.Errorf("%s: detail %q does not name CSRF", c.name, r.envelope(t).Detail)
		}
	}
	// Reads need no CSRF token.
	if r := e.requestWith("GET", "/api/projects/?page=1", nil, cookieHeader(session)); r.status != 200 {
		t.Errorf("GET with the session only: status %d", r.status)
	}
	// A token caller is exempt, even with a stray session cookie and Origin.
	h := cookieHeader(session)
	h.Set("Authorization", "Token "+e.token)
	h.Set("Origin", "http://elsewhere.example")
	if r := e.requestWith("POST", "/api/projects/", body, h); r.status != http.StatusCreated {
		t.Errorf("token POST: status %d, want 201; body %s", r.status, r.raw)
	}
	// A login posted from another site is refused.
	if r := e.requestWith("POST", "/api/auth/login", map[string]string{"email": e.user.Email, "password": "correct horse battery staple"},
		http.Header{"Origin": {"http://evil.example"}}); r.status != http.StatusForbidden {
		t.Errorf("cross-origin login: status %d, want 403", r.status)
	}
}

func TestSessionSignOut(t *testing.T) {
	e := newTestEnv(t)
	session, csrf := e.signIn()
	if r := e.requestWith("POST", "/api/auth/logout", nil, cookieHeader(session)); r.status != http.StatusForbidden {
		t.Errorf("logout without the CSRF token: status %d, want 403", r.status)
	}
	h := cookieHeader(session, csrf)
	h.Set("X-CSRFToken", csrf.Value)
	r := e.requestWith("POST", "/api/auth/logout", nil, h)
	if r.status != http.StatusNoContent {
		t.Fatalf("logout: status %d body %s", r.status, r.raw)
	}
	cleared := 0
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.MaxAge < 0 {
			cleared++
		}
	}
	if cleared != 2 {
		t.Errorf("logout cleared %d cookies, want 2: %q", cleared, r.header.Values("Set-Cookie"))
	}
	if r := e.requestWith("GET", "/api/current-user/whoami", nil, cookieHeader(session)); r.status != http.StatusUnauthorized {
		t.Errorf("the signed-out session still works: status %d", r.status)
	}
	if r := e.requestWith("GET", "/api/current-user/whoami", nil, http.Header{}); r.status != http.StatusUnauthorized {
		t.Errorf("whoami without credentials: status %d, want 401", r.status)
	}
}

func TestUIRoutes(t *testing.T) {
	e := newTestEnv(t)
	client := e.srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	get := func(path string) *http.Response {
		t.Helper()
		res, err := client.Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	for _, p := range []string{"/", "/user/login/", "/projects/", "/projects/1/data", "/projects/1/storage", "/projects/1/settings", "/projects/1/label"} {
		res := get(p)
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
			t.Errorf("%s: %d %s, want an HTML page", p, res.StatusCode, res.Header.Get("Content-Type"))
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("%s: Content-Security-Policy %q does not restrict scripts to our origin", p, csp)
		}
	}
	if res := get("/static/app.js"); res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Type"), "javascript") {
		t.Errorf("/static/app.js: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if res := get("/static/nothing.js"); res.StatusCode != 404 {
		t.Errorf("/static/nothing.js: %d, want 404", res.StatusCode)
	}
	// The UI's pages do not swallow API paths: the slash hint still answers.
	r := e.request("GET", "/api/projects", nil)
	if r.status != 404 || !strings.Contains(r.envelope(t).Detail, "/api/projects/") {
		t.Errorf("/api/projects: %d %s, want the trailing-slash hint", r.status, r.raw)
	}
}
