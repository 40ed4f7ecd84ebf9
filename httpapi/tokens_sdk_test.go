package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// sdkTokenClient replays how Label Studio's SDK (client_ext.py,
// client_wrapper.py) authenticates with a personal access token: it keeps
// the key, exchanges it for an access token whenever the cached one is
// missing or expired by its own exp claim, and sends that as Bearer.
type sdkTokenClient struct {
	t      *testing.T
	env    *testEnv
	key    string
	now    func() time.Time
	access string
}

// newSDKTokenClient is the SDK's constructor: the key is decoded as a JWT
// without verification, and one with no exp, or an expired one, is refused
// before any request.
func newSDKTokenClient(t *testing.T, env *testEnv, key string, now func() time.Time) *sdkTokenClient {
	t.Helper()
	exp, ok := jwtClaims(t, key)["exp"].(float64)
	if !ok {
		t.Fatalf("the PAT has no numeric exp claim; the SDK raises a local 401")
	}
	if now().Unix() >= int64(exp) {
		t.Fatalf("the PAT is expired by its exp claim; the SDK raises a local 401")
	}
	return &sdkTokenClient{t: t, env: env, key: key, now: now}
}

// authorization returns the header the SDK sends, refreshing first when
// the cached access token is missing or expired.
func (c *sdkTokenClient) authorization() string {
	c.t.Helper()
	if c.access != "" {
		if exp, ok := jwtClaims(c.t, c.access)["exp"].(float64); ok && c.now().Unix() < int64(exp) {
			return "Bearer " + c.access
		}
	}
	// POST {"refresh": key} to urljoin(base_url, "api/token/refresh/") on
	// the raw httpx client: JSON body, no Authorization, no other headers.
	r := c.env.requestWith("POST", "/api/token/refresh/", map[string]string{"refresh": c.key}, nil)
	if r.status != http.StatusOK { // anything else, 201 included, raises
		c.t.Fatalf("refresh: status %d, the SDK accepts only 200; body %s", r.status, r.raw)
	}
	var body struct {
		Access string `json:"access"`
	}
	r.json(c.t, &body)
	if _, ok := jwtClaims(c.t, body.Access)["exp"].(float64); !ok {
		c.t.Fatalf("the access token has no exp claim: %s", r.raw)
	}
	c.access = body.Access
	return "Bearer " + c.access
}

// call sends one SDK request and requires the status want.
func (c *sdkTokenClient) call(want int, method, path string, body any) *response {
	c.t.Helper()
	r := c.env.requestWith(method, path, body, http.Header{"Authorization": {c.authorization()}})
	if r.status != want {
		c.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, want, r.raw)
	}
	return r
}

func TestSDKWithPersonalAccessToken(t *testing.T) {
	env, clock := newTokenEnv(t)

	// tokens.create: POST /api/token/ with no body and no Content-Type,
	// here with the legacy key; the SDK reads the model from any 2xx.
	r := env.requestWith("POST", "/api/token/", nil, http.Header{"Authorization": {"Token " + env.token}})
	if r.status/100 != 2 || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("tokens.create: status %d, Content-Type %q; body %s", r.status, r.header.Get("Content-Type"), r.raw)
	}
	var created createdToken
	r.json(t, &created)

	sdk := newSDKTokenClient(t, env, created.Token, clock.Now)
	before := countRefreshes(env)

	var p sdkProject
	sdk.call(http.StatusCreated, "POST", "/api/projects/", map[string]any{
		"title": "via PAT", "description": "made by the SDK test", "label_config": `<View><Text name="t" value="$text"/></View>`,
	}).json(t, &p)
	var page struct {
		Count   int          `json:"count"`
		Results []sdkProject `json:"results"`
	}
	sdk.call(http.StatusOK, "GET", "/api/projects/?page=1", nil).json(t, &page)
	if page.Count != 1 || len(page.Results) != 1 || page.Results[0].ID != p.ID {
		t.Fatalf("projects.list page 1 with Bearer: %+v", page)
	}
	sdk.call(http.StatusCreated, "POST", fmt.Sprintf("/api/projects/%d/import", p.ID), []map[string]any{{"text": "hello"}})
	q := url.Values{"fields": {"all"}, "page": {"1"}, "project": {fmt.Sprint(p.ID)}}
	var tasks struct {
		Tasks []sdkTask `json:"tasks"`
	}
	sdk.call(http.StatusOK, "GET", "/api/tasks/?"+q.Encode(), nil).json(t, &tasks)
	if len(tasks.Tasks) != 1 {
		t.Fatalf("tasks.list with Bearer: %+v", tasks)
	}
	var me struct{ ID int64 }
	sdk.call(http.StatusOK, "GET", "/api/current-user/whoami", nil).json(t, &me)
	if me.ID != env.user.ID {
		t.Fatalf("whoami with Bearer: user %d, want %d", me.ID, env.user.ID)
	}
	if got := countRefreshes(env) - before; got != 1 {
		t.Fatalf("%d refreshes for five calls within the access token's life, want 1", got)
	}

	// Once the access token expires by its exp claim, the SDK refreshes
	// again and carries on.
	clock.Advance(6 * time.Minute)
	sdk.call(http.StatusOK, "GET", "/api/projects/?page=1", nil)
	if got := countRefreshes(env) - before; got != 2 {
		t.Fatalf("%d refreshes after the access token expired, want 2", got)
	}
}

// countRefreshes counts the successful refreshes in the access log.
func countRefreshes(env *testEnv) int {
	return strings.Count(env.logs.String(), `route="POST /api/token/refresh/{$}" status=200`)
}
