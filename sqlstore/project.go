package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"unicode/utf8"

	"github.com/blobmark/blobmark"
)

// Projects holds the labeling projects: their settings, listing, and deletion with everything under them.
type Projects struct {
	*core
}

// projectTitleMaxLen is Label Studio's limit, kept so its clients' forms and
// ours agree.
const projectTitleMaxLen = 50

// defaultPageSize applies when a Page has no Limit.
const defaultPageSize = 100

// projectColumns reads a project "p" with its counters.
const projectColumns = `id, title, description, label_config, expert_instruction, show_instruction,
	show_skip_button, enable_empty_annotation, color, maximum_annotations, is_published, created_by,
	created_at, updated_at, ` + projectCountsSQL + `, organization_id, sampling, skip_queue, custom_task_lock_ttl, model_version`

func scanProject(row interface{ Scan(...any) error }) (*blobmark.Project, error) {
	var p blobmark.Project
	var createdBy sql.NullInt64
	var created, updated timeValue
	err := row.Scan(&p.ID, &p.Title, &p.Description, &p.LabelConfig, &p.ExpertInstruction, &p.ShowInstruction,
		&p.ShowSkipButton, &p.EnableEmptyAnnotation, &p.Color, &p.MaximumAnnotations, &p.IsPublished, &createdBy,
		&created, &updated, &p.TaskNumber, &p.TotalAnnotationsNumber, &p.TotalPredictionsNumber,
		&p.NumTasksWithAnnotations, &p.OrganizationID, &p.Sampling, &p.SkipQueue, &p.CustomTaskLockTTL, &p.ModelVersion)
	if err != nil {
		return nil, err
	}
	p.CreatedBy = createdBy.Int64
	p.CreatedAt, p.UpdatedAt = created.Time, updated.Time
	return &p, nil
}

// nullID stores a zero id (no user) as NULL, which the foreign key accepts.
func nullID(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }

func validateProject(p *blobmark.Project) error {
	e := &blobmark.Error{Code: blobmark.EINVALID, Message: "Invalid project.", Fields: map[string][]string{}}
	if utf8.RuneCountInString(p.Title) > projectTitleMaxLen {
		e.Fields["title"] = append(e.Fields["title"], "Ensure this field has no more than 50 characters.")
	}
	if p.MaximumAnnotations < 1 {
		e.Fields["maximum_annotations"] = append(e.Fields["maximum_annotations"], "Ensure this value is greater than or equal to 1.")
	}
	if _, err := blobmark.ParseSampling(string(p.Sampling)); err != nil {
		e.Fields["sampling"] = append(e.Fields["sampling"], blobmark.ErrorMessage(err))
	}
	if _, err := blobmark.ParseSkipQueue(string(p.SkipQueue)); err != nil {
		e.Fields["skip_queue"] = append(e.Fields["skip_queue"], blobmark.ErrorMessage(err))
	}
	if err := blobmark.CheckTaskLockTTL(p.CustomTaskLockTTL); err != nil {
		e.Fields["custom_task_lock_ttl"] = append(e.Fields["custom_task_lock_ttl"], blobmark.ErrorMessage(err))
	}
	if len(e.Fields) == 0 {
		return nil
	}
	if len(e.Fields) == 1 {
		for f, msgs := range e.Fields {
			e.Field, e.Message = f, msgs[0]
		}
	}
	return e
}

// CreateProject stores p. A zero MaximumAnnotations means 1, an empty
// Color white, and empty distribution fields Label Studio's defaults;
// boolean fields are stored as given (the HTTP layer applies Label Studio's
// defaults for absent ones).
func (db *Projects) CreateProject(ctx context.Context, p *blobmark.Project) error {
	if p.MaximumAnnotations == 0 {
		p.MaximumAnnotations = 1
	}
	if p.Color == "" {
		p.Color = "#FFFFFF"
	}
	p.Sampling = cmp.Or(p.Sampling, blobmark.SequentialSampling)
	p.SkipQueue = cmp.Or(p.SkipQueue, blobmark.RequeueForOthers)
	p.CustomTaskLockTTL = cmp.Or(p.CustomTaskLockTTL, blobmark.DefaultTaskLockTTL)
	if err := validateProject(p); err != nil {
		return err
	}
	now := db.timestamp()
	if p.CreatedBy == 0 {
		p.CreatedBy = blobmark.UserIDFromContext(ctx)
	}
	return db.inTx(ctx, "create project", func(tx *Tx) error {
		// The project joins its creator's organization, read here rather
		// than from the user in ctx so it is the one stored now.
		if p.OrganizationID == 0 {
			p.OrganizationID = blobmark.DefaultOrganizationID
			if p.CreatedBy != 0 {
				err := tx.queryRow(ctx, "SELECT organization_id FROM users WHERE id = ?", p.CreatedBy).Scan(&p.OrganizationID)
				if errors.Is(err, sql.ErrNoRows) {
					return notFound("user")
				} else if err != nil {
					return err
				}
			}
		}
		err := tx.queryRow(ctx, `INSERT INTO projects (title, description, label_config, expert_instruction,
			show_instruction, show_skip_button, enable_empty_annotation, color, maximum_annotations, is_published,
			created_by, created_at, updated_at, organization_id, sampling, skip_queue, custom_task_lock_ttl, model_version)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			p.Title, p.Description, p.LabelConfig, p.ExpertInstruction, p.ShowInstruction, p.ShowSkipButton,
			p.EnableEmptyAnnotation, p.Color, p.MaximumAnnotations, p.IsPublished, nullID(p.CreatedBy), now, now,
			p.OrganizationID, p.Sampling, p.SkipQueue, p.CustomTaskLockTTL, p.ModelVersion).Scan(&p.ID)
		if err != nil {
			return err
		}
		p.CreatedAt, p.UpdatedAt = now, now
		p.TaskNumber, p.TotalAnnotationsNumber, p.TotalPredictionsNumber, p.NumTasksWithAnnotations = 0, 0, 0, 0
		return tx.fire(ctx, Event{Kind: ProjectCreated, ProjectID: p.ID})
	})
}

// FindProjectByID returns a live project with its counters.
func (db *Projects) FindProjectByID(ctx context.Context, id int64) (*blobmark.Project, error) {
	p, err := findProject(ctx, db.core, id)
	return p, translate("find project", err)
}

func (tx *Tx) findProject(ctx context.Context, id int64) (*blobmark.Project, error) {
	return findProject(ctx, tx, id)
}

// findProject reads a live project on the read pool or in a transaction.
func findProject(ctx context.Context, r reader, id int64) (*blobmark.Project, error) {
	p, err := scanProject(r.queryRow(ctx, "SELECT "+projectColumns+" FROM projects p WHERE id = ? AND deleted_at IS NULL", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("project")
	}
	return p, err
}

// FindProjects returns one page of live projects, newest first, and how many
// there are in all: those the user in ctx may see (projectVisibleTo, as
// stored now, not as the ctx's copy says), or all of them without a user.
func (db *Projects) FindProjects(ctx context.Context, page blobmark.Page) ([]*blobmark.Project, int, error) {
	limit, offset := pageBounds(page)
	where, args := "deleted_at IS NULL", []any{}
	if u := blobmark.UserFromContext(ctx); u != nil {
		visible, vargs := projectVisibleTo(u.ID)
		where += " AND " + visible
		args = append(args, vargs...)
	}
	var total int
	if err := db.queryRow(ctx, "SELECT COUNT(*) FROM projects p WHERE "+where, args...).Scan(&total); err != nil {
		return nil, 0, translate("count projects", err)
	}
	rows, err := db.query(ctx, "SELECT "+projectColumns+" FROM projects p WHERE "+where+" ORDER BY id DESC LIMIT ? OFFSET ?",
		append(args, limit, offset)...)
	if err != nil {
		return nil, 0, translate("find projects", err)
	}
	defer rows.Close()
	projects := []*blobmark.Project{}
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, 0, translate("find projects", err)
		}
		projects = append(projects, p)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, translate("find projects", err)
	}
	return projects, total, nil
}

func pageBounds(page blobmark.Page) (limit, offset int) {
	limit, offset = page.Limit, page.Offset
	if limit <= 0 {
		limit = defaultPageSize
	}
	if offset < 0 {
		offset = 0
	}
	return limit, offset
}

// UpdateProject applies upd. Changing maximum_annotations or skip_queue
// recomputes every task's is_labeled in the same transaction, as Label
// Studio does.
func (db *Projects) UpdateProject(ctx context.Context, id int64, upd blobmark.ProjectUpdate) (*blobmark.Project, error) {
	var out *blobmark.Project
	err := db.inTx(ctx, "update project", func(tx *Tx) error {
		p, err := tx.findProject(ctx, id)
		if err != nil {
			return err
		}
		oldMax, oldSkip := p.MaximumAnnotations, p.SkipQueue
		set(&p.Title, upd.Title)
		set(&p.Description, upd.Description)
		set(&p.LabelConfig, upd.LabelConfig)
		set(&p.ExpertInstruction, upd.ExpertInstruction)
		set(&p.ShowInstruction, upd.ShowInstruction)
		set(&p.ShowSkipButton, upd.ShowSkipButton)
		set(&p.EnableEmptyAnnotation, upd.EnableEmptyAnnotation)
		set(&p.Color, upd.Color)
		set(&p.MaximumAnnotations, upd.MaximumAnnotations)
		set(&p.IsPublished, upd.IsPublished)
		set(&p.Sampling, upd.Sampling)
		set(&p.SkipQueue, upd.SkipQueue)
		set(&p.CustomTaskLockTTL, upd.CustomTaskLockTTL)
		set(&p.ModelVersion, upd.ModelVersion)
		if err := validateProject(p); err != nil {
			return err
		}
		p.UpdatedAt = db.timestamp()
		_, err = tx.exec(ctx, `UPDATE projects SET title = ?, description = ?, label_config = ?, expert_instruction = ?,
			show_instruction = ?, show_skip_button = ?, enable_empty_annotation = ?, color = ?, maximum_annotations = ?,
			is_published = ?, sampling = ?, skip_queue = ?, custom_task_lock_ttl = ?, model_version = ?, updated_at = ? WHERE id = ?`,
			p.Title, p.Description, p.LabelConfig, p.ExpertInstruction, p.ShowInstruction, p.ShowSkipButton,
			p.EnableEmptyAnnotation, p.Color, p.MaximumAnnotations, p.IsPublished, p.Sampling, p.SkipQueue,
			p.CustomTaskLockTTL, p.ModelVersion, p.UpdatedAt, id)
		if err != nil {
			return err
		}
		if p.MaximumAnnotations != oldMax || p.SkipQueue != oldSkip {
			_, err = tx.exec(ctx, "UPDATE tasks SET is_labeled = "+isLabeledSQL+" WHERE project_id = ?", id)
			if err != nil {
				return err
			}
		}
		out = p
		return tx.fire(ctx, Event{Kind: ProjectUpdated, ProjectID: id})
	})
	return out, err
}

// isLabeledSQL is blobmark.Project.TaskIsLabeled written as SQL over a
// row of tasks, for updates in place; it reads the task's project as it is
// in the statement's transaction.
var isLabeledSQL = isLabeledWith("total_annotations", "cancelled_annotations")

// isLabeledWith is isLabeledSQL over the given expressions of the task's
// total and cancelled annotations, for an update that changes them too.
func isLabeledWith(total, cancelled string) string {
	return `(` + total + ` + CASE WHEN
	(SELECT skip_queue FROM projects WHERE projects.id = tasks.project_id) = 'IGNORE_SKIPPED' THEN ` + cancelled + ` ELSE 0 END
	>= (SELECT maximum_annotations FROM projects WHERE projects.id = tasks.project_id))`
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// DeleteProject hides the project at once and enqueues, in the same
// transaction, the job that purges its rows in batches: a crash between the
// two cannot leave a hidden project that is never purged.
func (db *Projects) DeleteProject(ctx context.Context, id int64) error {
	return db.inTx(ctx, "delete project", func(tx *Tx) error {
		res, err := tx.exec(ctx, "UPDATE projects SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL", db.timestamp(), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return notFound("project")
		}
		if err := tx.InsertJob(ctx, blobmark.PurgeProjectJob{ProjectID: id}, nil); err != nil {
			return err
		}
		return tx.fire(ctx, Event{Kind: ProjectDeleted, ProjectID: id})
	})
}

// PurgeProject deletes up to limit tasks of a deleted project, with their
// annotations and predictions, and the project row itself once no task is
// left. It reports done when the project is gone. Each call is its own short
// transaction, so a purge never holds a long lock and resumes where it
// stopped after a crash. It refuses to purge a project that is not deleted.
func (db *Projects) PurgeProject(ctx context.Context, id int64, limit int) (done bool, err error) {
	if limit <= 0 {
		limit = 1000
	}
	err = db.inTx(ctx, "purge project", func(tx *Tx) error {
		var deleted sql.NullString
		err := tx.queryRow(ctx, "SELECT CAST(deleted_at AS TEXT) FROM projects WHERE id = ?", id).Scan(&deleted)
		if errors.Is(err, sql.ErrNoRows) {
			done = true // already purged: the job may run again after a crash
			return nil
		} else if err != nil {
			return err
		}
		if !deleted.Valid {
			return blobmark.Errorf(blobmark.ECONFLICT, "project %d is not deleted; refusing to purge it", id)
		}
		// Annotations and predictions go with their tasks (ON DELETE CASCADE).
		res, err := tx.exec(ctx, `DELETE FROM tasks WHERE id IN (
			SELECT id FROM tasks WHERE project_id = ? ORDER BY id LIMIT ?)`, id, limit)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		if _, err := tx.exec(ctx, "DELETE FROM projects WHERE id = ?", id); err != nil {
			return err
		}
		done = true
		return nil
	})
	return done, err
}
