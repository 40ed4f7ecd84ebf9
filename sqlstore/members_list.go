package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"

	"github.com/blobmark/blobmark"
	"golang.org/x/crypto/bcrypt"
)

// memberConditions is the WHERE clause, on users aliased u, of the members
// of organization orgID that f keeps.
func memberConditions(orgID int64, f blobmark.MemberFilter) (string, []any, error) {
	conds, args := []string{"u.organization_id = ?"}, []any{orgID}
	if len(f.Roles) > 0 {
		conds = append(conds, "u.role IN ("+placeholders(len(f.Roles))+")")
		for _, r := range f.Roles {
			if _, err := blobmark.ParseRole("role", string(r)); err != nil {
				return "", nil, err
			}
			args = append(args, strings.ToUpper(string(r)))
		}
	}
	if q := strings.TrimSpace(f.Search); q != "" {
		like := "%" + likeEscaper.Replace(strings.ToLower(q)) + "%"
		conds = append(conds, `(LOWER(u.email) LIKE ? ESCAPE '\' OR LOWER(u.username) LIKE ? ESCAPE '\' OR
			LOWER(u.first_name) LIKE ? ESCAPE '\' OR LOWER(u.last_name) LIKE ? ESCAPE '\')`)
		args = append(args, like, like, like, like)
	}
	if f.ProjectID != 0 {
		var all []any
		for _, r := range blobmark.Roles {
			if r.SeesAllProjects() {
				all = append(all, string(r))
			}
		}
		conds = append(conds, "(u.role IN ("+placeholders(len(all))+") OR EXISTS (SELECT 1 FROM project_members m WHERE m.project_id = ? AND m.user_id = u.id))")
		args = append(append(args, all...), f.ProjectID)
	}
	return strings.Join(conds, " AND "), args, nil
}

// likeEscaper escapes LIKE's wildcards, so a search matches them literally.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// memberOrder is the ORDER BY of a member list; the id breaks ties so pages
// never overlap.
func memberOrder(ordering string) (string, error) {
	field, desc := strings.CutPrefix(strings.TrimSpace(ordering), "-")
	if field == "" {
		field = "id"
	}
	if !slices.Contains(blobmark.MemberOrderings, field) {
		return "", blobmark.FieldErrorf("ordering", "%q is not a field members can be ordered by; use one of %s, with a leading - for descending order.",
			ordering, strings.Join(blobmark.MemberOrderings, ", "))
	}
	dir := ""
	if desc {
		dir = " DESC"
	}
	order := "u." + field + dir
	if field != "id" {
		order += ", u.id" + dir
	}
	return order, nil
}

// FindMembers returns a page of an organization's members and their count.
func (db *Members) FindMembers(ctx context.Context, orgID int64, f blobmark.MemberFilter, p blobmark.Page) ([]*blobmark.User, int, error) {
	where, args, err := memberConditions(orgID, f)
	if err != nil {
		return nil, 0, err
	}
	order, err := memberOrder(f.Ordering)
	if err != nil {
		return nil, 0, err
	}
	var total int
	if err := db.queryRow(ctx, "SELECT COUNT(*) FROM users u WHERE "+where, args...).Scan(&total); err != nil {
		return nil, 0, translate("count members", err)
	}
	rows, err := db.query(ctx, "SELECT "+prefixed("u.", userColumns)+" FROM users u WHERE "+where+" ORDER BY "+order+" LIMIT ? OFFSET ?",
		append(args, p.Limit, p.Offset)...)
	if err != nil {
		return nil, 0, translate("find members", err)
	}
	defer rows.Close()
	out := []*blobmark.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, 0, translate("find members", err)
		}
		out = append(out, u)
	}
	return out, total, translate("find members", rows.Err())
}

// FindMemberByID returns a user of the organization.
func (db *Members) FindMemberByID(ctx context.Context, orgID, userID int64) (*blobmark.User, error) {
	u, err := scanUser(db.queryRow(ctx, "SELECT "+userColumns+" FROM users WHERE id = ? AND organization_id = ?", userID, orgID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("user")
	}
	return u, translate("find member", err)
}

// ProjectMemberIDs lists the users added to a project.
func (db *Members) ProjectMemberIDs(ctx context.Context, projectID int64) ([]int64, error) {
	rows, err := db.query(ctx, "SELECT user_id FROM project_members WHERE project_id = ? ORDER BY created_at, user_id", projectID)
	if err != nil {
		return nil, translate("list project members", err)
	}
	defer rows.Close()
	ids := []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, translate("list project members", err)
		}
		ids = append(ids, id)
	}
	return ids, translate("list project members", rows.Err())
}

// AddProjectMembers adds the active members of the project's organization
// among userIDs to the project, all or none.
func (db *Members) AddProjectMembers(ctx context.Context, projectID int64, userIDs []int64) (int, []int64, error) {
	var active []any
	for _, r := range blobmark.Roles {
		if r.Active() {
			active = append(active, string(r))
		}
	}
	added, skipped := 0, []int64{}
	err := db.inTx(ctx, "add project members", func(tx *Tx) error {
		added, skipped = 0, skipped[:0]
		var ok int
		err := tx.queryRow(ctx, "SELECT 1 FROM projects WHERE id = ? AND deleted_at IS NULL", projectID).Scan(&ok)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("project")
		} else if err != nil {
			return err
		}
		for _, id := range userIDs {
			err := tx.queryRow(ctx, `SELECT 1 FROM projects p JOIN users u ON u.organization_id = p.organization_id
				WHERE p.id = ? AND u.id = ? AND u.role IN (`+placeholders(len(active))+`)`,
				append([]any{projectID, id}, active...)...).Scan(&ok)
			if errors.Is(err, sql.ErrNoRows) {
				skipped = append(skipped, id)
				continue
			} else if err != nil {
				return err
			}
			res, err := tx.exec(ctx, `INSERT INTO project_members (project_id, user_id, created_at) VALUES (?, ?, ?)
				ON CONFLICT (project_id, user_id) DO NOTHING`, projectID, id, db.timestamp())
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			added += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return added, skipped, nil
}

// RemoveProjectMembers ends the listed users' memberships of a project.
func (db *Members) RemoveProjectMembers(ctx context.Context, projectID int64, userIDs []int64) (int, error) {
	if len(userIDs) == 0 {
		return 0, nil
	}
	removed := 0
	err := db.inTx(ctx, "remove project members", func(tx *Tx) error {
		args := []any{projectID}
		for _, id := range userIDs {
			args = append(args, id)
		}
		res, err := tx.exec(ctx, "DELETE FROM project_members WHERE project_id = ? AND user_id IN ("+placeholders(len(userIDs))+")", args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		removed = int(n)
		return err
	})
	return removed, err
}

// UpdateUser changes a user's names and, given the present one, password.
// The password is checked and the new one hashed before the transaction:
// bcrypt is slow on purpose.
func (db *Members) UpdateUser(ctx context.Context, userID int64, up blobmark.UserUpdate) (*blobmark.User, error) {
	sets, args := []string{}, []any{}
	names := map[string]string{}
	for field, v := range map[string]*string{"username": up.Username, "first_name": up.FirstName, "last_name": up.LastName} {
		if v != nil {
			names[field] = strings.TrimSpace(*v)
			sets = append(sets, field+" = ?")
			args = append(args, names[field])
		}
	}
	if err := validateNames(names); err != nil {
		return nil, err
	}
	if up.Password != nil {
		var current string
		err := db.queryRow(ctx, "SELECT password_hash FROM users WHERE id = ?", userID).Scan(&current)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, notFound("user")
		} else if err != nil {
			return nil, translate("update user", err)
		}
		if up.CurrentPassword == "" {
			return nil, blobmark.FieldErrorf("old_password", "Send your current password to set a new one.")
		}
		if bcrypt.CompareHashAndPassword([]byte(current), []byte(up.CurrentPassword)) != nil {
			return nil, blobmark.FieldErrorf("old_password", "This is not your current password.")
		}
		h, err := hashPassword(*up.Password)
		if err != nil {
			return nil, err
		}
		sets = append(sets, "password_hash = ?")
		args = append(args, h)
	}
	var u *blobmark.User
	err := db.inTx(ctx, "update user", func(tx *Tx) error {
		if len(sets) > 0 {
			res, err := tx.exec(ctx, "UPDATE users SET "+strings.Join(sets, ", ")+" WHERE id = ?", append(args, userID)...)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				return notFound("user")
			}
		}
		var err error
		u, err = scanUser(tx.queryRow(ctx, "SELECT "+userColumns+" FROM users WHERE id = ?", userID))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("user")
		}
		return err
	})
	return u, err
}

// contactInfoMaxLen bounds an organization's contact information.
const contactInfoMaxLen = 1000

// UpdateOrganization changes an organization's title and contact
// information. Titles are unique: a taken one is ECONFLICT on "title".
func (db *Members) UpdateOrganization(ctx context.Context, id int64, up blobmark.OrganizationUpdate) (*blobmark.Organization, error) {
	sets, args := []string{}, []any{}
	if up.Title != nil {
		title := strings.TrimSpace(*up.Title)
		if title == "" {
			return nil, blobmark.FieldErrorf("title", "This field may not be blank.")
		}
		t, err := orgTitle(title)
		if err != nil {
			return nil, blobmark.FieldErrorf("title", "%s", blobmark.ErrorMessage(err))
		}
		sets, args = append(sets, "title = ?"), append(args, t)
	}
	if up.ContactInfo != nil {
		if len([]rune(*up.ContactInfo)) > contactInfoMaxLen {
			return nil, blobmark.FieldErrorf("contact_info", "Ensure this field has no more than %d characters.", contactInfoMaxLen)
		}
		sets, args = append(sets, "contact_info = ?"), append(args, strings.TrimSpace(*up.ContactInfo))
	}
	var o *blobmark.Organization
	err := db.inTx(ctx, "update organization", func(tx *Tx) error {
		if err := tx.lockOrganization(ctx, id); err != nil {
			return err
		}
		if len(sets) > 0 {
			_, err := tx.exec(ctx, "UPDATE organizations SET "+strings.Join(sets, ", ")+" WHERE id = ?", append(args, id)...)
			if blobmark.ErrorCode(translate("update organization", err)) == blobmark.ECONFLICT {
				const msg = "An organization with that title already exists."
				return &blobmark.Error{Code: blobmark.ECONFLICT, Field: "title", Message: msg, Fields: map[string][]string{"title": {msg}}, Err: err}
			} else if err != nil {
				return err
			}
		}
		var err error
		o, err = scanOrganization(tx.queryRow(ctx, "SELECT "+organizationColumns+" FROM organizations WHERE id = ?", id))
		return err
	})
	return o, err
}
