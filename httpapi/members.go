package httpapi

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/blobmark/blobmark"
)

// Users, organizations, memberships and project members, on Label Studio's
// wire (label-studio-teams-wire.md §1, §3, §4).
//
// Everyone sees and edits their own account. Managers and above list the
// organization's members, to choose project members; administrators and
// owners create members, change roles and deactivate. A user or an
// organization of another organization does not exist for the caller
// (404). Deleting a user or a membership deactivates the member (role DI):
// their annotations stay theirs, and an administrator can bring them back
// by giving them a role again.

// memberRoutes serves users, organizations and project members; without
// Members or Organizations the routes are left out.
func (s *Server) memberRoutes() []route {
	if s.Members == nil || s.Organizations == nil {
		return nil
	}
	return []route{
		{"GET /api/users/{$}", s.handleListUsers, manageProjects},
		{"POST /api/users/{$}", s.handleCreateUser, manageMembers},
		{"GET /api/users/{id}/{$}", s.handleGetUser, label},
		{"PATCH /api/users/{id}/{$}", s.handleUpdateUser, label},
		{"DELETE /api/users/{id}/{$}", s.handleDeleteUser, manageMembers},
		{"GET /api/current-user", s.handleGetCurrentUser, label},
		{"PATCH /api/current-user", s.handleUpdateCurrentUser, label},

		{"GET /api/organizations/{$}", s.handleListOrganizations, label},
		{"GET /api/organizations/{id}", s.handleGetOrganization, label},
		{"PATCH /api/organizations/{id}", s.handleUpdateOrganization, manageMembers},
		{"GET /api/organizations/{id}/memberships", s.handleListMemberships, manageProjects},
		{"PATCH /api/organizations/{id}/memberships", s.handleUpdateMembership, manageMembers},
		{"GET /api/organizations/{id}/memberships/{user}/{$}", s.handleGetMembership, manageProjects},
		{"DELETE /api/organizations/{id}/memberships/{user}/{$}", s.handleDeleteMembership, manageMembers},

		{"GET /api/projects/{id}/members/{$}", s.handleListProjectMembers, manageProjects},
		{"GET /api/projects/{id}/members", s.handleListProjectMembers, manageProjects},
		{"POST /api/projects/{id}/members/{$}", s.handleAddProjectMember, manageProjects},
		{"POST /api/projects/{id}/members", s.handleAddProjectMember, manageProjects},
		{"DELETE /api/projects/{id}/members/{$}", s.handleRemoveProjectMember, manageProjects},
		{"GET /api/projects/{id}/members/paginated/{$}", s.handlePaginatedProjectMembers, manageProjects},
		{"POST /api/projects/{id}/members/bulk/{$}", s.handleBulkAddProjectMembers, manageProjects},
		{"DELETE /api/projects/{id}/members/bulk/{$}", s.handleBulkRemoveProjectMembers, manageProjects},

		{"GET /organization/members/{$}", s.handleUI, public},
		{"GET /user/account/{$}", s.handleUI, public},
	}
}

// caller is the signed-in user of a request that requireUser let through.
func caller(r *http.Request) *blobmark.User { return blobmark.UserFromContext(r.Context()) }

// allMembers is the page that holds a whole organization: the lists Label
// Studio answers as plain arrays.
var allMembers = blobmark.Page{Limit: math.MaxInt32}

// memberFilter reads a member list's role (comma-joined codes), search and
// ordering parameters.
func memberFilter(r *http.Request) blobmark.MemberFilter {
	q := r.URL.Query()
	f := blobmark.MemberFilter{Search: q.Get("search"), Ordering: q.Get("ordering")}
	for code := range strings.SplitSeq(q.Get("role"), ",") {
		if code = strings.TrimSpace(code); code != "" {
			f.Roles = append(f.Roles, blobmark.Role(code))
		}
	}
	return f
}

// handleListUsers answers the caller's organization's users, as an array.
func (s *Server) handleListUsers(w http.ResponseWriter, r *http.Request) {
	f := memberFilter(r)
	users, _, err := s.Members.FindMembers(r.Context(), caller(r).OrganizationID, f, allMembers)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]userJSON, len(users))
	for i, u := range users {
		out[i] = presentUser(u)
	}
	writeJSON(w, http.StatusOK, out)
}

// handleCreateUser creates a member of the caller's organization, an
// annotator unless the body names another role the caller may assign. A
// password is required: sign-in is by email and password, and an account
// without one could never be used (an invite lets people choose their own).
func (s *Server) handleCreateUser(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Username  string `json:"username"`
		Email     string `json:"email"`
		Password  string `json:"password"`
		FirstName string `json:"first_name"`
		LastName  string `json:"last_name"`
		Role      string `json:"role"`
	}
	if err := s.decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	v := credentials(in.Email, in.Password)
	role := blobmark.RoleAnnotator
	if in.Role != "" {
		var err error
		if role, err = blobmark.ParseRole("role", in.Role); err != nil {
			v.add("role", "%s", blobmark.ErrorMessage(err))
		}
	}
	if err := v.err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	me := caller(r)
	if !me.Role.CanAssign(blobmark.RoleNotActivated, role) {
		s.writeError(w, r, blobmark.Errorf(blobmark.EFORBIDDEN, "The %s role cannot create a member who is %s.", me.Role.Name(), role.Name()))
		return
	}
	u, _, err := s.Users.AddUser(r.Context(), blobmark.NewUser{Email: in.Email, Password: in.Password, Username: in.Username,
		FirstName: in.FirstName, LastName: in.LastName, OrganizationID: me.OrganizationID, Role: role})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, presentUser(u))
}

// memberFromPath loads the user a path's wildcard names: one of the
// caller's organization, and the caller itself unless its role lists the
// members. Anyone else is 404.
func (s *Server) memberFromPath(r *http.Request, wildcard string) (*blobmark.User, error) {
	id, err := pathID(r, wildcard)
	if err != nil {
		return nil, err
	}
	me := caller(r)
	if id != me.ID && !me.Role.Can(blobmark.PermManageProjects) {
		return nil, notFound()
	}
	u, err := s.Members.FindMemberByID(r.Context(), me.OrganizationID, id)
	if blobmark.ErrorCode(err) == blobmark.ENOTFOUND {
		return nil, notFound()
	}
	return u, err
}

func (s *Server) handleGetUser(w http.ResponseWriter, r *http.Request) {
	serveObject(s, w, r, func(r *http.Request) (*blobmark.User, error) { return s.memberFromPath(r, "id") }, nil, presentUser)
}

// handleUpdateUser changes a user: the user's own account, or another
// member's names by someone who manages members and may manage that
// member's role (administrators do not edit owners).
func (s *Server) handleUpdateUser(w http.ResponseWriter, r *http.Request) {
	u, err := s.memberFromPath(r, "id")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	updateUser(s, w, r, u, presentUser)
}

func (s *Server) handleGetCurrentUser(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, presentCurrentUser(caller(r)))
}

func (s *Server) handleUpdateCurrentUser(w http.ResponseWriter, r *http.Request) {
	updateUser(s, w, r, caller(r), presentCurrentUser)
}

// updateUser applies a user PATCH body to u and answers with it.
func updateUser[J any](s *Server, w http.ResponseWriter, r *http.Request, u *blobmark.User, toJSON func(*blobmark.User) J) {
	body, err := s.decodeObject(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	up, err := readUserUpdate(body, u)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if me := caller(r); me.ID != u.ID {
		switch {
		case !me.Role.CanAssign(u.Role, u.Role):
			err = blobmark.Errorf(blobmark.EFORBIDDEN, "The %s role cannot change the account of a member who is %s.", me.Role.Name(), u.Role.Name())
		case up.Password != nil:
			err = blobmark.Errorf(blobmark.EFORBIDDEN, "Only the member can change their own password.")
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	u, err = s.Members.UpdateUser(r.Context(), u.ID, up)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toJSON(u))
}

// readUserUpdate reads a user PATCH body: username, first_name, last_name,
// and password with old_password. The email cannot change (Label Studio's
// update has no email either); sending the present one is harmless. Other
// keys of Label Studio's user (phone, newsletters…) are not kept here and
// are ignored.
func readUserUpdate(body map[string]json.RawMessage, u *blobmark.User) (blobmark.UserUpdate, error) {
	var up blobmark.UserUpdate
	v := validation{}
	for name, dst := range map[string]**string{"username": &up.Username, "first_name": &up.FirstName, "last_name": &up.LastName, "password": &up.Password} {
		var s string
		if field(body, name, &s, v, "string") {
			*dst = &s
		}
	}
	field(body, "old_password", &up.CurrentPassword, v, "string")
	var email string
	if field(body, "email", &email, v, "string") && blobmark.EmailKey(email) != blobmark.EmailKey(u.Email) {
		v.add("email", "The email cannot be changed: it is the account's sign-in name.")
	}
	return up, v.err()
}

// handleDeleteUser deactivates a member (role DI): nothing they made is
// lost, their sessions and tokens stop working at once, and the last owner
// cannot be removed.
func (s *Server) handleDeleteUser(w http.ResponseWriter, r *http.Request) {
	serveDelete(s, w, r, func(r *http.Request) (*blobmark.User, error) { return s.memberFromPath(r, "id") }, s.deactivate)
}

// deactivate gives u the role DI on behalf of the caller.
func (s *Server) deactivate(ctx context.Context, u *blobmark.User) error {
	_, err := s.Members.SetRole(ctx, u.OrganizationID, u.ID, blobmark.RoleDeactivated, blobmark.UserFromContext(ctx).Role)
	return err
}

// organizationJSON is an organization as Label Studio lists one.
type organizationJSON struct {
	ID          int64     `json:"id"`
	Title       string    `json:"title"`
	ContactInfo string    `json:"contact_info"`
	CreatedAt   time.Time `json:"created_at"`
}

func presentOrganization(o *blobmark.Organization) organizationJSON {
	return organizationJSON{ID: o.ID, Title: o.Title, ContactInfo: o.ContactInfo, CreatedAt: o.CreatedAt}
}

// ownOrganization loads the organization a path names, which must be the
// caller's: another organization does not exist for it (404).
func (s *Server) ownOrganization(r *http.Request) (*blobmark.Organization, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	if id != caller(r).OrganizationID {
		return nil, notFound()
	}
	return s.Organizations.FindOrganizationByID(r.Context(), id)
}

// handleListOrganizations answers the caller's organization, the only one
// a user belongs to, as a one-element array.
func (s *Server) handleListOrganizations(w http.ResponseWriter, r *http.Request) {
	o, err := s.Organizations.FindOrganizationByID(r.Context(), caller(r).OrganizationID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, []organizationJSON{presentOrganization(o)})
}

func (s *Server) handleGetOrganization(w http.ResponseWriter, r *http.Request) {
	serveObject(s, w, r, s.ownOrganization, nil, presentOrganization)
}

// handleUpdateOrganization changes the title and contact_info; Label
// Studio's other organization keys (embed and custom settings, its invite
// token) have nothing here to change and are ignored.
func (s *Server) handleUpdateOrganization(w http.ResponseWriter, r *http.Request) {
	serveObject(s, w, r, s.ownOrganization, func(ctx context.Context, o *blobmark.Organization) (*blobmark.Organization, error) {
		body, err := s.decodeObject(r)
		if err != nil {
			return nil, err
		}
		var up blobmark.OrganizationUpdate
		v := validation{}
		for name, dst := range map[string]**string{"title": &up.Title, "contact_info": &up.ContactInfo} {
			var str string
			if field(body, name, &str, v, "string") {
				*dst = &str
			}
		}
		// The title names the organization in the operator's
		// --server-identity-allow (ORG=entry): an administrator who could
		// rename their organization to another's title would take that
		// organization's allowance of the server's identity. Only the
		// operator names organizations; sending the current title is fine.
		if up.Title != nil && strings.TrimSpace(*up.Title) != o.Title {
			v.add("title", "The organization's title is set by the server's operator (it names the organization in --server-identity-allow); it cannot be changed through the API.")
		}
		if err := v.err(); err != nil {
			return nil, err
		}
		up.Title = nil
		return s.Members.UpdateOrganization(ctx, o.ID, up)
	}, presentOrganization)
}

// memberJSON is a membership as the members list shows it: the user
// nested. Its id is the user's: a user has one membership.
type memberJSON struct {
	ID           int64         `json:"id"`
	Organization int64         `json:"organization"`
	User         userJSON      `json:"user"`
	Role         blobmark.Role `json:"role"`
	RoleSource   string        `json:"role_source"`
	UserType     string        `json:"user_type"`
	Tags         []struct{}    `json:"tags"`
}

func presentMember(u *blobmark.User) memberJSON {
	return memberJSON{ID: u.ID, Organization: u.OrganizationID, User: presentUser(u), Role: u.Role,
		RoleSource: "manual", UserType: "standard", Tags: []struct{}{}}
}

// memberDetailJSON is one membership as members.get answers it: the user
// by id.
type memberDetailJSON struct {
	ID           int64         `json:"id"`
	User         int64         `json:"user"`
	Organization int64         `json:"organization"`
	Role         blobmark.Role `json:"role"`
	RoleSource   string        `json:"role_source"`
	UserType     string        `json:"user_type"`
}

func presentMemberDetail(u *blobmark.User) memberDetailJSON {
	return memberDetailJSON{ID: u.ID, User: u.ID, Organization: u.OrganizationID, Role: u.Role, RoleSource: "manual", UserType: "standard"}
}

// pageJSON is DRF's paginated list.
type pageJSON[T any] struct {
	Count    int     `json:"count"`
	Next     *string `json:"next"`
	Previous *string `json:"previous"`
	Results  []T     `json:"results"`
}

// findMembersPage answers one page of members as DRF does, except that a
// page past the end is 200 with no results: the SDK's member pagers raise
// on the 404 DRF would send.
func findMembersPage[T any](s *Server, w http.ResponseWriter, r *http.Request, orgID int64, f blobmark.MemberFilter, toJSON func(*blobmark.User) T) {
	pr, err := parsePage(r, 100, 1000)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	users, total, err := s.Members.FindMembers(r.Context(), orgID, f, pr.page())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := pageJSON[T]{Count: total, Results: make([]T, len(users))}
	for i, u := range users {
		out.Results[i] = toJSON(u)
	}
	out.Next, out.Previous = pr.links(r, len(users), total)
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleListMemberships(w http.ResponseWriter, r *http.Request) {
	o, err := s.ownOrganization(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	findMembersPage(s, w, r, o.ID, memberFilter(r), presentMember)
}

// handleUpdateMembership changes a member's role: {user_id, role,
// user_type}. Only the "standard" user type exists here.
func (s *Server) handleUpdateMembership(w http.ResponseWriter, r *http.Request) {
	o, err := s.ownOrganization(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var in struct {
		UserID   *int64  `json:"user_id"`
		Role     *string `json:"role"`
		UserType *string `json:"user_type"`
	}
	if err := s.decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	v := validation{}
	if in.UserID == nil {
		v.add("user_id", "This field is required.")
	}
	var role blobmark.Role
	if in.Role == nil {
		v.add("role", "This field is required.")
	} else if role, err = blobmark.ParseRole("role", *in.Role); err != nil {
		v.add("role", "%s", blobmark.ErrorMessage(err))
	}
	if in.UserType != nil && *in.UserType != "standard" {
		v.add("user_type", "%q is not available here; every member is \"standard\".", *in.UserType)
	}
	if err := v.err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	u, err := s.Members.SetRole(r.Context(), o.ID, *in.UserID, role, caller(r).Role)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, presentMember(u))
}

// membershipFromPath loads the member of /api/organizations/{id}/memberships/{user}/.
func (s *Server) membershipFromPath(r *http.Request) (*blobmark.User, error) {
	if _, err := s.ownOrganization(r); err != nil {
		return nil, err
	}
	return s.memberFromPath(r, "user")
}

func (s *Server) handleGetMembership(w http.ResponseWriter, r *http.Request) {
	serveObject(s, w, r, s.membershipFromPath, nil, presentMemberDetail)
}

// handleDeleteMembership deactivates the member, as deleting the user does.
func (s *Server) handleDeleteMembership(w http.ResponseWriter, r *http.Request) {
	serveDelete(s, w, r, s.membershipFromPath, s.deactivate)
}

// projectMemberJSON is a member of a project: the user, and whether it is
// one through its role (implicit_member) rather than by being added.
// Project roles, which override the organization's role in one project in
// Label Studio Enterprise, do not exist here: project_role is null.
type projectMemberJSON struct {
	userJSON
	ImplicitMember    bool          `json:"implicit_member"`
	ProjectRole       *string       `json:"project_role"`
	ProjectRoleSource *string       `json:"project_role_source"`
	Role              blobmark.Role `json:"role"`
	Tags              []struct{}    `json:"tags"`
	UserType          string        `json:"user_type"`
}

// projectMemberPresenter presents the members of a project whose added
// members are explicit.
func projectMemberPresenter(explicit []int64) func(*blobmark.User) projectMemberJSON {
	return func(u *blobmark.User) projectMemberJSON {
		return projectMemberJSON{userJSON: presentUser(u), ImplicitMember: !slices.Contains(explicit, u.ID),
			Role: u.Role, Tags: []struct{}{}, UserType: "standard"}
	}
}

// projectMembers loads the project of the path and its added members.
func (s *Server) projectMembers(r *http.Request) (*blobmark.Project, []int64, error) {
	pr, err := s.projectFromPath(r)
	if err != nil {
		return nil, nil, err
	}
	ids, err := s.Members.ProjectMemberIDs(r.Context(), pr.ID)
	return pr, ids, err
}

// handleListProjectMembers answers every member of the project as an
// array (the UI's list; the SDK pages through …/members/paginated/).
func (s *Server) handleListProjectMembers(w http.ResponseWriter, r *http.Request) {
	pr, explicit, err := s.projectMembers(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	f := memberFilter(r)
	f.ProjectID = pr.ID
	users, _, err := s.Members.FindMembers(r.Context(), pr.OrganizationID, f, allMembers)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]projectMemberJSON, len(users))
	for i, u := range users {
		out[i] = projectMemberPresenter(explicit)(u)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handlePaginatedProjectMembers(w http.ResponseWriter, r *http.Request) {
	pr, explicit, err := s.projectMembers(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	f := memberFilter(r)
	f.ProjectID = pr.ID
	findMembersPage(s, w, r, pr.OrganizationID, f, projectMemberPresenter(explicit))
}

// handleAddProjectMember adds {user} to the project.
func (s *Server) handleAddProjectMember(w http.ResponseWriter, r *http.Request) {
	pr, err := s.projectFromPath(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var in struct {
		User *int64 `json:"user"`
	}
	if err := s.decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if in.User == nil {
		s.writeError(w, r, blobmark.FieldErrorf("user", "This field is required."))
		return
	}
	if err := s.Members.AddProjectMember(r.Context(), pr.ID, *in.User); blobmark.ErrorCode(err) == blobmark.ENOTFOUND {
		s.writeError(w, r, blobmark.FieldErrorf("user", "User %d is not a member of this project's organization.", *in.User))
		return
	} else if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]int64{"user": *in.User})
}

// handleRemoveProjectMember removes ?user=U from the project.
func (s *Server) handleRemoveProjectMember(w http.ResponseWriter, r *http.Request) {
	pr, err := s.projectFromPath(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	user, err := strconv.ParseInt(r.URL.Query().Get("user"), 10, 64)
	if err != nil || user <= 0 {
		s.writeError(w, r, blobmark.FieldErrorf("user", "Name the member to remove with ?user=<user id>."))
		return
	}
	if err := s.Members.RemoveProjectMember(r.Context(), pr.ID, user); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// idList reads comma-separated ids (the SDK's form for included and
// excluded in a query).
func idList(name, s string) ([]int64, error) {
	var ids []int64
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		id, err := strconv.ParseInt(part, 10, 64)
		if err != nil || id <= 0 {
			return nil, blobmark.FieldErrorf(name, "%q is not a user id; send ids separated by commas.", part)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// without returns ids minus those in excluded.
func without(ids, excluded []int64) []int64 {
	return slices.DeleteFunc(ids, func(id int64) bool { return slices.Contains(excluded, id) })
}

// handleBulkAddProjectMembers adds the included users, or with all=true
// every member the query's filters keep (role, search) but the excluded.
// Users that are not active members of the organization are skipped and
// listed. Per-project roles do not exist here, so roles[] is refused
// rather than ignored.
func (s *Server) handleBulkAddProjectMembers(w http.ResponseWriter, r *http.Request) {
	pr, err := s.projectFromPath(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var in struct {
		All      *bool             `json:"all"`
		Included []int64           `json:"included"`
		Excluded []int64           `json:"excluded"`
		Roles    []json.RawMessage `json:"roles"`
	}
	if err := s.decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	v := validation{}
	if in.All == nil {
		v.add("all", "This field is required.")
	}
	if len(in.Roles) > 0 {
		v.add("roles", "Per-project roles are not supported: a member's organization role applies in every project. Change it with PATCH /api/organizations/{id}/memberships.")
	}
	if err := v.err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	ids := in.Included
	if *in.All {
		users, _, err := s.Members.FindMembers(r.Context(), pr.OrganizationID, memberFilter(r), allMembers)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		ids = nil
		for _, u := range users {
			ids = append(ids, u.ID)
		}
		ids = without(ids, in.Excluded)
	}
	added, skipped, err := s.Members.AddProjectMembers(r.Context(), pr.ID, ids)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"assignments": added, "skipped_user_ids": skipped})
}

// handleBulkRemoveProjectMembers removes the included members, or with
// all=true every added member but the excluded; it answers JSON, which the
// SDK requires.
func (s *Server) handleBulkRemoveProjectMembers(w http.ResponseWriter, r *http.Request) {
	pr, explicit, err := s.projectMembers(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	all, err := strconv.ParseBool(q.Get("all"))
	if err != nil {
		s.writeError(w, r, blobmark.FieldErrorf("all", "Send all=true or all=false."))
		return
	}
	included, err := idList("included", q.Get("included"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	excluded, err := idList("excluded", q.Get("excluded"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ids := included
	if all {
		ids = without(explicit, excluded)
	}
	n, err := s.Members.RemoveProjectMembers(r.Context(), pr.ID, ids)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"unassignments": n})
}
