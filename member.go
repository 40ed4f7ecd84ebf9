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
}
