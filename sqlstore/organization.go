package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/blobmark/blobmark"
)

// Organizations holds the organizations users belong to and decides who may open which project.
type Organizations struct {
	*core
}

// Interface checks: the store keeps organizations and decides project access.
var (
	_ blobmark.OrganizationService = (*DB)(nil)
	_ blobmark.ProjectAuthorizer   = (*DB)(nil)
)

// organizationTitleMaxLen bounds an organization's title (Label Studio's
// limit too).
const organizationTitleMaxLen = 1000

// orgTitle returns the title an organization is stored under: trimmed, ""
// meaning the default organization.
func orgTitle(title string) (string, error) {
	title = strings.TrimSpace(title)
	if title == "" {
		return blobmark.DefaultOrganizationTitle, nil
	}
	if utf8.RuneCountInString(title) > organizationTitleMaxLen {
		return "", blobmark.FieldErrorf("organization", "Ensure this field has no more than %d characters.", organizationTitleMaxLen)
	}
	return title, nil
}

const organizationColumns = "id, title, created_at, contact_info"

func scanOrganization(row interface{ Scan(...any) error }) (*blobmark.Organization, error) {
	var o blobmark.Organization
	var created timeValue
	if err := row.Scan(&o.ID, &o.Title, &created, &o.ContactInfo); err != nil {
		return nil, err
	}
	o.CreatedAt = created.Time
	return &o, nil
}

// EnsureOrganization returns the organization with that title, creating it
// when there is none; "" means the default organization.
func (db *Organizations) EnsureOrganization(ctx context.Context, title string) (*blobmark.Organization, error) {
	title, err := orgTitle(title)
	if err != nil {
		return nil, err
	}
	var o *blobmark.Organization
	err = db.inTx(ctx, "ensure organization", func(tx *Tx) error {
		o, err = tx.ensureOrganization(ctx, title, db.timestamp())
		return err
	})
	return o, err
}

// ensureOrganization finds or creates the organization titled title (already
// normalised by orgTitle). It looks first, because an insert that conflicts
// still uses up an id; two writers creating it at once get the same one.
func (tx *Tx) ensureOrganization(ctx context.Context, title string, now time.Time) (*blobmark.Organization, error) {
	const find = "SELECT " + organizationColumns + " FROM organizations WHERE title = ?"
	o, err := scanOrganization(tx.queryRow(ctx, find, title))
	if !errors.Is(err, sql.ErrNoRows) {
		return o, err
	}
	if _, err := tx.exec(ctx, "INSERT INTO organizations (title, created_at) VALUES (?, ?) ON CONFLICT (title) DO NOTHING", title, now); err != nil {
		return nil, err
	}
	return scanOrganization(tx.queryRow(ctx, find, title))
}

// FindOrganizationByID returns an organization.
func (db *Organizations) FindOrganizationByID(ctx context.Context, id int64) (*blobmark.Organization, error) {
	o, err := scanOrganization(db.queryRow(ctx, "SELECT "+organizationColumns+" FROM organizations WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("organization")
	}
	return o, translate("find organization", err)
}

// CanAccessProject grants a live project to the members of its organization
// whose role sees every project, and to the members of the project itself
// (projectVisibleTo). The user's organization and role are read from the
// database, not from u, so a change takes effect on its next request,
// sessions included. A deleted or unknown project is refused.
func (db *Organizations) CanAccessProject(ctx context.Context, u *blobmark.User, projectID int64) (bool, error) {
	if u == nil {
		return false, nil
	}
	visible, args := projectVisibleTo(u.ID)
	var ok int
	err := db.queryRow(ctx, "SELECT 1 FROM projects p WHERE p.id = ? AND p.deleted_at IS NULL AND "+visible,
		append([]any{projectID}, args...)...).Scan(&ok)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, translate("check project access", err)
}

// projectVisibleTo is the one SQL condition, on a project row aliased p,
// that says whether user userID may see it: the user belongs to p's
// organization, and either has a role that sees every project or has an
// active role and is a member of p.
func projectVisibleTo(userID int64) (string, []any) {
	return projectVisibleSQL, append([]any{userID}, projectVisibleRoles...)
}

// projectVisibleSQL and projectVisibleRoles are projectVisibleTo's
// condition and its role arguments, derived once from the permission
// table: the roles that see every project, then the active ones.
var projectVisibleSQL, projectVisibleRoles = func() (string, []any) {
	var all, active []any
	for _, r := range blobmark.Roles {
		if r.SeesAllProjects() {
			all = append(all, string(r))
		}
		if r.Active() {
			active = append(active, string(r))
		}
	}
	cond := `EXISTS (SELECT 1 FROM users u WHERE u.id = ? AND u.organization_id = p.organization_id AND
		(u.role IN (` + placeholders(len(all)) + `) OR (u.role IN (` + placeholders(len(active)) + `) AND
		EXISTS (SELECT 1 FROM project_members m WHERE m.project_id = p.id AND m.user_id = u.id))))`
	return cond, append(all, active...)
}()
