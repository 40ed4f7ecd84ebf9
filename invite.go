package blobmark

import (
	"context"
	"time"
)

// Invite lets one person join an organization with a role by following a
// link until it expires. The link carries a random token that exists only
// in the answer that creates the invite; the store keeps its hash.
type Invite struct {
	ID             int64
	OrganizationID int64
	// Role is the role the new member gets: an active role the inviter
	// may assign (Role.CanAssign).
	Role Role
	// Email, when not "", is the only email the invite may be accepted with.
	Email string
	// ProjectIDs are the projects of the organization the new member joins.
	ProjectIDs []int64
	CreatedBy  int64
	CreatedAt  time.Time
	ExpiresAt  time.Time
	// AcceptedBy and AcceptedAt are set once the invite is used; it cannot
	// be used again.
	AcceptedBy int64
	AcceptedAt *time.Time
}

// The lifetime of an invite: DefaultInviteTTL unless the inviter asks for
// another, at most MaxInviteTTL.
const (
	DefaultInviteTTL = 72 * time.Hour
	MaxInviteTTL     = 30 * 24 * time.Hour
)

// InviteService manages invitations.
type InviteService interface {
	// CreateInvite stores inv (filling ID and CreatedAt) and returns the
	// token of its link. by is the inviter's role: an invite for a role it
	// may not assign is EFORBIDDEN, one for an inactive role EINVALID on
	// "role"; an email that already has an account is ECONFLICT on
	// "email"; a project of another organization is ENOTFOUND.
	CreateInvite(ctx context.Context, inv *Invite, by Role) (string, error)
	// FindInvites lists the organization's invites that are neither used
	// nor expired, newest first.
	FindInvites(ctx context.Context, orgID int64) ([]*Invite, error)
	// RevokeInvite deletes an unused invite of the organization, so its
	// link stops working (ENOTFOUND for an unknown or used one).
	RevokeInvite(ctx context.Context, orgID, id int64) error
	// FindInviteByToken returns the invite of a link: ENOTFOUND for an
	// unknown token, EINVALID on "token" for a used or expired one.
	FindInviteByToken(ctx context.Context, token string) (*Invite, error)
	// AcceptInvite creates the user nu describes in the invite's
	// organization with its role, makes it a member of the invite's
	// projects and marks the invite used, all in one transaction, so an
	// invite makes one user at most. nu's organization and role are
	// ignored; its email must be the invite's when the invite names one
	// (EINVALID on "email").
	AcceptInvite(ctx context.Context, token string, nu NewUser) (*User, error)
}
