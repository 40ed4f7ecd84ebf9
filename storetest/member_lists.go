package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
)

func testMemberLists(t *testing.T, open Open) {
	// org is an organization with an owner, an administrator, a manager,
	// two annotators and a deactivated member, and a second organization
	// with one member.
	type org struct {
		s                                         Store
		owner, admin, ma, ann, ann2, di, stranger *blobmark.User
	}
	setup := func(t *testing.T) org {
		s := open(t)
		o := org{s: s}
		var err error
		o.owner, _, err = s.CreateUserInOrganization(t.Context(), "olga@example.com", "pw", "Acme")
		must(t, err)
		add := func(email, first string, role blobmark.Role) *blobmark.User {
			u, _, err := s.AddUser(t.Context(), blobmark.NewUser{Email: email, Password: "pw", FirstName: first,
				OrganizationID: o.owner.OrganizationID, Role: role})
			must(t, err)
			return u
		}
		o.admin = add("adam@example.com", "Adam", blobmark.RoleAdmin)
		o.ma = add("max@example.com", "Max", blobmark.RoleManager)
		o.ann = add("ann@example.com", "Ann", blobmark.RoleAnnotator)
		o.ann2 = add("bob_x@example.com", "Bob", blobmark.RoleAnnotator)
		o.di = add("dina@example.com", "Dina", blobmark.RoleDeactivated)
		o.stranger, _, err = s.CreateUserInOrganization(t.Context(), "gus@example.com", "pw", "Globex")
		must(t, err)
		return o
	}
	emails := func(us []*blobmark.User) []string {
		var out []string
		for _, u := range us {
			out = append(out, u.Email)
		}
		return out
	}

	t.Run("FindMembersFiltersPagesAndOrders", func(t *testing.T) {
		o := setup(t)
		orgID := o.owner.OrganizationID
		all, total, err := o.s.FindMembers(t.Context(), orgID, blobmark.MemberFilter{}, blobmark.Page{Limit: 100})
		must(t, err)
		if total != 6 || len(all) != 6 || all[0].ID != o.owner.ID {
			t.Fatalf("all members: %d of %d: %v", len(all), total, emails(all))
		}
		got, total, err := o.s.FindMembers(t.Context(), orgID, blobmark.MemberFilter{Roles: []blobmark.Role{"an", blobmark.RoleReviewer}, Ordering: "-email"}, blobmark.Page{Limit: 1})
		must(t, err)
		if total != 2 || !slices.Equal(emails(got), []string{"bob_x@example.com"}) {
			t.Fatalf("annotators, by email descending, first page: %v of %d", emails(got), total)
		}
		got, total, err = o.s.FindMembers(t.Context(), orgID, blobmark.MemberFilter{Roles: []blobmark.Role{"AN"}, Ordering: "-email"}, blobmark.Page{Offset: 10, Limit: 5})
		must(t, err)
		if total != 2 || len(got) != 0 || got == nil {
			t.Fatalf("a page past the end: %v (nil %v) of %d", emails(got), got == nil, total)
		}
		// Search is by substring of email or name, without regard to case;
		// LIKE's wildcards match themselves.
		got, _, err = o.s.FindMembers(t.Context(), orgID, blobmark.MemberFilter{Search: "ADA"}, blobmark.Page{Limit: 10})
		must(t, err)
		if !slices.Equal(emails(got), []string{"adam@example.com"}) {
			t.Fatalf("search ADA: %v", emails(got))
		}
		got, _, err = o.s.FindMembers(t.Context(), orgID, blobmark.MemberFilter{Search: "_x"}, blobmark.Page{Limit: 10})
		must(t, err)
		if !slices.Equal(emails(got), []string{"bob_x@example.com"}) {
			t.Fatalf("search _x: %v", emails(got))
		}
		_, _, err = o.s.FindMembers(t.Context(), orgID, blobmark.MemberFilter{Roles: []blobmark.Role{"XX"}}, blobmark.Page{Limit: 10})
		wantField(t, err, "role")
		_, _, err = o.s.FindMembers(t.Context(), orgID, blobmark.MemberFilter{Ordering: "password_hash"}, blobmark.Page{Limit: 10})
		wantField(t, err, "ordering")

		// Another organization's user is not a member here.
		_, err = o.s.FindMemberByID(t.Context(), orgID, o.stranger.ID)
		wantCode(t, err, blobmark.ENOTFOUND)
		u, err := o.s.FindMemberByID(t.Context(), orgID, o.ann.ID)
		must(t, err)
		if u.Email != "ann@example.com" {
			t.Fatalf("FindMemberByID: %+v", u)
		}
	})

	t.Run("ProjectMembersInBulk", func(t *testing.T) {
		o := setup(t)
		ctx := blobmark.NewContextWithUser(t.Context(), o.owner)
		p := newProject(t, ctx, o.s, "p")
		added, skipped, err := o.s.AddProjectMembers(t.Context(), p.ID, []int64{o.ann.ID, o.di.ID, o.stranger.ID, o.ann.ID, 99999})
		must(t, err)
		if added != 1 || !slices.Equal(skipped, []int64{o.di.ID, o.stranger.ID, 99999}) {
			t.Fatalf("added %d, skipped %v", added, skipped)
		}
		ids, err := o.s.ProjectMemberIDs(t.Context(), p.ID)
		must(t, err)
		if !slices.Equal(ids, []int64{o.ann.ID}) {
			t.Fatalf("project members %v", ids)
		}
		// The project's members are those added and those whose role sees
		// every project.
		got, total, err := o.s.FindMembers(t.Context(), o.owner.OrganizationID, blobmark.MemberFilter{ProjectID: p.ID}, blobmark.Page{Limit: 10})
		must(t, err)
		if total != 4 || !slices.Equal(emails(got), []string{"olga@example.com", "adam@example.com", "max@example.com", "ann@example.com"}) {
			t.Fatalf("project members: %v of %d", emails(got), total)
		}
		n, err := o.s.RemoveProjectMembers(t.Context(), p.ID, []int64{o.ann.ID, o.ann2.ID})
		must(t, err)
		if n != 1 {
			t.Fatalf("removed %d", n)
		}
		_, _, err = o.s.AddProjectMembers(t.Context(), p.ID+1000, []int64{o.ann.ID})
		wantCode(t, err, blobmark.ENOTFOUND)
	})

	t.Run("UpdateUserAndOrganization", func(t *testing.T) {
		o := setup(t)
		name, long := " Annie ", string(make([]rune, 151))
		u, err := o.s.UpdateUser(t.Context(), o.ann.ID, blobmark.UserUpdate{FirstName: &name})
		must(t, err)
		if u.FirstName != "Annie" || u.Email != "ann@example.com" {
			t.Fatalf("updated %+v", u)
		}
		_, err = o.s.UpdateUser(t.Context(), o.ann.ID, blobmark.UserUpdate{LastName: &long})
		wantField(t, err, "last_name")
		newPW := "a new password"
		_, err = o.s.UpdateUser(t.Context(), o.ann.ID, blobmark.UserUpdate{Password: &newPW})
		wantField(t, err, "old_password")
		_, err = o.s.UpdateUser(t.Context(), o.ann.ID, blobmark.UserUpdate{Password: &newPW, CurrentPassword: "wrong"})
		wantField(t, err, "old_password")
		blank := ""
		_, err = o.s.UpdateUser(t.Context(), o.ann.ID, blobmark.UserUpdate{Password: &blank, CurrentPassword: "pw"})
		wantField(t, err, "password")
		_, err = o.s.AuthenticatePassword(t.Context(), "ann@example.com", "pw")
		must(t, err) // nothing changed on refusal
		_, err = o.s.UpdateUser(t.Context(), o.ann.ID, blobmark.UserUpdate{Password: &newPW, CurrentPassword: "pw"})
		must(t, err)
		_, err = o.s.AuthenticatePassword(t.Context(), "ann@example.com", newPW)
		must(t, err)
		_, err = o.s.UpdateUser(t.Context(), 99999, blobmark.UserUpdate{FirstName: &name})
		wantCode(t, err, blobmark.ENOTFOUND)

		title, contact := "Acme Labs", "ops@acme.example"
		org, err := o.s.UpdateOrganization(t.Context(), o.owner.OrganizationID, blobmark.OrganizationUpdate{Title: &title, ContactInfo: &contact})
		must(t, err)
		if org.Title != title || org.ContactInfo != contact {
			t.Fatalf("organization %+v", org)
		}
		taken := "Globex"
		_, err = o.s.UpdateOrganization(t.Context(), o.owner.OrganizationID, blobmark.OrganizationUpdate{Title: &taken})
		wantCode(t, err, blobmark.ECONFLICT)
		_, err = o.s.UpdateOrganization(t.Context(), o.owner.OrganizationID, blobmark.OrganizationUpdate{Title: &blank})
		wantField(t, err, "title")
		got, err := o.s.FindOrganizationByID(t.Context(), o.owner.OrganizationID)
		must(t, err)
		if got.Title != title {
			t.Fatalf("after refusals the title is %q", got.Title)
		}
	})

	t.Run("Invites", func(t *testing.T) {
		o := setup(t)
		orgID := o.owner.OrganizationID
		ctx := blobmark.NewContextWithUser(t.Context(), o.owner)
		p := newProject(t, ctx, o.s, "p")
		other := newProject(t, blobmark.NewContextWithUser(t.Context(), o.stranger), o.s, "other")
		expires := time.Now().Add(time.Hour)
		invite := func(inv blobmark.Invite, by blobmark.Role) (string, error) {
			inv.OrganizationID, inv.ExpiresAt = orgID, expires
			return o.s.CreateInvite(t.Context(), &inv, by)
		}

		// Refusals write nothing.
		_, err := invite(blobmark.Invite{Role: "XX"}, blobmark.RoleOwner)
		wantField(t, err, "role")
		_, err = invite(blobmark.Invite{Role: blobmark.RoleDeactivated}, blobmark.RoleOwner)
		wantField(t, err, "role")
		_, err = invite(blobmark.Invite{Role: blobmark.RoleOwner}, blobmark.RoleAdmin)
		wantCode(t, err, blobmark.EFORBIDDEN)
		_, err = invite(blobmark.Invite{Role: blobmark.RoleAnnotator, Email: "ANN@example.com"}, blobmark.RoleOwner)
		wantCode(t, err, blobmark.ECONFLICT)
		_, err = invite(blobmark.Invite{Role: blobmark.RoleAnnotator, ProjectIDs: []int64{other.ID}}, blobmark.RoleOwner)
		wantCode(t, err, blobmark.ENOTFOUND)
		if pending, err := o.s.FindInvites(t.Context(), orgID); err != nil || len(pending) != 0 {
			t.Fatalf("after refusals: %d pending invites, %v", len(pending), err)
		}

		token, err := invite(blobmark.Invite{Role: blobmark.RoleAnnotator, Email: "nina@example.com", ProjectIDs: []int64{p.ID}, CreatedBy: o.admin.ID}, blobmark.RoleAdmin)
		must(t, err)
		open, err := invite(blobmark.Invite{Role: blobmark.RoleReviewer}, blobmark.RoleOwner)
		must(t, err)
		pending, err := o.s.FindInvites(t.Context(), orgID)
		must(t, err)
		if len(pending) != 2 || pending[1].Email != "nina@example.com" || !slices.Equal(pending[1].ProjectIDs, []int64{p.ID}) || pending[1].CreatedBy != o.admin.ID {
			t.Fatalf("pending invites %+v", pending)
		}
		if others, _ := o.s.FindInvites(t.Context(), o.stranger.OrganizationID); len(others) != 0 {
			t.Fatal("another organization sees the invites")
		}
		inv, err := o.s.FindInviteByToken(t.Context(), token)
		must(t, err)
		if inv.Role != blobmark.RoleAnnotator || inv.OrganizationID != orgID {
			t.Fatalf("invite by token %+v", inv)
		}
		_, err = o.s.FindInviteByToken(t.Context(), "not a token")
		wantCode(t, err, blobmark.ENOTFOUND)

		// The email must be the invited one; a refusal leaves the invite usable.
		_, err = o.s.AcceptInvite(t.Context(), token, blobmark.NewUser{Email: "eve@example.com", Password: "pw"})
		wantField(t, err, "email")
		u, err := o.s.AcceptInvite(t.Context(), token, blobmark.NewUser{Email: "Nina@example.com", Password: "pw2", FirstName: "Nina",
			Role: blobmark.RoleOwner, Organization: "Globex"})
		must(t, err)
		if u.Role != blobmark.RoleAnnotator || u.OrganizationID != orgID || u.FirstName != "Nina" {
			t.Fatalf("accepted user %+v", u)
		}
		if ok, err := o.s.CanAccessProject(t.Context(), u, p.ID); err != nil || !ok {
			t.Fatalf("the new member cannot reach the invite's project: %v %v", ok, err)
		}
		_, err = o.s.AuthenticatePassword(t.Context(), "nina@example.com", "pw2")
		must(t, err)
		// Single use.
		_, err = o.s.AcceptInvite(t.Context(), token, blobmark.NewUser{Email: "nina2@example.com", Password: "pw"})
		wantField(t, err, "token")
		_, err = o.s.FindInviteByToken(t.Context(), token)
		wantField(t, err, "token")

		// An open invite taken with an existing email stays unused.
		_, err = o.s.AcceptInvite(t.Context(), open, blobmark.NewUser{Email: "ann@example.com", Password: "pw"})
		wantCode(t, err, blobmark.ECONFLICT)
		pending, err = o.s.FindInvites(t.Context(), orgID)
		must(t, err)
		if len(pending) != 1 {
			t.Fatalf("%d pending invites after one accepted, want 1", len(pending))
		}
		wantCode(t, o.s.RevokeInvite(t.Context(), o.stranger.OrganizationID, pending[0].ID), blobmark.ENOTFOUND)
		must(t, o.s.RevokeInvite(t.Context(), orgID, pending[0].ID))
		_, err = o.s.FindInviteByToken(t.Context(), open)
		wantCode(t, err, blobmark.ENOTFOUND)
		wantCode(t, o.s.RevokeInvite(t.Context(), orgID, inv.ID), blobmark.ENOTFOUND) // used: not revocable

		// An expired invite cannot be used.
		expires = time.Now().Add(-time.Minute)
		old, err := invite(blobmark.Invite{Role: blobmark.RoleAnnotator}, blobmark.RoleOwner)
		must(t, err)
		_, err = o.s.AcceptInvite(t.Context(), old, blobmark.NewUser{Email: "late@example.com", Password: "pw"})
		wantField(t, err, "token")
		if _, err := o.s.FindUserByEmail(t.Context(), "late@example.com"); blobmark.ErrorCode(err) != blobmark.ENOTFOUND {
			t.Fatalf("an expired invite made a user: %v", err)
		}
	})
}
