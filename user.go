package blobmark

import (
	"context"
	"strings"
	"time"
)

// User is a person (or script) that signs in. Passwords and API tokens are
// stored hashed; the plain token exists only in the answer that creates it.
type User struct {
	ID          int64     `json:"id"`
	Email       string    `json:"email"`
	Username    string    `json:"username"`
	FirstName   string    `json:"first_name"`
	LastName    string    `json:"last_name"`
	DateJoined  time.Time `json:"date_joined"`
	TokenPrefix string    `json:"-"` // first characters of the token, to recognise it in `token show`
	// OrganizationID is the one organization the user belongs to; it sees
	// that organization's projects and no others.
	OrganizationID int64 `json:"-"`
	// Role is the user's role in its organization, read with the user on
	// every request, so a change takes effect on the next one.
	Role Role `json:"-"`
}

// NewUser is what creating a user takes.
type NewUser struct {
	Email, Password               string
	Username, FirstName, LastName string
	// OrganizationID places the user in that organization; 0 means the one
	// titled Organization ("" the default), created when missing.
	OrganizationID int64
	Organization   string
	// Role is the user's role. "" makes the first member of an organization
	// its owner and any later one an annotator, the least a member can be.
	Role Role
}

// EmailKey is the form an email is unique and looked up in: trimmed and
// lower-cased, so that Ada@example.com and ada@example.com are one account
// for the stores and for everything that counts per account.
func EmailKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// UserService manages users and their credentials.
type UserService interface {
	// CreateUser creates a user with a password, in the default
	// organization, and returns its new API token.
	CreateUser(ctx context.Context, email, password string) (*User, string, error)
	// AddUser creates the user nu describes and returns its new API token.
	AddUser(ctx context.Context, nu NewUser) (*User, string, error)
	// FindUserByEmail returns the user with that email (ENOTFOUND otherwise).
	FindUserByEmail(ctx context.Context, email string) (*User, error)
	// FindUserByID returns the user with that id (ENOTFOUND otherwise).
	FindUserByID(ctx context.Context, id int64) (*User, error)
	// AuthenticatePassword returns the user when email and password match,
	// EUNAUTHORIZED otherwise (the same error for an unknown email).
	AuthenticatePassword(ctx context.Context, email, password string) (*User, error)
	// AuthenticateToken returns the owner of an API token, EUNAUTHORIZED
	// otherwise, and ErrLegacyTokensDisabled when the key is right but its
	// organization turned legacy keys off.
	AuthenticateToken(ctx context.Context, token string) (*User, error)
	// RotateToken replaces a user's API token and returns the new one.
	RotateToken(ctx context.Context, userID int64) (string, error)
}
