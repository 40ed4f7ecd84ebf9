package storetest

import (
	"context"
	"testing"

	"github.com/blobmark/blobmark"
)

func testOrganizations(t *testing.T, open Open) {
	t.Run("DefaultOrganization", func(t *testing.T) {
		s := open(t)
		ctx, u := asUser(t, s, "ada@example.com")
		if u.OrganizationID != blobmark.DefaultOrganizationID {
			t.Fatalf("CreateUser put the user in organization %d, want the default %d", u.OrganizationID, blobmark.DefaultOrganizationID)
		}
		o, err := s.FindOrganizationByID(ctx, blobmark.DefaultOrganizationID)
		must(t, err)
		if o.Title != blobmark.DefaultOrganizationTitle {
			t.Fatalf("default organization = %+v", o)
		}
		again, err := s.EnsureOrganization(ctx, "")
		must(t, err)
		if again.ID != blobmark.DefaultOrganizationID {
			t.Fatalf(`EnsureOrganization("") = %+v, want the default organization`, again)
		}
		p := newProject(t, ctx, s, "mine")
		if p.OrganizationID != u.OrganizationID {
			t.Fatalf("project organization %d, want its creator's %d", p.OrganizationID, u.OrganizationID)
		}
		// Without a user (a job, a command) a project joins the default one.
		orphan := newProject(t, t.Context(), s, "orphan")
		if orphan.OrganizationID != blobmark.DefaultOrganizationID {
			t.Fatalf("project without a creator in organization %d", orphan.OrganizationID)
		}
		_, err = s.FindOrganizationByID(ctx, 1000)
		wantCode(t, err, blobmark.ENOTFOUND)
	})

	t.Run("EnsureIsIdempotent", func(t *testing.T) {
		s := open(t)
		asUser(t, s, "ada@example.com")
		_, err := s.EnsureOrganization(t.Context(), "")
		must(t, err)
		a, err := s.EnsureOrganization(t.Context(), "Acme")
		must(t, err)
		b, err := s.EnsureOrganization(t.Context(), "  Acme ")
		must(t, err)
		// Finding an organization uses up no id: the first new one is 2.
		if a.ID != 2 || a.ID != b.ID || a.Title != "Acme" || a.CreatedAt.IsZero() {
			t.Fatalf("EnsureOrganization twice: %+v then %+v", a, b)
		}
		u, token, err := s.CreateUserInOrganization(t.Context(), "bob@example.com", "pw", "Acme")
		must(t, err)
		if u.OrganizationID != a.ID || token == "" {
			t.Fatalf("CreateUserInOrganization: user %+v", u)
		}
		c, _, err := s.CreateUserInOrganization(t.Context(), "carol@example.com", "pw", "Globex")
		must(t, err)
		if c.OrganizationID == a.ID || c.OrganizationID == blobmark.DefaultOrganizationID {
			t.Fatalf("a new organization's member joined organization %d", c.OrganizationID)
		}
		// The organization is what authentication returns, too.
		got, err := s.AuthenticateToken(t.Context(), token)
		must(t, err)
		if got.OrganizationID != a.ID {
			t.Fatalf("AuthenticateToken: organization %d, want %d", got.OrganizationID, a.ID)
		}
		got, err = s.AuthenticatePassword(t.Context(), "bob@example.com", "pw")
		must(t, err)
		if got.OrganizationID != a.ID {
			t.Fatalf("AuthenticatePassword: organization %d, want %d", got.OrganizationID, a.ID)
		}
		got, err = s.FindUserByEmail(t.Context(), "bob@example.com")
		must(t, err)
		if got.OrganizationID != a.ID {
			t.Fatalf("FindUserByEmail: organization %d, want %d", got.OrganizationID, a.ID)
		}
		// Emails are unique across organizations.
		_, _, err = s.CreateUserInOrganization(t.Context(), "bob@example.com", "pw", "Initech")
		wantCode(t, err, blobmark.ECONFLICT)
	})

	t.Run("ProjectsAreSeenByTheirOrganizationOnly", func(t *testing.T) {
		s := open(t)
		member := func(email, org string) (context.Context, *blobmark.User) {
			u, _, err := s.CreateUserInOrganization(t.Context(), email, "pw", org)
			must(t, err)
			return blobmark.NewContextWithUser(t.Context(), u), u
		}
		aliceCtx, alice := member("alice@example.com", "")
		_, ann := member("ann@example.com", "")
		// A manager sees every project of the organization (Members covers
		// the roles that see only their projects).
		ann, err := s.SetRole(t.Context(), ann.OrganizationID, ann.ID, blobmark.RoleManager, "")
		must(t, err)
		annCtx := blobmark.NewContextWithUser(t.Context(), ann)
		bobCtx, bob := member("bob@example.com", "Acme")
		a1 := newProject(t, aliceCtx, s, "a1")
		a2 := newProject(t, annCtx, s, "a2")
		b1 := newProject(t, bobCtx, s, "b1")
		if b1.OrganizationID != bob.OrganizationID || a1.OrganizationID == b1.OrganizationID {
			t.Fatalf("organizations: a1 %d, b1 %d", a1.OrganizationID, b1.OrganizationID)
		}
		got, err := s.FindProjectByID(aliceCtx, b1.ID)
		must(t, err)
		if got.OrganizationID != bob.OrganizationID {
			t.Fatalf("FindProjectByID organization %d, want %d", got.OrganizationID, bob.OrganizationID)
		}

		ids := func(ctx context.Context) (map[int64]bool, int) {
			list, total, err := s.FindProjects(ctx, blobmark.Page{Limit: 10})
			must(t, err)
			out := map[int64]bool{}
			for _, p := range list {
				out[p.ID] = true
			}
			return out, total
		}
		if seen, total := ids(aliceCtx); total != 2 || len(seen) != 2 || !seen[a1.ID] || !seen[a2.ID] {
			t.Fatalf("alice sees %v (total %d), want a1 and a2", seen, total)
		}
		if seen, total := ids(bobCtx); total != 1 || len(seen) != 1 || !seen[b1.ID] {
			t.Fatalf("bob sees %v (total %d), want b1 only", seen, total)
		}
		if _, total := ids(t.Context()); total != 3 {
			t.Fatalf("without a user FindProjects counts %d, want all 3", total)
		}

		for _, tc := range []struct {
			user    *blobmark.User
			project int64
			want    bool
		}{
			{alice, a1.ID, true}, {alice, a2.ID, true}, {ann, a1.ID, true}, {alice, b1.ID, false},
			{bob, b1.ID, true}, {bob, a1.ID, false}, {bob, b1.ID + 1000, false}, {nil, a1.ID, false},
		} {
			ok, err := s.CanAccessProject(t.Context(), tc.user, tc.project)
			must(t, err)
			if ok != tc.want {
				t.Errorf("CanAccessProject(%v, %d) = %v, want %v", tc.user, tc.project, ok, tc.want)
			}
		}
		// A deleted project is nobody's.
		must(t, s.DeleteProject(aliceCtx, a2.ID))
		if ok, err := s.CanAccessProject(t.Context(), alice, a2.ID); err != nil || ok {
			t.Fatalf("CanAccessProject on a deleted project = %v, %v", ok, err)
		}
		if _, total := ids(annCtx); total != 1 {
			t.Fatalf("after a delete ann's organization counts %d projects, want 1", total)
		}
	})
}
