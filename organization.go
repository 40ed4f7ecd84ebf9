package blobmark

import (
	"context"
	"time"
)

// DefaultOrganizationID is the organization every user and project belongs
// to unless told otherwise: a single-team install has only this one, and
// everyone in it sees every project, as in a fresh Label Studio.
const DefaultOrganizationID int64 = 1

// DefaultOrganizationTitle is the default organization's title.
const DefaultOrganizationTitle = "default"

// Organization is a team, as in Label Studio: every member sees all of its
// projects, and nobody else sees any. A user belongs to exactly one
// organization (Label Studio's active organization); a project belongs to
// the organization of the user who created it.
type Organization struct {
	ID        int64     `json:"id"`
	Title     string    `json:"title"`
	CreatedAt time.Time `json:"created_at"`
	// ContactInfo is free text saying whom to ask about the organization.
	ContactInfo string `json:"contact_info"`
}

// OrganizationService manages organizations and their members.
type OrganizationService interface {
	// EnsureOrganization returns the organization with that title, creating
	// it when there is none ("" means the default organization).
	EnsureOrganization(ctx context.Context, title string) (*Organization, error)
	// FindOrganizationByID returns an organization, ENOTFOUND otherwise.
	FindOrganizationByID(ctx context.Context, id int64) (*Organization, error)
	// CreateUserInOrganization creates a user as CreateUser does, as a
	// member of the organization titled org, which is created in the same
	// transaction when missing ("" means the default organization).
	CreateUserInOrganization(ctx context.Context, email, password, org string) (*User, string, error)
}
