package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
)

// tokenEpoch is the instant the personal token tests start at: the store
// judges tokens by the caller's clock, so no test waits.
var tokenEpoch = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func testPersonalTokens(t *testing.T, open Open) {
	t.Run("LifetimeFollowsTheOrganization", func(t *testing.T) {
		s := open(t)
		_, u := asUser(t, s, "ada@example.com")
		tok, err := s.CreatePersonalToken(t.Context(), u.ID, tokenEpoch.Add(time.Millisecond))
		must(t, err)
		if tok.JTI == "" || tok.UserID != u.ID || !tok.CreatedAt.Equal(tokenEpoch) || !tok.ExpiresAt.Equal(tokenEpoch.AddDate(0, 0, 30)) {
			t.Fatalf("token %+v: want the default 30 days from %v, in whole seconds", tok, tokenEpoch)
		}
		set, err := s.UpdateTokenSettings(t.Context(), u.OrganizationID, blobmark.TokenSettings{APITokenTTLDays: 2, APITokensEnabled: true})
		must(t, err)
		if set.APITokenTTLDays != 2 || set.LegacyAPITokensEnabled {
			t.Fatalf("updated settings %+v", set)
		}
		got, err := s.TokenSettings(t.Context(), u.OrganizationID)
		must(t, err)
		if *got != *set {
			t.Fatalf("stored settings %+v, want %+v", got, set)
		}
		short, err := s.CreatePersonalToken(t.Context(), u.ID, tokenEpoch)
		must(t, err)
		if !short.ExpiresAt.Equal(tokenEpoch.AddDate(0, 0, 2)) || short.JTI == tok.JTI {
			t.Fatalf("token after the change %+v", short)
		}
		// The first token keeps its lifetime; both are listed until it ends.
		list, err := s.ListPersonalTokens(t.Context(), u.ID, tokenEpoch)
		must(t, err)
		if len(list) != 2 || list[0].JTI != tok.JTI || list[1].JTI != short.JTI ||
			tok.ID == 0 || short.ID == tok.ID || list[0].ID != tok.ID || list[1].ID != short.ID {
			t.Fatalf("list %+v", list)
		}
		list, err = s.ListPersonalTokens(t.Context(), u.ID, short.ExpiresAt)
		must(t, err)
		if len(list) != 1 || list[0].JTI != tok.JTI {
			t.Fatalf("list once the short token expired: %+v", list)
		}
	})

	t.Run("SettingsAreValidated", func(t *testing.T) {
		s := open(t)
		_, u := asUser(t, s, "ada@example.com")
		for _, days := range []int{0, -1, blobmark.MaxAPITokenTTLDays + 1} {
			_, err := s.UpdateTokenSettings(t.Context(), u.OrganizationID, blobmark.TokenSettings{APITokenTTLDays: days, APITokensEnabled: true})
			wantField(t, err, "api_token_ttl_days")
		}
		got, err := s.TokenSettings(t.Context(), u.OrganizationID)
		must(t, err)
		if *got != (blobmark.TokenSettings{APITokenTTLDays: 30, APITokensEnabled: true, LegacyAPITokensEnabled: true}) {
			t.Fatalf("settings after refused updates: %+v, want the defaults", got)
		}
		_, err = s.UpdateTokenSettings(t.Context(), u.OrganizationID+1000, blobmark.TokenSettings{APITokenTTLDays: 1})
		wantCode(t, err, blobmark.ENOTFOUND)
	})

	t.Run("AuthenticateUntilRevokedOrExpired", func(t *testing.T) {
		s := open(t)
		_, u := asUser(t, s, "ada@example.com")
		tok, err := s.CreatePersonalToken(t.Context(), u.ID, tokenEpoch)
		must(t, err)
		got, err := s.AuthenticatePersonalToken(t.Context(), tok.JTI, tokenEpoch)
		must(t, err)
		if got.ID != u.ID || got.Role != blobmark.RoleOwner || got.OrganizationID != u.OrganizationID {
			t.Fatalf("authenticated %+v, want %+v", got, u)
		}
		_, err = s.AuthenticatePersonalToken(t.Context(), tok.JTI, tok.ExpiresAt)
		wantMessage(t, err, blobmark.EUNAUTHORIZED, "Token has expired.")
		_, err = s.AuthenticatePersonalToken(t.Context(), "no-such-jti", tokenEpoch)
		wantMessage(t, err, blobmark.EUNAUTHORIZED, "Token is unknown to this server.")

		must(t, s.RevokePersonalToken(t.Context(), u.ID, tok.JTI, tokenEpoch))
		_, err = s.AuthenticatePersonalToken(t.Context(), tok.JTI, tokenEpoch)
		wantMessage(t, err, blobmark.EUNAUTHORIZED, "Token is blacklisted.")
		must(t, s.RevokePersonalToken(t.Context(), u.ID, tok.JTI, tokenEpoch)) // again: no change, no error
		list, err := s.ListPersonalTokens(t.Context(), u.ID, tokenEpoch)
		must(t, err)
		if len(list) != 0 {
			t.Fatalf("revoked token still listed: %+v", list)
		}
	})

	t.Run("OnlyTheOwnerRevokesOrRotates", func(t *testing.T) {
		s := open(t)
		_, ada := asUser(t, s, "ada@example.com")
		other, _, err := s.CreateUserInOrganization(t.Context(), "gus@example.com", "pw", "Globex")
		must(t, err)
		tok, err := s.CreatePersonalToken(t.Context(), ada.ID, tokenEpoch)
		must(t, err)
		// Another user, here of another organization, finds nothing.
		wantCode(t, s.RevokePersonalToken(t.Context(), other.ID, tok.JTI, tokenEpoch), blobmark.ENOTFOUND)
		_, err = s.RotatePersonalToken(t.Context(), other.ID, tok.JTI, tokenEpoch)
		wantCode(t, err, blobmark.ENOTFOUND)
		wantCode(t, s.RevokePersonalToken(t.Context(), ada.ID, "no-such-jti", tokenEpoch), blobmark.ENOTFOUND)
		if _, err := s.AuthenticatePersonalToken(t.Context(), tok.JTI, tokenEpoch); err != nil {
			t.Fatalf("the owner's token stopped working after others' attempts: %v", err)
		}
	})

	t.Run("RotateReplacesTheToken", func(t *testing.T) {
		s := open(t)
		_, u := asUser(t, s, "ada@example.com")
		old, err := s.CreatePersonalToken(t.Context(), u.ID, tokenEpoch)
		must(t, err)
		later := tokenEpoch.Add(time.Hour)
		fresh, err := s.RotatePersonalToken(t.Context(), u.ID, old.JTI, later)
		must(t, err)
		if fresh.JTI == old.JTI || !fresh.ExpiresAt.Equal(later.AddDate(0, 0, 30)) {
			t.Fatalf("rotated token %+v from %+v", fresh, old)
		}
		_, err = s.AuthenticatePersonalToken(t.Context(), old.JTI, later)
		wantMessage(t, err, blobmark.EUNAUTHORIZED, "Token is blacklisted.")
		_, err = s.AuthenticatePersonalToken(t.Context(), fresh.JTI, later)
		must(t, err)
		// A revoked or expired token is not rotated again.
		_, err = s.RotatePersonalToken(t.Context(), u.ID, old.JTI, later)
		wantField(t, err, "refresh")
		_, err = s.RotatePersonalToken(t.Context(), u.ID, fresh.JTI, fresh.ExpiresAt)
		wantField(t, err, "refresh")
		list, err := s.ListPersonalTokens(t.Context(), u.ID, later)
		must(t, err)
		if len(list) != 1 || list[0].JTI != fresh.JTI {
			t.Fatalf("list after rotation %+v", list)
		}
	})

	t.Run("DisabledTokensAndDeactivatedUsers", func(t *testing.T) {
		s := open(t)
		owner, _, err := s.CreateUserInOrganization(t.Context(), "olga@example.com", "pw", "Acme")
		must(t, err)
		ann, _, err := s.CreateUserInOrganization(t.Context(), "ann@example.com", "pw", "Acme")
		must(t, err)
		tok, err := s.CreatePersonalToken(t.Context(), ann.ID, tokenEpoch)
		must(t, err)

		// Deactivation shows in the role read with the token's owner.
		_, err = s.SetRole(t.Context(), owner.OrganizationID, ann.ID, blobmark.RoleDeactivated, "")
		must(t, err)
		got, err := s.AuthenticatePersonalToken(t.Context(), tok.JTI, tokenEpoch)
		must(t, err)
		if got.Role.Active() {
			t.Fatalf("deactivated user authenticated with role %s", got.Role)
		}

		_, err = s.UpdateTokenSettings(t.Context(), owner.OrganizationID, blobmark.TokenSettings{APITokenTTLDays: 30})
		must(t, err)
		_, err = s.CreatePersonalToken(t.Context(), owner.ID, tokenEpoch)
		wantCode(t, err, blobmark.EFORBIDDEN)
		_, err = s.AuthenticatePersonalToken(t.Context(), tok.JTI, tokenEpoch)
		wantCode(t, err, blobmark.EUNAUTHORIZED)
		list, err := s.ListPersonalTokens(t.Context(), owner.ID, tokenEpoch)
		must(t, err)
		if len(list) != 0 {
			t.Fatalf("refused creation left a token: %+v", list)
		}
	})

	t.Run("LegacyKeysFollowTheSetting", func(t *testing.T) {
		s := open(t)
		u, key, err := s.CreateUser(t.Context(), "ada@example.com", "pw")
		must(t, err)
		_, err = s.UpdateTokenSettings(t.Context(), u.OrganizationID, blobmark.TokenSettings{APITokenTTLDays: 30, APITokensEnabled: true})
		must(t, err)
		_, err = s.AuthenticateToken(t.Context(), key)
		if !errors.Is(err, blobmark.ErrLegacyTokensDisabled) {
			t.Fatalf("legacy key with legacy keys off: %v, want ErrLegacyTokensDisabled", err)
		}
		_, err = s.AuthenticateToken(t.Context(), "not-a-key")
		wantMessage(t, err, blobmark.EUNAUTHORIZED, "Invalid credentials.")
		_, err = s.UpdateTokenSettings(t.Context(), u.OrganizationID, blobmark.TokenSettings{APITokenTTLDays: 30, LegacyAPITokensEnabled: true})
		must(t, err)
		got, err := s.AuthenticateToken(t.Context(), key)
		must(t, err)
		if got.ID != u.ID || got.Email != u.Email || got.Role != u.Role {
			t.Fatalf("legacy key authenticated %+v, want %+v", got, u)
		}
	})
}

// wantMessage fails unless err has the code and the client message given.
func wantMessage(t *testing.T, err error, code, message string) {
	t.Helper()
	wantCode(t, err, code)
	if got := blobmark.ErrorMessage(err); got != message {
		t.Fatalf("message %q, want %q", got, message)
	}
}
