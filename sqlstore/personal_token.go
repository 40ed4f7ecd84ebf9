package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"time"

	"github.com/blobmark/blobmark"
)

// PersonalTokens holds personal access tokens (only their jti and
// lifetime) and the organizations' token settings.
type PersonalTokens struct {
	*core
}

var _ blobmark.TokenService = (*DB)(nil)

// tokenTime is a token's instant as stored: whole seconds, as the JWT's
// iat and exp claims carry it, so the record and the token agree.
func tokenTime(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

// errTokensDisabled refuses personal access tokens in an organization that
// turned them off.
func errTokensDisabled(code string) error {
	return blobmark.Errorf(code, "Personal access tokens are disabled in this organization; an administrator can enable them in the organization's token settings (POST /api/jwt/settings).")
}

// CreatePersonalToken records a new token of the user, living the
// organization's api_token_ttl_days.
func (db *PersonalTokens) CreatePersonalToken(ctx context.Context, userID int64, now time.Time) (*blobmark.PersonalToken, error) {
	var t *blobmark.PersonalToken
	err := db.inTx(ctx, "create personal token", func(tx *Tx) (err error) {
		t, err = tx.createPersonalToken(ctx, userID, now)
		return err
	})
	return t, err
}

// createPersonalToken reads the organization's settings and records the
// token in tx, so a token is never made under settings that just changed.
func (tx *Tx) createPersonalToken(ctx context.Context, userID int64, now time.Time) (*blobmark.PersonalToken, error) {
	var days int
	var enabled bool
	err := tx.queryRow(ctx, `SELECT o.api_token_ttl_days, o.api_tokens_enabled FROM users u
		JOIN organizations o ON o.id = u.organization_id WHERE u.id = ?`, userID).Scan(&days, &enabled)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("user")
	} else if err != nil {
		return nil, err
	}
	if !enabled {
		return nil, errTokensDisabled(blobmark.EFORBIDDEN)
	}
	var id [16]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
	created := tokenTime(now)
	t := &blobmark.PersonalToken{JTI: hex.EncodeToString(id[:]), UserID: userID, CreatedAt: created,
		ExpiresAt: created.AddDate(0, 0, days)}
	err = tx.queryRow(ctx, "INSERT INTO personal_tokens (user_id, jti, created_at, expires_at) VALUES (?, ?, ?, ?) RETURNING id",
		userID, t.JTI, t.CreatedAt, t.ExpiresAt).Scan(&t.ID)
	return t, err
}

// ListPersonalTokens lists the user's live tokens, oldest first. Expired ones
// are left out here rather than in SQL, where the two dialects compare
// stored times differently.
func (db *PersonalTokens) ListPersonalTokens(ctx context.Context, userID int64, now time.Time) ([]*blobmark.PersonalToken, error) {
	rows, err := db.query(ctx, `SELECT id, jti, created_at, expires_at FROM personal_tokens
		WHERE user_id = ? AND revoked_at IS NULL ORDER BY id`, userID)
	if err != nil {
		return nil, translate("list personal tokens", err)
	}
	defer rows.Close()
	out := []*blobmark.PersonalToken{}
	for rows.Next() {
		t := &blobmark.PersonalToken{UserID: userID}
		var created, expires timeValue
		if err := rows.Scan(&t.ID, &t.JTI, &created, &expires); err != nil {
			return nil, translate("list personal tokens", err)
		}
		t.CreatedAt, t.ExpiresAt = created.Time, expires.Time
		if now.Before(t.ExpiresAt) {
			out = append(out, t)
		}
	}
	return out, translate("list personal tokens", rows.Err())
}

// RevokePersonalToken revokes the user's token jti. The update names the
// user, so nobody revokes another's token, and a token that is not the
// caller's is not found whether or not it exists.
func (db *PersonalTokens) RevokePersonalToken(ctx context.Context, userID int64, jti string, now time.Time) error {
	return db.inTx(ctx, "revoke personal token", func(tx *Tx) error {
		_, err := tx.revokePersonalToken(ctx, userID, jti, now)
		return err
	})
}

// revokePersonalToken revokes the user's token jti if it is not revoked
// yet, and reports whether this call revoked it; ENOTFOUND when the user
// has no such token.
func (tx *Tx) revokePersonalToken(ctx context.Context, userID int64, jti string, now time.Time) (bool, error) {
	res, err := tx.exec(ctx, "UPDATE personal_tokens SET revoked_at = ? WHERE jti = ? AND user_id = ? AND revoked_at IS NULL",
		tokenTime(now), jti, userID)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return n > 0, err
	}
	var ok int
	err = tx.queryRow(ctx, "SELECT 1 FROM personal_tokens WHERE jti = ? AND user_id = ?", jti, userID).Scan(&ok)
	if errors.Is(err, sql.ErrNoRows) {
		return false, notFound("token")
	}
	return false, err
}

// RotatePersonalToken revokes the user's live token jti and records its
// replacement. The revoking update is conditional, so two rotations of one
// token at once make one replacement, not two.
func (db *PersonalTokens) RotatePersonalToken(ctx context.Context, userID int64, jti string, now time.Time) (*blobmark.PersonalToken, error) {
	var t *blobmark.PersonalToken
	err := db.inTx(ctx, "rotate personal token", func(tx *Tx) error {
		var expires timeValue
		err := tx.queryRow(ctx, "SELECT expires_at FROM personal_tokens WHERE jti = ? AND user_id = ?", jti, userID).Scan(&expires)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("token")
		} else if err != nil {
			return err
		}
		if !now.Before(expires.Time) {
			return blobmark.FieldErrorf("refresh", "Token has expired; create a new one with POST /api/token/.")
		}
		revoked, err := tx.revokePersonalToken(ctx, userID, jti, now)
		if err != nil {
			return err
		}
		if !revoked {
			return blobmark.FieldErrorf("refresh", "Token is blacklisted; create a new one with POST /api/token/.")
		}
		t, err = tx.createPersonalToken(ctx, userID, now)
		return err
	})
	return t, err
}

// AuthenticatePersonalToken returns the owner of token jti in one query
// that also reads the token's state and its organization's setting, so a
// revocation, a deactivation or a setting change counts on the next
// request, on every replica.
func (db *PersonalTokens) AuthenticatePersonalToken(ctx context.Context, jti string, now time.Time) (*blobmark.User, error) {
	var expires, revoked timeValue
	var enabled bool
	u, err := scanUser(db.queryRow(ctx, "SELECT "+qualifiedUserColumns+`, t.expires_at, t.revoked_at, o.api_tokens_enabled
		FROM personal_tokens t JOIN users u ON u.id = t.user_id JOIN organizations o ON o.id = u.organization_id
		WHERE t.jti = ?`, jti), &expires, &revoked, &enabled)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, blobmark.Errorf(blobmark.EUNAUTHORIZED, "Token is unknown to this server.")
	case err != nil:
		return nil, translate("authenticate personal token", err)
	case !revoked.IsZero():
		return nil, blobmark.Errorf(blobmark.EUNAUTHORIZED, "Token is blacklisted.")
	case !now.Before(expires.Time):
		return nil, blobmark.Errorf(blobmark.EUNAUTHORIZED, "Token has expired.")
	case !enabled:
		return nil, errTokensDisabled(blobmark.EUNAUTHORIZED)
	}
	return u, nil
}

// TokenSettings returns an organization's token settings.
func (db *PersonalTokens) TokenSettings(ctx context.Context, orgID int64) (*blobmark.TokenSettings, error) {
	var s blobmark.TokenSettings
	err := db.queryRow(ctx, "SELECT api_token_ttl_days, api_tokens_enabled, legacy_api_tokens_enabled FROM organizations WHERE id = ?", orgID).
		Scan(&s.APITokenTTLDays, &s.APITokensEnabled, &s.LegacyAPITokensEnabled)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("organization")
	}
	return &s, translate("token settings", err)
}

// UpdateTokenSettings validates and stores an organization's token
// settings.
func (db *PersonalTokens) UpdateTokenSettings(ctx context.Context, orgID int64, s blobmark.TokenSettings) (*blobmark.TokenSettings, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	err := db.inTx(ctx, "update token settings", func(tx *Tx) error {
		res, err := tx.exec(ctx, "UPDATE organizations SET api_token_ttl_days = ?, api_tokens_enabled = ?, legacy_api_tokens_enabled = ? WHERE id = ?",
			s.APITokenTTLDays, s.APITokensEnabled, s.LegacyAPITokensEnabled, orgID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return notFound("organization")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &s, nil
}
