package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/blobmark/blobmark"
)

// Members holds organization roles and project memberships.
type Members struct {
	*core
}

var _ blobmark.MemberService = (*DB)(nil)

// SetRole changes a member's role. The count of the other active owners and
// the update share a transaction that first locks the organization's row,
// so two administrators demoting the last two owners at once cannot leave
// the organization without one.
func (db *Members) SetRole(ctx context.Context, orgID, userID int64, role, by blobmark.Role) (*blobmark.User, error) {
	role, err := blobmark.ParseRole("role", string(role))
	if err != nil {
		return nil, err
	}
	var u *blobmark.User
	err = db.inTx(ctx, "set role", func(tx *Tx) error {
		if err := tx.lockOrganization(ctx, orgID); err != nil {
			return err
		}
		u, err = scanUser(tx.queryRow(ctx, "SELECT "+userColumns+" FROM users WHERE id = ? AND organization_id = ?", userID, orgID))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("user")
		} else if err != nil {
			return err
		}
		if by != "" && !by.CanAssign(u.Role, role) {
			return blobmark.Errorf(blobmark.EFORBIDDEN, "The %s role cannot change the role of a member who is %s to %s.", by.Name(), u.Role.Name(), role.Name())
		}
		if u.Role == blobmark.RoleOwner && role != blobmark.RoleOwner {
			var owners int
			if err := tx.queryRow(ctx, "SELECT COUNT(*) FROM users WHERE organization_id = ? AND role = ? AND id <> ?",
				orgID, string(blobmark.RoleOwner), userID).Scan(&owners); err != nil {
				return err
			}
			if owners == 0 {
				return blobmark.FieldErrorf("role", "%s is the organization's last owner; make another member owner first.", u.Email)
			}
		}
		if _, err := tx.exec(ctx, "UPDATE users SET role = ? WHERE id = ?", string(role), userID); err != nil {
			return err
		}
		u.Role = role
		return nil
	})
	return u, err
}

// lockOrganization takes the organization's row lock for the rest of the
// transaction (SQLite has a single writer already), ENOTFOUND if missing.
func (tx *Tx) lockOrganization(ctx context.Context, orgID int64) error {
	query := "SELECT id FROM organizations WHERE id = ?"
	if tx.db.dialect == Postgres {
		query += " FOR UPDATE"
	}
	var id int64
	err := tx.queryRow(ctx, query, orgID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("organization")
	}
	return err
}

// AddProjectMember makes a user of the project's organization a member of
// the project.
func (db *Members) AddProjectMember(ctx context.Context, projectID, userID int64) error {
	return db.inTx(ctx, "add project member", func(tx *Tx) error {
		var ok int
		err := tx.queryRow(ctx, `SELECT 1 FROM projects p JOIN users u ON u.organization_id = p.organization_id
			WHERE p.id = ? AND p.deleted_at IS NULL AND u.id = ?`, projectID, userID).Scan(&ok)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("user")
		} else if err != nil {
			return err
		}
		_, err = tx.exec(ctx, `INSERT INTO project_members (project_id, user_id, created_at) VALUES (?, ?, ?)
			ON CONFLICT (project_id, user_id) DO NOTHING`, projectID, userID, db.timestamp())
		return err
	})
}

// RemoveProjectMember ends a project membership.
func (db *Members) RemoveProjectMember(ctx context.Context, projectID, userID int64) error {
	return db.inTx(ctx, "remove project member", func(tx *Tx) error {
		_, err := tx.exec(ctx, "DELETE FROM project_members WHERE project_id = ? AND user_id = ?", projectID, userID)
		return err
	})
}
