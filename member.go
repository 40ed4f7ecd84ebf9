package blobmark

import "context"

// MemberService manages who belongs to an organization with which role, and
// who is a member of which project.
type MemberService interface {
	// SetRole changes the role of user userID in organization orgID and
	// returns the user. by is the role of the member making the change
	// (Role.CanAssign decides, EFORBIDDEN otherwise); "" is the operator
	// at the command line, who may make any change. Demoting or
	// deactivating the last active owner is refused (EINVALID on "role").
	// A user of another organization is ENOTFOUND.
	SetRole(ctx context.Context, orgID, userID int64, role Role, by Role) (*User, error)
	// AddProjectMember makes a user of the project's organization a member
	// of the project (ENOTFOUND for a user of another organization);
	// adding a member again changes nothing.
	AddProjectMember(ctx context.Context, projectID, userID int64) error
	// RemoveProjectMember ends a project membership; ending one that does
	// not exist changes nothing.
	RemoveProjectMember(ctx context.Context, projectID, userID int64) error

	// FindMembers returns one page of the members of organization orgID
	// that f keeps, and how many f keeps in all.
	FindMembers(ctx context.Context, orgID int64, f MemberFilter, p Page) ([]*User, int, error)
	// FindMemberByID returns user userID of organization orgID; a user of
	// another organization is ENOTFOUND, as if it did not exist.
	FindMemberByID(ctx context.Context, orgID, userID int64) (*User, error)
	// ProjectMemberIDs lists the users added to a project (not those whose
	// role sees every project), in the order they were added.
	ProjectMemberIDs(ctx context.Context, projectID int64) ([]int64, error)
	// AddProjectMembers makes the listed users members of a project in one
	// transaction and returns how many became members just now; the ids
	// that are not active members of the project's organization are
	// skipped and returned.
	AddProjectMembers(ctx context.Context, projectID int64, userIDs []int64) (added int, skipped []int64, err error)
	// RemoveProjectMembers ends the listed users' memberships of a project
	// and returns how many there were.
	RemoveProjectMembers(ctx context.Context, projectID int64, userIDs []int64) (int, error)

	// UpdateUser changes what up sets of user userID and returns the user.
	UpdateUser(ctx context.Context, userID int64, up UserUpdate) (*User, error)
	// UpdateOrganization changes what up sets of organization id.
	UpdateOrganization(ctx context.Context, id int64, up OrganizationUpdate) (*Organization, error)
}

// MemberFilter says which members of an organization a list keeps. The
// zero value keeps them all, ordered by id.
type MemberFilter struct {
	// Roles keeps the members with one of these roles; empty keeps all.
	Roles []Role
	// Search keeps the members whose email, username, first or last name
	// contains it, without regard to case.
	Search string
	// Ordering is one of MemberOrderings, with a leading "-" for descending
	// order; "" means "id".
	Ordering string
	// ProjectID, when not 0, keeps the members of that project: those
	// added to it and those whose role sees every project.
	ProjectID int64
}

// MemberOrderings are the fields a member list may be ordered by.
var MemberOrderings = []string{"id", "email", "username", "first_name", "last_name", "role", "date_joined"}

// UserUpdate is a change to a user; nil fields stay as they are. The email
// never changes: it is the account's sign-in name, as in Label Studio.
type UserUpdate struct {
	Username, FirstName, LastName *string
	// Password, when set, becomes the user's password, provided
	// CurrentPassword is the present one (EINVALID on "old_password"
	// otherwise): a stolen session must not be enough to take the account.
	Password        *string
	CurrentPassword string
}

// OrganizationUpdate is a change to an organization; nil fields stay as
// they are.
type OrganizationUpdate struct {
	Title, ContactInfo *string
}
