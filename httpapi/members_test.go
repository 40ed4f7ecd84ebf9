package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/httpapi"
)

// member adds a user with role to the test user's organization and
// returns it with a function that sends requests as it.
func (e *testEnv) member(email string, role blobmark.Role) (*blobmark.User, func(want int, method, path string, body any) *response) {
	e.t.Helper()
	u, token, err := e.db.AddUser(e.t.Context(), blobmark.NewUser{Email: email, Password: "pw " + email, OrganizationID: e.user.OrganizationID, Role: role})
	if err != nil {
		e.t.Fatal(err)
	}
	return u, func(want int, method, path string, body any) *response {
		e.t.Helper()
		r := e.requestWith(method, path, body, http.Header{"Authorization": {"Token " + token}})
		if r.status != want {
			e.t.Fatalf("%s %s as %s: status %d, want %d; body %s", method, path, role, r.status, want, r.raw)
		}
		return r
	}
}

// withProjectAccess makes the test server check project access with the
// store, as the real server does.
func withProjectAccess(s *httpapi.Server) { s.ProjectAccess = s.Members.(blobmark.ProjectAuthorizer) }

// wantFieldError fails unless r is a 4xx naming field.
func wantFieldError(t *testing.T, r *response, status int, field string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	env := r.envelope(t)
	// Only validation errors (400) list fields; the others name it in the detail.
	if len(env.ValidationErrors[field]) == 0 && (status == http.StatusBadRequest || !strings.Contains(env.Detail, field)) {
		t.Fatalf("the error does not name %q: %s", field, r.raw)
	}
}

// TestCreateUserAndAddToProject follows Label Studio's SDK chain for a new
// annotator (label-studio-teams-wire.md §10.A).
func TestCreateUserAndAddToProject(t *testing.T) {
	e := newTestEnv(t, withProjectAccess)
	var p struct{ ID int64 }
	e.must(201, "POST", "/api/projects/", map[string]any{"title": "P"}).json(t, &p)

	var u struct {
		ID       int64
		Username string
		Email    string
	}
	e.must(201, "POST", "/api/users/", map[string]any{"username": "nina", "email": "nina@example.com", "password": "pw", "allow_newsletters": false}).json(t, &u)
	if u.Username != "nina" || u.Email != "nina@example.com" {
		t.Fatalf("created %+v", u)
	}
	var me struct {
		ActiveOrganization int64 `json:"active_organization"`
	}
	e.must(200, "GET", "/api/current-user/whoami", nil).json(t, &me)
	var m struct {
		ID   int64
		Role string
		User struct{ Email string }
	}
	e.must(200, "PATCH", fmt.Sprintf("/api/organizations/%d/memberships", me.ActiveOrganization), map[string]any{"user_id": u.ID, "role": "RE", "user_type": "standard"}).json(t, &m)
	if m.Role != "RE" || m.User.Email != "nina@example.com" {
		t.Fatalf("membership %+v", m)
	}
	if got := e.must(201, "POST", fmt.Sprintf("/api/projects/%d/members/", p.ID), map[string]any{"user": u.ID}).text(); !strings.Contains(got, fmt.Sprintf(`"user":%d`, u.ID)) {
		t.Fatalf("add member answered %s", got)
	}
	// Nina now reaches the project.
	ok, err := e.db.CanAccessProject(t.Context(), &blobmark.User{ID: u.ID}, p.ID)
	if err != nil || !ok {
		t.Fatalf("the new member cannot reach the project: %v %v", ok, err)
	}

	var page struct {
		Count   int
		Next    *string
		Results []struct {
			ID             int64
			ImplicitMember bool `json:"implicit_member"`
		}
	}
	e.must(200, "GET", fmt.Sprintf("/api/projects/%d/members/paginated/?page=1&page_size=1", p.ID), nil).json(t, &page)
	if page.Count != 2 || len(page.Results) != 1 || !page.Results[0].ImplicitMember || page.Next == nil {
		t.Fatalf("first page of project members %+v", page)
	}
	e.must(200, "GET", fmt.Sprintf("/api/projects/%d/members/paginated/?page=2&page_size=1", p.ID), nil).json(t, &page)
	if len(page.Results) != 1 || page.Results[0].ID != u.ID || page.Results[0].ImplicitMember {
		t.Fatalf("second page of project members %+v", page)
	}
	// Past the end: 200 and nothing, as the SDK's pagers need.
	r := e.must(200, "GET", fmt.Sprintf("/api/projects/%d/members/paginated/?page=9&page_size=1", p.ID), nil)
	r.json(t, &page)
	if len(page.Results) != 0 || !strings.Contains(r.text(), `"results":[]`) {
		t.Fatalf("page past the end: %s", r.raw)
	}

	var bulk struct {
		Assignments int   `json:"assignments"`
		Skipped     []int `json:"skipped_user_ids"`
	}
	other, _, err := e.db.CreateUserInOrganization(t.Context(), "gus@example.com", "pw", "Globex")
	if err != nil {
		t.Fatal(err)
	}
	e.must(200, "POST", fmt.Sprintf("/api/projects/%d/members/bulk/", p.ID), map[string]any{"all": false, "included": []int64{u.ID, other.ID}}).json(t, &bulk)
	if bulk.Assignments != 0 || len(bulk.Skipped) != 1 || int64(bulk.Skipped[0]) != other.ID {
		t.Fatalf("bulk add %+v", bulk)
	}
	wantFieldError(t, e.request("POST", fmt.Sprintf("/api/projects/%d/members/bulk/", p.ID), map[string]any{"all": false, "roles": []any{map[string]any{"user_id": u.ID, "role": "AN"}}}), 400, "roles")
	r = e.must(200, "DELETE", fmt.Sprintf("/api/projects/%d/members/bulk/?all=false&included=%d%%2C%d", p.ID, u.ID, other.ID), nil)
	if !strings.Contains(r.text(), `"unassignments":1`) {
		t.Fatalf("bulk delete answered %s", r.raw)
	}
	e.must(200, "POST", fmt.Sprintf("/api/projects/%d/members/bulk/", p.ID), map[string]any{"all": true, "excluded": []int64{e.user.ID}}).json(t, &bulk)
	if bulk.Assignments != 1 {
		t.Fatalf("bulk add all: %+v", bulk)
	}
	e.must(204, "DELETE", fmt.Sprintf("/api/projects/%d/members/?user=%d", p.ID, u.ID), nil)
	if got := e.must(200, "GET", fmt.Sprintf("/api/projects/%d/members", p.ID), nil).text(); strings.Contains(got, "nina@") {
		t.Fatalf("a removed member is still listed: %s", got)
	}
	// Another organization's user cannot be added.
	wantFieldError(t, e.request("POST", fmt.Sprintf("/api/projects/%d/members/", p.ID), map[string]any{"user": other.ID}), 400, "user")
}

func TestMembershipsAndUsers(t *testing.T) {
	e := newTestEnv(t, withProjectAccess)
	org := e.user.OrganizationID
	admin, asAdmin := e.member("adam@example.com", blobmark.RoleAdmin)
	ann, asAnn := e.member("ann@example.com", blobmark.RoleAnnotator)
	_, asMax := e.member("max@example.com", blobmark.RoleManager)
	stranger, _, err := e.db.CreateUserInOrganization(t.Context(), "gus@example.com", "pw", "Globex")
	if err != nil {
		t.Fatal(err)
	}
	memberships := fmt.Sprintf("/api/organizations/%d/memberships", org)

	// The list pages, filters by comma-joined roles and searches.
	var page struct {
		Count   int
		Results []struct {
			Role string
			User struct{ Email string }
		}
	}
	asMax(200, "GET", memberships+"?page=1&role=AN%2CAD&ordering=-email", nil).json(t, &page)
	if page.Count != 2 || page.Results[0].User.Email != "ann@example.com" || page.Results[1].Role != "AD" {
		t.Fatalf("filtered memberships %+v", page)
	}
	asMax(200, "GET", memberships+"?page=5", nil).json(t, &page)
	if page.Count != 4 || len(page.Results) != 0 {
		t.Fatalf("page past the end %+v", page)
	}
	wantFieldError(t, asMax(400, "GET", memberships+"?role=XX", nil), 400, "role")
	asAnn(403, "GET", memberships, nil)
	asAnn(403, "GET", "/api/users/", nil)

	// Role changes: unknown codes, the last owner, user types, owners
	// beyond an administrator's reach, another organization's user.
	wantFieldError(t, e.request("PATCH", memberships, map[string]any{"user_id": ann.ID, "role": "BOSS"}), 400, "role")
	wantFieldError(t, e.request("PATCH", memberships, map[string]any{"user_id": e.user.ID, "role": "AD"}), 400, "role")
	wantFieldError(t, e.request("PATCH", memberships, map[string]any{"user_id": ann.ID, "role": "RE", "user_type": "flex"}), 400, "user_type")
	asAdmin(403, "PATCH", memberships, map[string]any{"user_id": e.user.ID, "role": "AN"})
	asAdmin(403, "PATCH", memberships, map[string]any{"user_id": ann.ID, "role": "OW"})
	asMax(403, "PATCH", memberships, map[string]any{"user_id": ann.ID, "role": "RE"})
	e.must(404, "PATCH", memberships, map[string]any{"user_id": stranger.ID, "role": "AN"})
	e.must(404, "GET", fmt.Sprintf("/api/organizations/%d/memberships", stranger.OrganizationID), nil)
	e.must(404, "GET", fmt.Sprintf("/api/users/%d/", stranger.ID), nil)
	e.must(404, "GET", fmt.Sprintf("/api/organizations/%d", stranger.OrganizationID), nil)
	if u, _ := e.db.FindUserByID(t.Context(), ann.ID); u.Role != blobmark.RoleAnnotator {
		t.Fatalf("a refused change wrote role %s", u.Role)
	}

	var detail struct {
		User         int64
		Organization int64
		Role         string
	}
	asMax(200, "GET", fmt.Sprintf("%s/%d/", memberships, ann.ID), nil).json(t, &detail)
	if detail.User != ann.ID || detail.Organization != org || detail.Role != "AN" {
		t.Fatalf("membership detail %+v", detail)
	}

	// An annotator sees itself and no one else.
	asAnn(200, "GET", fmt.Sprintf("/api/users/%d/", ann.ID), nil)
	asAnn(404, "GET", fmt.Sprintf("/api/users/%d/", admin.ID), nil)
	asAnn(403, "DELETE", fmt.Sprintf("/api/users/%d/", ann.ID), nil)

	// Names: one's own, or a member's by an administrator; never an
	// owner's by an administrator, never the email, never another's password.
	asAnn(200, "PATCH", fmt.Sprintf("/api/users/%d/", ann.ID), map[string]any{"first_name": "Ann", "phone": "123"})
	asAdmin(200, "PATCH", fmt.Sprintf("/api/users/%d/", ann.ID), map[string]any{"last_name": "Lee"})
	asAdmin(403, "PATCH", fmt.Sprintf("/api/users/%d/", e.user.ID), map[string]any{"last_name": "X"})
	asAdmin(403, "PATCH", fmt.Sprintf("/api/users/%d/", ann.ID), map[string]any{"password": "new", "old_password": "x"})
	wantFieldError(t, asAnn(400, "PATCH", "/api/current-user", map[string]any{"email": "other@example.com"}), 400, "email")
	wantFieldError(t, asAnn(400, "PATCH", "/api/current-user", map[string]any{"password": "new pw"}), 400, "old_password")
	var cur struct {
		FirstName   string `json:"first_name"`
		LastName    string `json:"last_name"`
		Role        string
		Permissions []string
	}
	asAnn(200, "PATCH", "/api/current-user", map[string]any{"password": "new pw", "old_password": "pw ann@example.com"}).json(t, &cur)
	if cur.FirstName != "Ann" || cur.LastName != "Lee" || cur.Role != "AN" || len(cur.Permissions) != 1 {
		t.Fatalf("current user %+v", cur)
	}
	if _, err := e.db.AuthenticatePassword(t.Context(), "ann@example.com", "new pw"); err != nil {
		t.Fatalf("the new password does not work: %v", err)
	}

	// Deleting deactivates: the annotator's token stops working, the row stays.
	asAdmin(204, "DELETE", fmt.Sprintf("/api/users/%d/", ann.ID), nil)
	asAnn(401, "GET", "/api/current-user", nil)
	if u, err := e.db.FindUserByID(t.Context(), ann.ID); err != nil || u.Role != blobmark.RoleDeactivated {
		t.Fatalf("after delete: %+v %v", u, err)
	}
	wantFieldError(t, e.request("DELETE", fmt.Sprintf("%s/%d/", memberships, e.user.ID), nil), 400, "role")

	// Creating users: the role defaults to annotator, and must be one the
	// creator may assign.
	var created struct{ ID int64 }
	asAdmin(201, "POST", "/api/users/", map[string]any{"username": "rex", "email": "rex@example.com", "password": "pw"}).json(t, &created)
	if u, _ := e.db.FindUserByID(t.Context(), created.ID); u.Role != blobmark.RoleAnnotator || u.OrganizationID != org {
		t.Fatalf("created user %+v", u)
	}
	asAdmin(403, "POST", "/api/users/", map[string]any{"email": "own@example.com", "password": "pw", "role": "OW"})
	wantFieldError(t, asAdmin(400, "POST", "/api/users/", map[string]any{"username": "x"}), 400, "email")
	wantFieldError(t, asAdmin(400, "POST", "/api/users/", map[string]any{"email": "x@example.com", "password": "pw", "role": "ZZ"}), 400, "role")
	wantFieldError(t, asAdmin(409, "POST", "/api/users/", map[string]any{"email": "REX@example.com", "password": "pw"}), 409, "email")

	// Organizations: one's own only; administrators change its contact,
	// never its title (it names the organization in the operator's
	// server-identity allow-list).
	var orgs []struct {
		ID          int64
		Title       string
		ContactInfo string `json:"contact_info"`
	}
	asMax(200, "GET", "/api/organizations/", nil).json(t, &orgs)
	if len(orgs) != 1 || orgs[0].ID != org {
		t.Fatalf("organizations %+v", orgs)
	}
	asMax(403, "PATCH", fmt.Sprintf("/api/organizations/%d", org), map[string]any{"title": "X"})
	wantFieldError(t, asAdmin(400, "PATCH", fmt.Sprintf("/api/organizations/%d", org), map[string]any{"title": "Acme", "contact_info": "x"}), 400, "title")
	r := asAdmin(200, "PATCH", fmt.Sprintf("/api/organizations/%d", org), map[string]any{"title": orgs[0].Title, "contact_info": "ops@acme.example"})
	if !strings.Contains(r.text(), `"contact_info":"ops@acme.example"`) || !strings.Contains(r.text(), `"title":"`+orgs[0].Title+`"`) {
		t.Fatalf("organization update answered %s", r.raw)
	}
}

func TestInvites(t *testing.T) {
	e := newTestEnv(t, withProjectAccess)
	_, asAdmin := e.member("adam@example.com", blobmark.RoleAdmin)
	_, asMax := e.member("max@example.com", blobmark.RoleManager)
	var p struct{ ID int64 }
	e.must(201, "POST", "/api/projects/", map[string]any{"title": "P"}).json(t, &p)

	asMax(403, "POST", "/api/invites/", map[string]any{})
	asAdmin(403, "POST", "/api/invites/", map[string]any{"role": "OW"})
	wantFieldError(t, asAdmin(409, "POST", "/api/invites/", map[string]any{"email": "max@example.com"}), 409, "email")
	wantFieldError(t, asAdmin(400, "POST", "/api/invites/", map[string]any{"role": "XX"}), 400, "role")
	wantFieldError(t, asAdmin(400, "POST", "/api/invites/", map[string]any{"expires_in_hours": 721}), 400, "expires_in_hours")
	asAdmin(404, "POST", "/api/invites/", map[string]any{"projects": []int64{p.ID + 100}})

	var inv struct {
		ID        int64
		Token     string
		InviteURL string `json:"invite_url"`
		Role      string
		Projects  []int64
	}
	asAdmin(201, "POST", "/api/invites/", map[string]any{"projects": []int64{p.ID}, "email": "nina@example.com"}).json(t, &inv)
	if inv.Role != "AN" || inv.Token == "" || inv.InviteURL != e.srv.URL+"/user/signup/?token="+inv.Token || len(inv.Projects) != 1 {
		t.Fatalf("invite %+v", inv)
	}
	if list := asAdmin(200, "GET", "/api/invites/", nil).text(); strings.Contains(list, inv.Token) || !strings.Contains(list, "nina@example.com") {
		t.Fatalf("pending invites %s", list)
	}
	if strings.Contains(e.logs.String(), inv.Token) {
		t.Fatal("the invite token is in the log")
	}

	// The sign-up page's view of the link, with no credentials.
	anon := func(method, path string, body any) *response {
		return e.requestWith(method, path, body, http.Header{})
	}
	r := anon("GET", "/api/invites/accept?token="+inv.Token, nil)
	if r.status != 200 || !strings.Contains(r.text(), `"organization":"default"`) || !strings.Contains(r.text(), `"role":"AN"`) {
		t.Fatalf("invite info %d %s", r.status, r.raw)
	}
	if r := anon("GET", "/api/invites/accept?token=nope", nil); r.status != 404 {
		t.Fatalf("unknown token: %d %s", r.status, r.raw)
	}

	// Sign-up needs JSON from our pages and the invited email.
	if r := e.requestWith("POST", "/api/invites/accept", `token=x`, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}); r.status != 400 {
		t.Fatalf("a form post: %d %s", r.status, r.raw)
	}
	if r := e.requestWith("POST", "/api/invites/accept", map[string]any{"token": inv.Token, "email": "nina@example.com", "password": "pw"},
		http.Header{"Origin": {"https://evil.example"}}); r.status != 403 {
		t.Fatalf("a cross-site sign-up: %d %s", r.status, r.raw)
	}
	wantFieldError(t, anon("POST", "/api/invites/accept", map[string]any{"token": inv.Token, "email": "eve@example.com", "password": "pw"}), 400, "email")
	r = anon("POST", "/api/invites/accept", map[string]any{"token": inv.Token, "email": "nina@example.com", "password": "nina's pw", "first_name": "Nina"})
	if r.status != 201 || !strings.Contains(r.text(), `"role":"AN"`) {
		t.Fatalf("accept: %d %s", r.status, r.raw)
	}
	var session *http.Cookie
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "blobmark_session" {
			session = c
		}
	}
	if session == nil {
		t.Fatal("accepting did not sign in")
	}
	me := e.requestWith("GET", fmt.Sprintf("/api/projects/%d/", p.ID), nil, http.Header{"Cookie": {session.String()}})
	if me.status != 200 {
		t.Fatalf("the new member cannot open the invite's project: %d %s", me.status, me.raw)
	}
	// Single use.
	wantFieldError(t, anon("POST", "/api/invites/accept", map[string]any{"token": inv.Token, "email": "nina@example.com", "password": "pw"}), 400, "token")
	wantFieldError(t, anon("GET", "/api/invites/accept?token="+inv.Token, nil), 400, "token")

	// Revoking: the link stops working.
	asAdmin(201, "POST", "/api/invites/", map[string]any{"role": "RE"}).json(t, &inv)
	asAdmin(204, "DELETE", fmt.Sprintf("/api/invites/%d/", inv.ID), nil)
	asAdmin(404, "DELETE", fmt.Sprintf("/api/invites/%d/", inv.ID), nil)
	if r := anon("GET", "/api/invites/accept?token="+inv.Token, nil); r.status != 404 {
		t.Fatalf("a revoked invite: %d %s", r.status, r.raw)
	}
}

// TestWhoAmIListsRoles: whoami lists every role with the name the domain
// gives it, so the web UI keeps no list of its own, and marks those the
// caller may assign.
func TestWhoAmIListsRoles(t *testing.T) {
	e := newTestEnv(t)
	type roleItem struct {
		Code       blobmark.Role
		Name       string
		Assignable bool
	}
	whoami := func(header http.Header) []roleItem {
		t.Helper()
		var me struct{ Roles []roleItem }
		r := e.requestWith("GET", "/api/current-user/whoami", nil, header)
		if r.status != http.StatusOK {
			t.Fatalf("whoami: %d %s", r.status, r.raw)
		}
		r.json(t, &me)
		return me.Roles
	}
	_, adminKey, err := e.db.AddUser(t.Context(), blobmark.NewUser{Email: "adam@example.com", Password: "pw",
		OrganizationID: e.user.OrganizationID, Role: blobmark.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	_, annKey, err := e.db.AddUser(t.Context(), blobmark.NewUser{Email: "ann@example.com", Password: "pw",
		OrganizationID: e.user.OrganizationID, Role: blobmark.RoleAnnotator})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		who        string
		key        string
		assignable func(blobmark.Role) bool
	}{
		{"owner", e.token, func(blobmark.Role) bool { return true }},
		{"administrator", adminKey, func(r blobmark.Role) bool { return r != blobmark.RoleOwner }},
		{"annotator", annKey, func(blobmark.Role) bool { return false }},
	} {
		got := whoami(http.Header{"Authorization": {"Token " + c.key}})
		if len(got) != len(blobmark.Roles) {
			t.Fatalf("%s: roles %+v, want %d", c.who, got, len(blobmark.Roles))
		}
		for i, r := range blobmark.Roles {
			if want := (roleItem{r, r.Name(), c.assignable(r)}); got[i] != want || want.Name == "" {
				t.Errorf("%s: role %d is %+v, want %+v", c.who, i, got[i], want)
			}
		}
	}
}
