package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/server"
)

// The permission table, written out by hand: for every route, the least
// powerful role that may call it, or "public". Roles are ordered
// OW > AD > MA > RE > AN; a route open to MA is open to AD and OW. Every
// route the server serves must have a row (TestPermissionTable fails for a
// route without one, so a new route cannot ship without a decision), and
// deactivated (DI) and not activated (NO) members are refused everywhere
// but on public routes.
//
// The fixtures decide the object-level rules: the project's reviewer and
// annotator are its members, and the annotation the routes name is the
// owner's, so another member's work is what they reach.
var minimumRole = map[string]string{
	"GET /healthz": "public",
	"GET /readyz":  "public",

	"GET /api/projects/{$}":                        "AN",
	"POST /api/projects/{$}":                       "MA",
	"GET /api/projects/{id}/{$}":                   "AN",
	"PATCH /api/projects/{id}/{$}":                 "MA",
	"DELETE /api/projects/{id}/{$}":                "MA",
	"POST /api/projects/{id}/import":               "MA",
	"GET /api/projects/{id}/export":                "MA",
	"GET /api/projects/{id}/export/formats":        "MA",
	"GET /api/projects/{id}/exports/{$}":           "MA",
	"POST /api/projects/{id}/exports/{$}":          "MA",
	"GET /api/projects/{id}/exports/{pk}":          "MA",
	"DELETE /api/projects/{id}/exports/{pk}":       "MA",
	"POST /api/projects/{id}/exports/{pk}/convert": "MA",
	"GET /api/projects/{id}/exports/{pk}/download": "MA",
	"GET /api/version/{$}":                         "public",
	"GET /api/tasks/{$}":                           "AN",
	"GET /api/tasks/{id}/{$}":                      "AN",
	"PATCH /api/tasks/{id}/{$}":                    "MA",
	"DELETE /api/tasks/{id}/{$}":                   "MA",
	"GET /api/tasks/{id}/annotations/{$}":          "AN",
	"POST /api/tasks/{id}/annotations/{$}":         "AN",
	"GET /api/annotations/{id}/{$}":                "RE",
	"PATCH /api/annotations/{id}/{$}":              "RE",
	"DELETE /api/annotations/{id}/{$}":             "RE",

	"GET /api/projects/{id}/next/{$}":            "AN",
	"GET /api/projects/{id}/next":                "AN",
	"POST /api/tasks/{id}/lock":                  "AN",
	"DELETE /api/tasks/{id}/lock":                "AN",
	"GET /api/predictions/{$}":                   "AN",
	"POST /api/predictions/{$}":                  "MA",
	"POST /api/predictions":                      "MA",
	"GET /api/predictions/{id}/{$}":              "AN",
	"PATCH /api/predictions/{id}/{$}":            "MA",
	"DELETE /api/predictions/{id}/{$}":           "MA",
	"POST /api/projects/{id}/import/predictions": "MA",

	"POST /api/auth/login":           "public",
	"POST /api/auth/logout":          "public",
	"GET /api/current-user/whoami":   "AN",
	"GET /{$}":                       "public",
	"GET /static/":                   "public",
	"GET /user/login/{$}":            "public",
	"GET /projects/{$}":              "public",
	"GET /projects/{id}/data":        "public",
	"GET /projects/{id}/settings":    "public",
	"GET /projects/{id}/storage":     "public",
	"GET /projects/{id}/label":       "public",
	"GET /tasks/{id}/resolve/{$}":    "AN",
	"GET /projects/{id}/resolve/{$}": "AN",

	// Tokens: one's own (tokens.go); the organization's settings are an
	// administrator's to change.
	"GET /api/token/{$}":                     "AN",
	"POST /api/token/{$}":                    "AN",
	"POST /api/token/refresh/{$}":            "public",
	"POST /api/token/blacklist/{$}":          "AN",
	"POST /api/token/rotate/{$}":             "AN",
	"DELETE /api/token/{id}/{$}":             "AN",
	"GET /api/jwt/settings":                  "AN",
	"POST /api/jwt/settings":                 "AD",
	"GET /api/current-user/token":            "AN",
	"POST /api/current-user/reset-token/{$}": "AN",

	// Users, organizations and members (members.go). A member reads and
	// edits its own user (objectRules: someone else's).
	"GET /api/users/{$}":                                    "MA",
	"POST /api/users/{$}":                                   "AD",
	"GET /api/users/{id}/{$}":                               "AN",
	"PATCH /api/users/{id}/{$}":                             "AN",
	"DELETE /api/users/{id}/{$}":                            "AD",
	"GET /api/current-user":                                 "AN",
	"PATCH /api/current-user":                               "AN",
	"GET /api/organizations/{$}":                            "AN",
	"GET /api/organizations/{id}":                           "AN",
	"PATCH /api/organizations/{id}":                         "AD",
	"GET /api/organizations/{id}/memberships":               "MA",
	"PATCH /api/organizations/{id}/memberships":             "AD",
	"GET /api/organizations/{id}/memberships/{user}/{$}":    "MA",
	"DELETE /api/organizations/{id}/memberships/{user}/{$}": "AD",
	"GET /api/projects/{id}/members/{$}":                    "MA",
	"GET /api/projects/{id}/members":                        "MA",
	"POST /api/projects/{id}/members/{$}":                   "MA",
	"POST /api/projects/{id}/members":                       "MA",
	"DELETE /api/projects/{id}/members/{$}":                 "MA",
	"GET /api/projects/{id}/members/paginated/{$}":          "MA",
	"POST /api/projects/{id}/members/bulk/{$}":              "MA",
	"DELETE /api/projects/{id}/members/bulk/{$}":            "MA",
	"GET /organization/members/{$}":                         "public",
	"GET /user/signup/{$}":                                  "public",
	"GET /user/account/{$}":                                 "public",

	// Invitations (invites.go): accepting one is how a newcomer signs up.
	"POST /api/invites/{$}":        "AD",
	"GET /api/invites/{$}":         "AD",
	"DELETE /api/invites/{id}/{$}": "AD",
	"GET /api/invites/accept":      "public",
	"POST /api/invites/accept":     "public",

	"GET /api/webhooks/{$}":             "MA",
	"POST /api/webhooks/{$}":            "MA",
	"GET /api/webhooks/{id}/{$}":        "MA",
	"PATCH /api/webhooks/{id}/{$}":      "MA",
	"DELETE /api/webhooks/{id}/{$}":     "MA",
	"GET /api/webhooks/{id}/deliveries": "MA",

	// Data Manager: annotators open the project's saved views, reviewers
	// save and arrange them, managers run bulk actions.
	"GET /api/dm/views/{$}":          "AN",
	"POST /api/dm/views/{$}":         "RE",
	"POST /api/dm/views":             "RE",
	"GET /api/dm/views/{id}/{$}":     "AN",
	"PATCH /api/dm/views/{id}/{$}":   "RE",
	"DELETE /api/dm/views/{id}/{$}":  "RE",
	"POST /api/dm/views/order/{$}":   "RE",
	"DELETE /api/dm/views/reset/{$}": "RE",
	"GET /api/dm/columns/{$}":        "AN",
	"GET /api/dm/actions/{$}":        "AN",
	"POST /api/dm/actions/{$}":       "MA",
	"POST /api/dm/actions":           "MA",
}

// storageRoute matches the storage routes, every one of which needs a
// manager (storages with their own credential); the host identity cases
// below need more.
var storageRoute = regexp.MustCompile(`^[A-Z]+ /api/storages/`)

// storageEventPush matches Azure's event pushes, which authenticate with
// the storage's own event secret rather than a member's credentials.
var storageEventPush = regexp.MustCompile(`^(POST|OPTIONS) /api/storages/[a-z_]+/\{id\}/events$`)

// rank orders the active roles from the most to the least powerful.
var rank = []blobmark.Role{blobmark.RoleOwner, blobmark.RoleAdmin, blobmark.RoleManager, blobmark.RoleReviewer, blobmark.RoleAnnotator}

// allowed reports whether role may call a route whose minimum is min.
func allowed(role blobmark.Role, min string) bool {
	if min == "public" {
		return true
	}
	i := slices.Index(rank, role)
	return i >= 0 && i <= slices.Index(rank, blobmark.Role(min))
}

func minimumOf(pattern string) (string, bool) {
	if min, ok := minimumRole[pattern]; ok {
		return min, true
	}
	switch {
	case storageEventPush.MatchString(pattern):
		return "public", true
	case storageRoute.MatchString(pattern):
		return "MA", true
	}
	return "", false
}

// permissionEnv is a server with one member of each role in one
// organization, and the owner's project with everything routes name.
type permissionEnv struct {
	t       *testing.T
	srv     *server.Server
	api     *httptest.Server
	tokens  map[blobmark.Role]string
	users   map[blobmark.Role]*blobmark.User
	ownerCx context.Context
	members int // fixture members made so far
	// other is a project of the organization the reviewer and the
	// annotator are not members of.
	other int64
}

func newPermissionEnv(t *testing.T, cfg server.Config) *permissionEnv {
	srv, err := server.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &permissionEnv{t: t, srv: srv, api: httptest.NewServer(srv.Handler()),
		tokens: map[blobmark.Role]string{}, users: map[blobmark.Role]*blobmark.User{}}
	t.Cleanup(func() {
		e.api.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	})
	var org int64
	for _, role := range blobmark.Roles {
		u, token, err := srv.DB.AddUser(context.Background(), blobmark.NewUser{
			Email: strings.ToLower(string(role)) + "@example.com", Password: "password-123",
			Organization: "Acme", OrganizationID: org, Role: role})
		if err != nil {
			t.Fatal(err)
		}
		org = u.OrganizationID
		e.tokens[role], e.users[role] = token, u
	}
	e.ownerCx = blobmark.NewContextWithUser(context.Background(), e.users[blobmark.RoleOwner])
	e.other = e.project().ID
	return e
}

// fixture is what one request's path names: a fresh project with a task,
// the owner's annotation, the annotator's own annotation, storages and a
// webhook, so a route that deletes or changes one leaves the next
// request's alone.
type fixture struct {
	project, task, annotation, ownAnnotation, source, hostSource, target, webhook, prediction, view int64
	// export is a snapshot of project, for the routes' {pk}.
	export int64
	// member is a fresh annotator of the organization, for the routes that
	// change or deactivate a user; invite is a pending invitation.
	member, organization, invite int64
	// token is a personal access token of the owner's: other roles
	// revoking it are answered 404, not refused.
	token int64
}

func (e *permissionEnv) project() *blobmark.Project {
	p := &blobmark.Project{Title: "p", LabelConfig: `<View><Image name="img" value="$image"/><Choices name="c" toName="img"><Choice value="a"/></Choices></View>`}
	if err := e.srv.DB.CreateProject(e.ownerCx, p); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *permissionEnv) fixture(pattern string) fixture {
	t, ctx, db := e.t, e.ownerCx, e.srv.DB
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	p := e.project()
	for _, r := range blobmark.Roles[3:] { // RE, AN, DI, NO
		must(db.AddProjectMember(ctx, p.ID, e.users[r].ID))
	}
	if _, err := db.ImportTasks(ctx, p.ID, []*blobmark.TaskImport{{Data: json.RawMessage(`{"image":"azure-blob://c/a.jpg"}`)}}); err != nil {
		t.Fatal(err)
	}
	list, err := db.FindTasks(ctx, blobmark.TaskFilter{ProjectID: p.ID})
	must(err)
	f := fixture{project: p.ID, task: list.Tasks[0].ID}
	annotate := func(ctx context.Context) int64 {
		a := &blobmark.Annotation{TaskID: f.task, Result: json.RawMessage(`[]`)}
		must(db.CreateAnnotation(ctx, a))
		return a.ID
	}
	f.annotation = annotate(ctx)
	f.ownAnnotation = annotate(blobmark.NewContextWithUser(context.Background(), e.users[blobmark.RoleAnnotator]))
	source := func(conn blobmark.Connection) int64 {
		s := &blobmark.SourceStorage{ProjectID: p.ID, Type: blobmark.StorageTypeAzure, Container: "c", Connection: conn}
		must(db.CreateSourceStorage(ctx, s))
		return s.ID
	}
	f.source = source(blobmark.Connection{"auth_type": "account_key", "account_name": "acct"})
	f.hostSource = source(blobmark.Connection{"auth_type": "managed_identity", "account_name": "acct"})
	target := &blobmark.TargetStorage{ProjectID: p.ID, Type: blobmark.StorageTypeAzure, Container: "c",
		Connection: blobmark.Connection{"auth_type": "account_key", "account_name": "acct"}}
	must(db.CreateTargetStorage(ctx, target, false))
	f.target = target.ID
	hook := &blobmark.Webhook{OrganizationID: e.users[blobmark.RoleOwner].OrganizationID, ProjectID: p.ID, URL: "https://hooks.example.com/x", IsActive: true}
	must(db.CreateWebhook(ctx, hook))
	f.webhook = hook.ID
	f.organization = p.OrganizationID
	if strings.Contains(pattern, "/api/users/{id}") || strings.Contains(pattern, "{user}") {
		// A user costs a password hash: made only for the routes that
		// name one.
		e.members++
		member, _, err := db.AddUser(context.Background(), blobmark.NewUser{Email: fmt.Sprintf("member%d@example.com", e.members),
			Password: "password-123", OrganizationID: p.OrganizationID, Role: blobmark.RoleAnnotator})
		must(err)
		f.member = member.ID
	}
	inv := &blobmark.Invite{OrganizationID: p.OrganizationID, Role: blobmark.RoleAnnotator}
	_, err = db.CreateInvite(ctx, inv, "")
	must(err)
	f.invite = inv.ID
	pred := &blobmark.Prediction{TaskID: f.task, Result: json.RawMessage(`[]`)}
	must(db.CreatePredictions(ctx, p.ID, []*blobmark.Prediction{pred}))
	f.prediction = pred.ID
	view := &blobmark.View{ProjectID: p.ID, Data: json.RawMessage(`{"title":"v"}`)}
	must(db.CreateView(ctx, view))
	f.view = view.ID
	pat, err := db.CreatePersonalToken(ctx, e.users[blobmark.RoleOwner].ID, time.Now())
	must(err)
	f.token = pat.ID
	snap := &blobmark.ExportSnapshot{ProjectID: p.ID}
	must(db.CreateExportSnapshot(ctx, snap))
	f.export = snap.ID
	return f
}

// pathParam fills a pattern's {id} with the fixture object its path names.
var pathParam = []struct {
	prefix string
	id     func(f fixture) int64
}{
	{"/api/projects/", func(f fixture) int64 { return f.project }},
	{"/projects/", func(f fixture) int64 { return f.project }},
	{"/api/tasks/", func(f fixture) int64 { return f.task }},
	{"/tasks/", func(f fixture) int64 { return f.task }},
	{"/api/annotations/", func(f fixture) int64 { return f.annotation }},
	{"/api/storages/export/", func(f fixture) int64 { return f.target }},
	{"/api/storages/", func(f fixture) int64 { return f.source }},
	{"/api/webhooks/", func(f fixture) int64 { return f.webhook }},
	{"/api/users/", func(f fixture) int64 { return f.member }},
	{"/api/organizations/", func(f fixture) int64 { return f.organization }},
	{"/api/invites/", func(f fixture) int64 { return f.invite }},
	{"/api/predictions/", func(f fixture) int64 { return f.prediction }},
	{"/api/dm/views/", func(f fixture) int64 { return f.view }},
	{"/api/token/", func(f fixture) int64 { return f.token }},
}

// concrete turns a route pattern into a request path for fixture f.
func concrete(t *testing.T, pattern string, f fixture) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	path = strings.TrimSuffix(path, "{$}")
	if strings.Contains(path, "{id}") {
		var id int64
		for _, p := range pathParam {
			if strings.HasPrefix(path, p.prefix) {
				id = p.id(f)
				break
			}
		}
		if id == 0 {
			t.Fatalf("%s: no fixture for its {id}; add one to pathParam", pattern)
		}
		path = strings.Replace(path, "{id}", fmt.Sprint(id), 1)
	}
	path = strings.Replace(path, "{user}", fmt.Sprint(f.member), 1)
	path = strings.Replace(path, "{pk}", fmt.Sprint(f.export), 1)
	if strings.Contains(path, "{") {
		t.Fatalf("%s: no fixture for a path parameter; add one to pathParam", pattern)
	}
	return method, path + "?project=" + fmt.Sprint(f.project)
}

// call sends a request as role (no credentials for ""), with body as JSON.
func (e *permissionEnv) call(role blobmark.Role, method, path string, body any) (int, string) {
	e.t.Helper()
	status, _, raw := send(e.t, e.api.URL, e.tokens[role], method, path, body)
	if strings.HasPrefix(path, "/api/current-user/reset-token/") && status == http.StatusCreated {
		// The role's key was replaced: later requests need the new one.
		var out struct{ Token string }
		if err := json.Unmarshal(raw, &out); err != nil || out.Token == "" {
			e.t.Fatalf("reset-token answered %s", raw)
		}
		e.tokens[role] = out.Token
	}
	return status, string(raw)
}

// check asserts role's answer: refused (401 for inactive roles, 403
// otherwise) or not refused, as the table says.
func (e *permissionEnv) check(name string, role blobmark.Role, min, method, path string, body any) {
	e.t.Helper()
	status, raw := e.call(role, method, path, body)
	refused := status == http.StatusForbidden || status == http.StatusUnauthorized
	switch {
	case !role.Active() && min != "public":
		if status != http.StatusUnauthorized {
			e.t.Errorf("%s as %s: %d %.200s, want 401 (inactive)", name, role, status, raw)
		}
	case strings.Contains(raw, "trailing slash matters") || status == http.StatusMethodNotAllowed:
		e.t.Errorf("%s as %s: %d %.200s: the request reached no route", name, role, status, raw)
	case allowed(role, min):
		if refused || status >= 500 {
			e.t.Errorf("%s as %s: %d %.200s, want it allowed (minimum %s)", name, role, status, raw, min)
		}
	default:
		if status != http.StatusForbidden {
			e.t.Errorf("%s as %s: %d %.200s, want 403 (minimum %s)", name, role, status, raw, min)
		} else if !strings.Contains(raw, `"detail"`) || !strings.Contains(raw, "permission") {
			e.t.Errorf("%s as %s: 403 without Label Studio's envelope: %.200s", name, role, raw)
		}
	}
}

// TestPermissionTable walks every route of the server as every role, on
// both databases, and checks each answer against the table above; then
// the cases the route alone does not decide.
func TestPermissionTable(t *testing.T) {
	for _, db := range []struct {
		name string
		cfg  func(t *testing.T) server.Config
	}{
		{"sqlite", func(t *testing.T) server.Config { return server.Config{DataDir: t.TempDir()} }},
		{"postgres", func(t *testing.T) server.Config {
			return server.Config{DatabaseURL: postgresSchemaURL(t), DataDir: t.TempDir()}
		}},
	} {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			e := newPermissionEnv(t, db.cfg(t))
			routes := e.srv.API.Routes()
			if len(routes) < 50 {
				t.Fatalf("only %d routes", len(routes))
			}
			for _, rt := range routes {
				min, ok := minimumOf(rt.Pattern)
				if !ok {
					t.Errorf("route %q has no row in the permission table", rt.Pattern)
					continue
				}
				if (min == "public") != (rt.Needs == "") {
					t.Errorf("route %q: the table says %s, the server needs %q", rt.Pattern, min, rt.Needs)
					continue
				}
				if strings.HasPrefix(rt.Pattern, "GET /static/") || (min == "public" && !strings.HasPrefix(rt.Pattern, "GET /api/")) {
					continue // pages and probes: nothing to refuse
				}
				f := e.fixture(rt.Pattern)
				method, path := concrete(t, rt.Pattern, f)
				for _, role := range blobmark.Roles {
					body := any(nil)
					if method == http.MethodPost || method == http.MethodPatch {
						body = map[string]any{}
					}
					if method == http.MethodDelete {
						method, path = concrete(t, rt.Pattern, e.fixture(rt.Pattern))
					}
					if rt.Pattern == "GET /api/users/{id}/{$}" || rt.Pattern == "PATCH /api/users/{id}/{$}" {
						path = fmt.Sprintf("/api/users/%d/", e.users[role].ID) // one's own
					}
					e.check(rt.Pattern, role, min, method, path, body)
				}
			}
			e.objectRules(t)
		})
	}
}

// objectRules checks what the route alone does not decide: whose
// annotations a member sees, which projects, and which storages.
func (e *permissionEnv) objectRules(t *testing.T) {
	f := e.fixture("GET /api/users/{id}/")
	for _, role := range blobmark.Roles {
		own := fmt.Sprintf("/api/annotations/%d/", e.fixture("").ownAnnotation)
		// A member's own annotation is theirs to see, change and delete.
		e.check("own annotation", role, "AN", "GET", own, nil)
		e.check("own annotation", role, "AN", "PATCH", own, map[string]any{"result": []any{}})
		e.check("own annotation", role, "AN", "DELETE", own, nil)
		// Storages that use the server's identity are an administrator's.
		host := fmt.Sprintf("/api/storages/azure/%d", f.hostSource)
		e.check("host identity storage", role, "AD", "PATCH", host, map[string]any{"title": "t"})
		e.check("host identity storage", role, "AD", "DELETE", fmt.Sprintf("/api/storages/azure/%d", e.fixture("").hostSource), nil)
		e.check("host identity storage", role, "AD", "POST", "/api/storages/azure/",
			map[string]any{"project": f.project, "container": "c", "auth_type": "server_identity", "account_name": "acct"})
		e.check("host identity storage", role, "AD", "POST", "/api/storages/azure/validate",
			map[string]any{"project": f.project, "container": "c", "managed_identity_client_id": "00000000-0000-0000-0000-000000000000", "account_name": "acct"})
		e.check("own-credential storage", role, "MA", "POST", "/api/storages/azure/",
			map[string]any{"project": f.project, "container": "c", "account_name": "acct"})
	}

	// Another member's account: managers and up read it, administrators
	// change it; below a manager it does not exist.
	other := fmt.Sprintf("/api/users/%d/", f.member)
	for _, role := range rank {
		for method, min := range map[string]blobmark.Role{"GET": blobmark.RoleManager, "PATCH": blobmark.RoleAdmin} {
			status, raw := e.call(role, method, other, map[string]any{"first_name": "X"})
			want := http.StatusOK
			switch {
			case !role.SeesAllProjects():
				want = http.StatusNotFound
			case !allowed(role, string(min)):
				want = http.StatusForbidden
			}
			if status != want {
				t.Errorf("%s %s another member as %s: %d %.200s, want %d", method, other, role, status, raw, want)
			}
		}
	}

	// Reviewers and annotators see the projects they are members of only:
	// the others are hidden (404 on the project's own routes, absent from
	// the list), for managers and up they are all there.
	for _, role := range rank {
		status, raw := e.call(role, "GET", fmt.Sprintf("/api/projects/%d/", e.other), nil)
		hidden := !role.SeesAllProjects()
		if hidden && status != http.StatusNotFound || !hidden && status != http.StatusOK {
			t.Errorf("%s reads a project it is not a member of: %d %.200s", role, status, raw)
		}
		var list struct {
			Results []struct{ ID int64 } `json:"results"`
		}
		_, raw = e.call(role, "GET", "/api/projects/?page_size=1000", nil)
		if err := json.Unmarshal([]byte(raw), &list); err != nil {
			t.Fatalf("project list: %v %.200s", err, raw)
		}
		listed := slices.ContainsFunc(list.Results, func(p struct{ ID int64 }) bool { return p.ID == e.other })
		if listed == hidden {
			t.Errorf("%s: the project list shows a project it is not a member of: %v", role, listed)
		}
	}

	// An annotator sees its own annotations in a task and nobody else's;
	// a reviewer sees them all.
	for role, want := range map[blobmark.Role]int{blobmark.RoleAnnotator: 1, blobmark.RoleReviewer: 2} {
		_, raw := e.call(role, "GET", fmt.Sprintf("/api/tasks/%d/", f.task), nil)
		var task struct {
			Annotations []struct {
				CompletedBy int64 `json:"completed_by"`
			} `json:"annotations"`
		}
		if err := json.Unmarshal([]byte(raw), &task); err != nil {
			t.Fatal(err)
		}
		if len(task.Annotations) != want {
			t.Errorf("%s sees %d annotations of the task, want %d: %.300s", role, len(task.Annotations), want, raw)
		}
		for _, a := range task.Annotations {
			if role == blobmark.RoleAnnotator && a.CompletedBy != e.users[role].ID {
				t.Errorf("the annotator sees user %d's annotation", a.CompletedBy)
			}
		}
		_, raw = e.call(role, "GET", fmt.Sprintf("/api/tasks/%d/annotations/", f.task), nil)
		var anns []json.RawMessage
		if err := json.Unmarshal([]byte(raw), &anns); err != nil || len(anns) != want {
			t.Errorf("%s lists %d annotations of the task, want %d: %.300s", role, len(anns), want, raw)
		}
	}
}
