package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/blobmark/blobmark"
)

var _ blobmark.InviteService = (*DB)(nil)

const inviteColumns = "id, organization_id, role, email, COALESCE(created_by, 0), created_at, expires_at, COALESCE(accepted_by, 0), accepted_at"

func scanInvite(row interface{ Scan(...any) error }) (*blobmark.Invite, error) {
	var inv blobmark.Invite
	var created, expires, accepted timeValue
	if err := row.Scan(&inv.ID, &inv.OrganizationID, &inv.Role, &inv.Email, &inv.CreatedBy, &created, &expires, &inv.AcceptedBy, &accepted); err != nil {
		return nil, err
	}
	inv.CreatedAt, inv.ExpiresAt = created.Time, expires.Time
	if !accepted.IsZero() {
		t := accepted.Time
		inv.AcceptedAt = &t
	}
	return &inv, nil
}

// CreateInvite stores an invitation and returns its token. The checks and
// the insert share a transaction, so an account created meanwhile with the
// invited email is not invited as well.
func (db *Members) CreateInvite(ctx context.Context, inv *blobmark.Invite, by blobmark.Role) (string, error) {
	role, err := blobmark.ParseRole("role", string(inv.Role))
	if err != nil {
		return "", err
	}
	if !role.Active() {
		return "", blobmark.FieldErrorf("role", "Invite with an active role; %s members cannot sign in.", role.Name())
	}
	if by != "" && !by.CanAssign(blobmark.RoleNotActivated, role) {
		return "", blobmark.Errorf(blobmark.EFORBIDDEN, "The %s role cannot invite a member as %s.", by.Name(), role.Name())
	}
	inv.Role = role
	inv.Email = strings.TrimSpace(inv.Email)
	if inv.Email != "" {
		if err := validateEmail(inv.Email); err != nil {
			return "", err
		}
	}
	token, tokenHash := newToken()
	inv.CreatedAt = db.timestamp()
	err = db.inTx(ctx, "create invite", func(tx *Tx) error {
		if err := tx.lockOrganization(ctx, inv.OrganizationID); err != nil {
			return err
		}
		if inv.Email != "" {
			var taken int
			err := tx.queryRow(ctx, "SELECT 1 FROM users WHERE email_key = ?", emailKey(inv.Email)).Scan(&taken)
			if err == nil {
				return errEmailTaken(nil)
			} else if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		for _, p := range inv.ProjectIDs {
			var ok int
			err := tx.queryRow(ctx, "SELECT 1 FROM projects WHERE id = ? AND organization_id = ? AND deleted_at IS NULL", p, inv.OrganizationID).Scan(&ok)
			if errors.Is(err, sql.ErrNoRows) {
				msg := fmt.Sprintf("Project %d does not exist in this organization.", p)
				return &blobmark.Error{Code: blobmark.ENOTFOUND, Field: "projects", Message: msg, Fields: map[string][]string{"projects": {msg}}}
			} else if err != nil {
				return err
			}
		}
		var createdBy any
		if inv.CreatedBy != 0 {
			createdBy = inv.CreatedBy
		}
		if err := tx.queryRow(ctx, `INSERT INTO invites (organization_id, token_hash, role, email, created_by, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, inv.OrganizationID, tokenHash, string(inv.Role), inv.Email, createdBy,
			inv.CreatedAt, inv.ExpiresAt.UTC()).Scan(&inv.ID); err != nil {
			return err
		}
		for _, p := range inv.ProjectIDs {
			if _, err := tx.exec(ctx, "INSERT INTO invite_projects (invite_id, project_id) VALUES (?, ?) ON CONFLICT DO NOTHING", inv.ID, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// invitesWithProjects fills in the projects of each invite.
func (db *Members) invitesWithProjects(ctx context.Context, q func(string, ...any) (resultRows, error), invs []*blobmark.Invite) error {
	for _, inv := range invs {
		rows, err := q("SELECT project_id FROM invite_projects WHERE invite_id = ? ORDER BY project_id", inv.ID)
		if err != nil {
			return err
		}
		inv.ProjectIDs = []int64{}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			inv.ProjectIDs = append(inv.ProjectIDs, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// FindInvites lists an organization's pending invites. Expiry is compared
// here rather than in SQL, where the two databases store times differently.
func (db *Members) FindInvites(ctx context.Context, orgID int64) ([]*blobmark.Invite, error) {
	rows, err := db.query(ctx, "SELECT "+inviteColumns+" FROM invites WHERE organization_id = ? AND accepted_at IS NULL ORDER BY id DESC", orgID)
	if err != nil {
		return nil, translate("find invites", err)
	}
	now := db.timestamp()
	out := []*blobmark.Invite{}
	for rows.Next() {
		inv, err := scanInvite(rows)
		if err != nil {
			rows.Close()
			return nil, translate("find invites", err)
		}
		if inv.ExpiresAt.After(now) {
			out = append(out, inv)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, translate("find invites", err)
	}
	query := func(q string, args ...any) (resultRows, error) { return db.query(ctx, q, args...) }
	return out, translate("find invites", db.invitesWithProjects(ctx, query, out))
}

// RevokeInvite deletes an unused invite.
func (db *Members) RevokeInvite(ctx context.Context, orgID, id int64) error {
	return db.inTx(ctx, "revoke invite", func(tx *Tx) error {
		res, err := tx.exec(ctx, "DELETE FROM invites WHERE id = ? AND organization_id = ? AND accepted_at IS NULL", id, orgID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return notFound("invite")
		}
		return nil
	})
}

// usableInvite checks that an invite may still be accepted.
func (db *Members) usableInvite(inv *blobmark.Invite) error {
	switch {
	case inv.AcceptedAt != nil:
		return blobmark.FieldErrorf("token", "This invitation has already been used; ask for a new one.")
	case !inv.ExpiresAt.After(db.timestamp()):
		return blobmark.FieldErrorf("token", "This invitation expired on %s; ask for a new one.", inv.ExpiresAt.Format("2006-01-02 15:04 MST"))
	}
	return nil
}

func errUnknownInvite() error {
	return blobmark.Errorf(blobmark.ENOTFOUND, "This invitation link is not valid: check that it was copied whole, or ask for a new one.")
}

// FindInviteByToken returns the invite of a link, if it may still be used.
func (db *Members) FindInviteByToken(ctx context.Context, token string) (*blobmark.Invite, error) {
	inv, err := scanInvite(db.queryRow(ctx, "SELECT "+inviteColumns+" FROM invites WHERE token_hash = ?", hashToken(token)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errUnknownInvite()
	} else if err != nil {
		return nil, translate("find invite", err)
	}
	if err := db.usableInvite(inv); err != nil {
		return nil, err
	}
	query := func(q string, args ...any) (resultRows, error) { return db.query(ctx, q, args...) }
	return inv, translate("find invite", db.invitesWithProjects(ctx, query, []*blobmark.Invite{inv}))
}

// AcceptInvite turns an invite into a user. The invite's row is claimed by
// an update that only succeeds while it is unused, so of two acceptances
// at once one creates a user and the other fails; a failure later in the
// transaction (the email taken) leaves the invite unused.
func (db *Members) AcceptInvite(ctx context.Context, token string, nu blobmark.NewUser) (*blobmark.User, error) {
	inv, err := db.FindInviteByToken(ctx, token)
	if err != nil {
		return nil, err
	}
	if inv.Email != "" && emailKey(inv.Email) != emailKey(nu.Email) {
		return nil, blobmark.FieldErrorf("email", "This invitation is for %s; sign up with that email.", inv.Email)
	}
	nu.OrganizationID, nu.Organization, nu.Role = inv.OrganizationID, "", inv.Role
	nw, err := db.prepareUser(nu)
	if err != nil {
		return nil, err
	}
	err = db.inTx(ctx, "accept invite", func(tx *Tx) error {
		now := db.timestamp()
		res, err := tx.exec(ctx, "UPDATE invites SET accepted_at = ? WHERE id = ? AND accepted_at IS NULL", now, inv.ID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return db.usableInvite(&blobmark.Invite{AcceptedAt: &now})
		}
		if err := tx.insertUser(ctx, nw); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, "UPDATE invites SET accepted_by = ? WHERE id = ?", nw.user.ID, inv.ID); err != nil {
			return err
		}
		_, err = tx.exec(ctx, `INSERT INTO project_members (project_id, user_id, created_at)
			SELECT ip.project_id, ?, ? FROM invite_projects ip JOIN projects p ON p.id = ip.project_id
			WHERE ip.invite_id = ? AND p.deleted_at IS NULL AND p.organization_id = ?`, nw.user.ID, now, inv.ID, inv.OrganizationID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return nw.user, nil
}
