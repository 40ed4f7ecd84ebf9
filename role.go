package blobmark

import (
	"slices"
	"strings"
)

// Role is a member's role in their organization, with Label Studio's codes.
// A user belongs to one organization and has one role in it; what each role
// may do is the permission table below and nothing else.
type Role string

// The roles, most powerful first.
const (
	RoleOwner        Role = "OW"
	RoleAdmin        Role = "AD"
	RoleManager      Role = "MA"
	RoleReviewer     Role = "RE"
	RoleAnnotator    Role = "AN"
	RoleDeactivated  Role = "DI"
	RoleNotActivated Role = "NO"
)

// Roles lists every assignable role, most powerful first.
var Roles = []Role{RoleOwner, RoleAdmin, RoleManager, RoleReviewer, RoleAnnotator, RoleDeactivated, RoleNotActivated}

// roleNames are the roles' names, as Label Studio's SDK spells them.
var roleNames = map[Role]string{
	RoleOwner: "Owner", RoleAdmin: "Administrator", RoleManager: "Manager", RoleReviewer: "Reviewer",
	RoleAnnotator: "Annotator", RoleDeactivated: "Deactivated", RoleNotActivated: "Not Activated",
}

// Name is the role's name for people ("Annotator").
func (r Role) Name() string { return roleNames[r] }

// ParseRole reads a role code (case-insensitive); an unknown code is a
// field error on field.
func ParseRole(field, code string) (Role, error) {
	r := Role(strings.ToUpper(strings.TrimSpace(code)))
	if !slices.Contains(Roles, r) {
		return "", FieldErrorf(field, "%q is not a valid role; use one of %s.", code, roleList())
	}
	return r, nil
}

func roleList() string {
	codes := make([]string, len(Roles))
	for i, r := range Roles {
		codes[i] = string(r) + " (" + r.Name() + ")"
	}
	return strings.Join(codes, ", ")
}

// Active reports whether the role may use the server at all. A deactivated
// or not yet activated member's sessions and tokens stop working on their
// next request.
func (r Role) Active() bool { return len(permissionTable[r]) > 0 }

// Permission is something a member may do. Routes, the media resolver and
// the UI ask Role.Can; nothing else decides.
type Permission string

// The permissions, from the least to the most powerful.
const (
	// PermLabel: sign in, use one's own account and tokens, label the tasks
	// of projects one is a member of, and see one's own annotations there.
	PermLabel Permission = "label"
	// PermReview: see every task and annotation of the projects one is a
	// member of, and edit others' annotations.
	PermReview Permission = "review"
	// PermManageProjects: see every project of the organization; create and
	// delete projects, import, export, change project settings and members.
	PermManageProjects Permission = "manage projects"
	// PermStorages: storages with a credential of their own (key, SAS,
	// connection string, service principal, anonymous), webhooks and event
	// settings.
	PermStorages Permission = "storages"
	// PermHostIdentityStorages: storages that use an identity attached to
	// the server (UsesHostIdentity).
	PermHostIdentityStorages Permission = "host identity storages"
	// PermManageMembers: invite members, change roles, deactivate, and the
	// organization's settings (token lifetimes).
	PermManageMembers Permission = "manage members"
)

// Permissions lists every permission, least powerful first.
var Permissions = []Permission{PermLabel, PermReview, PermManageProjects, PermStorages, PermHostIdentityStorages, PermManageMembers}

// permissionTable is the one place that says what each role may do.
var permissionTable = map[Role][]Permission{
	RoleOwner:     Permissions,
	RoleAdmin:     Permissions,
	RoleManager:   {PermLabel, PermReview, PermManageProjects, PermStorages},
	RoleReviewer:  {PermLabel, PermReview},
	RoleAnnotator: {PermLabel},
	// Deactivated and not activated members may do nothing.
}

// Can reports whether the role grants p.
func (r Role) Can(p Permission) bool { return slices.Contains(permissionTable[r], p) }

// RolesThatCan lists the roles that grant p, most powerful first, for the
// stores that filter by role in SQL.
func RolesThatCan(p Permission) []Role {
	var out []Role
	for _, r := range Roles {
		if r.Can(p) {
			out = append(out, r)
		}
	}
	return out
}

// SeesAllProjects reports whether the role sees every project of its
// organization; the others see the projects they are members of.
func (r Role) SeesAllProjects() bool { return r.Can(PermManageProjects) }

// CanAssign reports whether a member with role r may change another
// member's role from `from` to `to`: administrators manage every member but
// the owners, and cannot make anyone an owner; owners manage everyone.
func (r Role) CanAssign(from, to Role) bool {
	switch {
	case !r.Can(PermManageMembers):
		return false
	case r == RoleOwner:
		return true
	default:
		return from != RoleOwner && to != RoleOwner
	}
}

// StoragePermission is the permission that creating, changing or deleting
// a storage with this connection needs.
func StoragePermission(c Connection) Permission {
	if UsesHostIdentity(c.AuthType()) {
		return PermHostIdentityStorages
	}
	return PermStorages
}
