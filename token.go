package blobmark

import (
	"context"
	"time"
)

// PersonalToken is the record of a personal access token (PAT): a signed
// JWT refresh token a user creates for scripts. Only its id (the JWT's jti)
// and its lifetime are stored, never the token, which the creating answer
// shows once; revoking the record kills the token and every access token
// made from it on their next use.
type PersonalToken struct {
	// ID is the record's number, which the token list shows so a user can
	// revoke a token they no longer hold; unlike the jti it is no part of
	// any token.
	ID        int64
	JTI       string
	UserID    int64
	CreatedAt time.Time
	ExpiresAt time.Time
}

// TokenSettings are an organization's API token settings, Label Studio's
// "JWT settings".
type TokenSettings struct {
	// APITokenTTLDays is the lifetime of a new personal access token;
	// tokens made before a change keep theirs.
	APITokenTTLDays int `json:"api_token_ttl_days"`
	// APITokensEnabled lets members create and use personal access tokens.
	APITokensEnabled bool `json:"api_tokens_enabled"`
	// LegacyAPITokensEnabled lets members use their legacy key
	// ("Authorization: Token <key>").
	LegacyAPITokensEnabled bool `json:"legacy_api_tokens_enabled"`
}

// MaxAPITokenTTLDays bounds a personal access token's lifetime: ten years.
const MaxAPITokenTTLDays = 3650

// Validate refuses a lifetime outside 1..MaxAPITokenTTLDays days.
func (s TokenSettings) Validate() error {
	if s.APITokenTTLDays < 1 || s.APITokenTTLDays > MaxAPITokenTTLDays {
		return FieldErrorf("api_token_ttl_days", "Ensure this value is between 1 and %d days, got %d.", MaxAPITokenTTLDays, s.APITokenTTLDays)
	}
	return nil
}

// ErrLegacyTokensDisabled is UserService.AuthenticateToken's answer to a
// valid legacy key of an organization that turned legacy keys off. It is
// not a failed guess, and callers tell it apart with errors.Is.
var ErrLegacyTokensDisabled = &Error{Code: EUNAUTHORIZED,
	Message: "Legacy API tokens are disabled in this organization; authenticate with a personal access token (Authorization: Bearer <access token>) instead."}

// TokenService keeps personal access tokens and the organizations' token
// settings. Methods that judge a token's age take now from the caller, the
// same clock that checks the JWT's own exp claim, so the two never
// disagree.
type TokenService interface {
	// CreatePersonalToken records a new personal access token of the user,
	// with a fresh random jti, living the organization's APITokenTTLDays
	// from now. EFORBIDDEN when the organization disabled API tokens.
	CreatePersonalToken(ctx context.Context, userID int64, now time.Time) (*PersonalToken, error)
	// ListPersonalTokens lists the user's live tokens (neither revoked nor
	// expired at now), oldest first.
	ListPersonalTokens(ctx context.Context, userID int64, now time.Time) ([]*PersonalToken, error)
	// RevokePersonalToken revokes the user's token jti; revoking it again,
	// or once expired, changes nothing. ENOTFOUND for a jti that is not
	// the user's, whether or not it exists.
	RevokePersonalToken(ctx context.Context, userID int64, jti string, now time.Time) error
	// RotatePersonalToken revokes the user's live token jti and records its
	// replacement, as CreatePersonalToken does, in one transaction.
	// ENOTFOUND as RevokePersonalToken; EINVALID on "refresh" for a revoked
	// or expired token.
	RotatePersonalToken(ctx context.Context, userID int64, jti string, now time.Time) (*PersonalToken, error)
	// AuthenticatePersonalToken returns the owner of token jti, read afresh
	// with its role, when the token is neither revoked nor expired at now
	// and its organization allows API tokens; EUNAUTHORIZED naming the
	// problem otherwise. The caller still checks the role is active.
	AuthenticatePersonalToken(ctx context.Context, jti string, now time.Time) (*User, error)
	// TokenSettings returns an organization's token settings.
	TokenSettings(ctx context.Context, orgID int64) (*TokenSettings, error)
	// UpdateTokenSettings validates and stores an organization's token
	// settings.
	UpdateTokenSettings(ctx context.Context, orgID int64, s TokenSettings) (*TokenSettings, error)
}
