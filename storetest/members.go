package storetest

import (
	"context"
	"testing"

	"github.com/blobmark/blobmark"
)

func testMembers(t *testing.T, open Open) {
	t.Run("FirstMemberOwnsTheOrganization", func(t *testing.T) {
		s := open(t)
		first, _, err := s.CreateUserInOrganization(t.Context(), "olga@example.com", "pw", "Acme")
		must(t, err)
		second, _, err := s.CreateUserInOrganization(t.Context(), "ann@example.com", "pw", "Acme")
		must(t, err)
		other, _, err := s.CreateUserInOrganization(t.Context(), "gus@example.com", "pw", "Globex")
		must(t, err)
		named, _, err := s.AddUser(t.Context(), blobmark.NewUser{Email: "rex@example.com", Password: "pw",
			OrganizationID: first.OrganizationID, Role: blobmark.RoleReviewer, Username: "rex", FirstName: "Rex"})
		must(t, err)
		if first.Role != blobmark.RoleOwner || second.Role != blobmark.RoleAnnotator || other.Role != blobmark.RoleOwner ||
			named.Role != blobmark.RoleReviewer || named.OrganizationID != first.OrganizationID {
			t.Fatalf("roles: first %s, second %s, other organization's first %s, named %s in %d",
				first.Role, second.Role, other.Role, named.Role, named.OrganizationID)
		}
		got, err := s.FindUserByID(t.Context(), named.ID)
		must(t, err)
		if got.Role != blobmark.RoleReviewer || got.Username != "rex" || got.FirstName != "Rex" {
			t.Fatalf("stored user %+v", got)
		}
		_, _, err = s.AddUser(t.Context(), blobmark.NewUser{Email: "x@example.com", Password: "pw", Role: "XX"})
		wantField(t, err, "role")
	})

	t.Run("SetRoleKeepsAnOwner", func(t *testing.T) {
		s := open(t)
		owner, _, err := s.CreateUserInOrganization(t.Context(), "olga@example.com", "pw", "Acme")
		must(t, err)
		admin, _, err := s.AddUser(t.Context(), blobmark.NewUser{Email: "adam@example.com", Password: "pw",
			OrganizationID: owner.OrganizationID, Role: blobmark.RoleAdmin})
		must(t, err)
		org := owner.OrganizationID

		// The last owner can be neither demoted nor deactivated.
		_, err = s.SetRole(t.Context(), org, owner.ID, blobmark.RoleDeactivated, "")
		wantField(t, err, "role")
		// An administrator cannot touch an owner, nor make one.
		_, err = s.SetRole(t.Context(), org, owner.ID, blobmark.RoleManager, blobmark.RoleAdmin)
		wantCode(t, err, blobmark.EFORBIDDEN)
		_, err = s.SetRole(t.Context(), org, admin.ID, blobmark.RoleOwner, blobmark.RoleAdmin)
		wantCode(t, err, blobmark.EFORBIDDEN)
		// A manager manages no member.
		_, err = s.SetRole(t.Context(), org, admin.ID, blobmark.RoleAnnotator, blobmark.RoleManager)
		wantCode(t, err, blobmark.EFORBIDDEN)
		// An unknown code is refused, naming the field.
		_, err = s.SetRole(t.Context(), org, admin.ID, "ZZ", blobmark.RoleOwner)
		wantField(t, err, "role")
		// A user of another organization does not exist here.
		_, err = s.SetRole(t.Context(), org+1000, admin.ID, blobmark.RoleAnnotator, "")
		wantCode(t, err, blobmark.ENOTFOUND)

		// With a second owner the first may step down.
		u, err := s.SetRole(t.Context(), org, admin.ID, blobmark.RoleOwner, blobmark.RoleOwner)
		must(t, err)
		if u.Role != blobmark.RoleOwner {
			t.Fatalf("SetRole returned role %s", u.Role)
		}
		_, err = s.SetRole(t.Context(), org, owner.ID, blobmark.RoleAnnotator, blobmark.RoleOwner)
		must(t, err)
		got, err := s.AuthenticatePassword(t.Context(), "olga@example.com", "pw")
		must(t, err)
		if got.Role != blobmark.RoleAnnotator {
			t.Fatalf("after SetRole authentication reads role %s", got.Role)
		}
		_, err = s.SetRole(t.Context(), org, admin.ID, blobmark.RoleAnnotator, blobmark.RoleOwner)
		wantField(t, err, "role")
	})

	t.Run("ProjectMembersSeeTheirProjectsOnly", func(t *testing.T) {
		s := open(t)
		ownerCtx, owner := asUser(t, s, "olga@example.com")
		p1 := newProject(t, ownerCtx, s, "p1")
		p2 := newProject(t, ownerCtx, s, "p2")
		roleUser := func(email string, role blobmark.Role) (context.Context, *blobmark.User) {
			u, _, err := s.AddUser(t.Context(), blobmark.NewUser{Email: email, Password: "pw", OrganizationID: owner.OrganizationID, Role: role})
			must(t, err)
			return blobmark.NewContextWithUser(t.Context(), u), u
		}
		annCtx, ann := roleUser("ann@example.com", blobmark.RoleAnnotator)
		maCtx, ma := roleUser("max@example.com", blobmark.RoleManager)
		_, di := roleUser("dina@example.com", blobmark.RoleDeactivated)
		stranger, _, err := s.CreateUserInOrganization(t.Context(), "gus@example.com", "pw", "Globex")
		must(t, err)

		count := func(ctx context.Context) int {
			_, total, err := s.FindProjects(ctx, blobmark.Page{Limit: 10})
			must(t, err)
			return total
		}
		can := func(u *blobmark.User, p int64) bool {
			ok, err := s.CanAccessProject(t.Context(), u, p)
			must(t, err)
			return ok
		}
		if count(annCtx) != 0 || can(ann, p1.ID) || count(maCtx) != 2 || !can(ma, p2.ID) {
			t.Fatalf("before membership: annotator sees %d, manager %d", count(annCtx), count(maCtx))
		}
		must(t, s.AddProjectMember(t.Context(), p1.ID, ann.ID))
		must(t, s.AddProjectMember(t.Context(), p1.ID, ann.ID)) // again: no change
		must(t, s.AddProjectMember(t.Context(), p1.ID, di.ID))
		if count(annCtx) != 1 || !can(ann, p1.ID) || can(ann, p2.ID) {
			t.Fatalf("a member annotator sees %d projects, p1 %v, p2 %v", count(annCtx), can(ann, p1.ID), can(ann, p2.ID))
		}
		if can(di, p1.ID) {
			t.Fatal("a deactivated member reaches its project")
		}
		wantCode(t, s.AddProjectMember(t.Context(), p1.ID, stranger.ID), blobmark.ENOTFOUND)
		wantCode(t, s.AddProjectMember(t.Context(), p1.ID+1000, ann.ID), blobmark.ENOTFOUND)

		// A role change takes effect at once, read from the database.
		_, err = s.SetRole(t.Context(), owner.OrganizationID, ann.ID, blobmark.RoleDeactivated, "")
		must(t, err)
		if can(ann, p1.ID) {
			t.Fatal("a member deactivated since still reaches its project")
		}
		_, err = s.SetRole(t.Context(), owner.OrganizationID, ann.ID, blobmark.RoleReviewer, "")
		must(t, err)
		must(t, s.RemoveProjectMember(t.Context(), p1.ID, ann.ID))
		must(t, s.RemoveProjectMember(t.Context(), p1.ID, ann.ID))
		if can(ann, p1.ID) || count(annCtx) != 0 {
			t.Fatal("a removed member still reaches the project")
		}
	})
}
