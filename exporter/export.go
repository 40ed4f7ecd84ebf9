package exporter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"sync"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/lswire"
)

// ContentType is set on every uploaded object. Label Studio sets none, so
// Azure serves its exports as application/octet-stream.
const ContentType = "application/json"

// maxRounds bounds how often one export re-reads and rewrites an object that
// keeps changing under it before handing back to the job layer's retry.
const maxRounds = 3

// Storage is the part of a target storage's settings the exporter needs.
// The job layer reads it from the database when a job runs, so a changed
// prefix or format applies to the next export.
type Storage struct {
	ID        int64
	ProjectID int64
	Prefix    string
	Format    Format
	// FileExtension appends ".json" to object names (see
	// DefaultFileExtension for the value when the user did not choose).
	FileExtension bool
	// CanDeleteObjects allows removing objects whose annotations (or, in
	// task mode, all of whose annotations) were deleted.
	CanDeleteObjects bool
	// KeyTemplate, when not empty, names objects instead of the default
	// ids (see ParseObjectTemplate); its names always end in ".json",
	// whatever FileExtension says.
	KeyTemplate string
}

// Source reads the current state of annotations and what they embed. The
// store implements it; the method names match the root service interfaces
// where those exist. Lookups of something missing return an error whose
// blobmark.ErrorCode is ENOTFOUND.
type Source interface {
	// FindAnnotationByID returns an annotation as it is now.
	FindAnnotationByID(ctx context.Context, id int64) (*blobmark.Annotation, error)
	// FindTaskByID returns a task with its counters.
	FindTaskByID(ctx context.Context, id int64) (*blobmark.Task, error)
	// FindAnnotations returns a task's annotations in id order (none when
	// the task does not exist).
	FindAnnotations(ctx context.Context, taskID int64) ([]*blobmark.Annotation, error)
	// FindPredictions returns a task's predictions in id order.
	FindPredictions(ctx context.Context, taskID int64) ([]*blobmark.Prediction, error)
	// FindUserByID returns a user.
	FindUserByID(ctx context.Context, id int64) (*blobmark.User, error)
	// FindProjectByID returns a project; its label config names the data
	// key that replaces the $undefined$ placeholder.
	FindProjectByID(ctx context.Context, id int64) (*blobmark.Project, error)
	// FindAnnotationsToExport returns the next page of q.ProjectID's
	// annotations with id > q.AfterID, in id order, at most q.Limit. With
	// q.OnlyNew it returns only annotations without an ExportLink of
	// q.StorageID or whose UpdatedAt is after the link's SourceUpdatedAt.
	FindAnnotationsToExport(ctx context.Context, q ExportQuery) ([]AnnotationRef, error)
	// FindTasksToExport returns the next page of ids of q.ProjectID's tasks
	// that have annotations, id > q.AfterID, in id order, at most q.Limit.
	// With q.OnlyNew it returns only tasks without an ExportLink of
	// q.StorageID, or whose newest annotation UpdatedAt is after the link's
	// SourceUpdatedAt, or whose annotation count differs from the link's
	// AnnotationCount (which catches deletions), including such tasks that
	// have no annotation left.
	FindTasksToExport(ctx context.Context, q ExportQuery) ([]int64, error)
}

// ExportQuery selects one page of what a sync exports.
type ExportQuery struct {
	StorageID int64
	ProjectID int64
	OnlyNew   bool
	AfterID   int64
	Limit     int
}

// AnnotationRef names an annotation and its task. The task id travels with
// the annotation id because a deleted annotation can no longer tell which
// task file (task mode) it has to be removed from.
type AnnotationRef struct {
	ID     int64
	TaskID int64
}

// Uploader writes and deletes objects in the storage's container. The Azure
// connector's container client satisfies it through a small adapter that
// maps Azure errors onto blobmark error codes (BlobNotFound → ENOTFOUND,
// ContainerNotFound → ENOTFOUND with a message naming the container, auth
// failures → EUNAUTHORIZED/EFORBIDDEN, throttling and 5xx → EUNAVAILABLE).
type Uploader interface {
	// Upload writes body to key, replacing any existing object, with the
	// given Content-Type, and returns the new object's ETag.
	Upload(ctx context.Context, key string, body []byte, contentType string) (etag string, err error)
	// Delete removes key. A missing object is ENOTFOUND, which the exporter
	// treats as already done.
	Delete(ctx context.Context, key string) error
}

// ExportLink records what the exporter last wrote to one object, so a
// duplicate job can skip an identical upload, only_new can find what
// changed since, and the UI can show when each object was written.
type ExportLink struct {
	StorageID int64
	Key       string
	// AnnotationID is the exported annotation (annotation mode), 0 in task
	// mode, where one object holds several annotations.
	AnnotationID int64
	TaskID       int64
	ETag         string
	// ContentHash is the hex SHA-256 of the uploaded bytes.
	ContentHash string
	// SourceUpdatedAt is the UpdatedAt of the exported annotation, or of the
	// newest annotation in a task file.
	SourceUpdatedAt time.Time
	// AnnotationCount is how many annotations the object holds (1 in
	// annotation mode).
	AnnotationCount int
	ExportedAt      time.Time
}

// Recorder stores ExportLinks, one per (storage, key). The store implements
// it.
type Recorder interface {
	// FindExportLink returns the link of key, ENOTFOUND when there is none.
	FindExportLink(ctx context.Context, storageID int64, key string) (*ExportLink, error)
	// RecordExport creates or replaces the link of (link.StorageID, link.Key).
	RecordExport(ctx context.Context, link *ExportLink) error
	// DeleteExportLink removes the link of key; no link is not an error.
	DeleteExportLink(ctx context.Context, storageID int64, key string) error
	// FindExportLinkOf returns the most recently exported link of an
	// annotation (annotationID not 0) or of a task's file (annotationID
	// 0), ENOTFOUND when there is none: a templated key cannot be
	// computed again once its task is gone, so a deletion finds it here.
	FindExportLinkOf(ctx context.Context, storageID, annotationID, taskID int64) (*ExportLink, error)
}

// Deps are what one storage's exports run against.
type Deps struct {
	Source   Source
	Uploader Uploader
	Recorder Recorder
	// Now stamps ExportedAt; time.Now when nil.
	Now blobmark.Clock
	// Concurrency is how many objects SyncAll exports at once; 16 when <= 0.
	Concurrency int
	// PageSize is how many rows SyncAll asks the Source for at a time; 500
	// when <= 0.
	PageSize int
	// ProgressInterval is how often SyncAll reports progress; 2s when <= 0.
	ProgressInterval time.Duration
	// MaxFailures caps the failures SyncAll lists (all are counted); 100
	// when <= 0.
	MaxFailures int
}

// Outcome says what an export did, so syncs count real work and tests can
// see which path was taken.
type Outcome string

const (
	// OutcomeUploaded means the object was written with the current state.
	OutcomeUploaded Outcome = "uploaded"
	// OutcomeUnchanged means the recorded content hash equals the current
	// state's, so nothing was written.
	OutcomeUnchanged Outcome = "unchanged"
	// OutcomeDeleted means the object's annotation (or, in task mode, every
	// annotation of its task) is gone and the object was removed.
	OutcomeDeleted Outcome = "deleted"
	// OutcomeKept means there is nothing left to export but the storage
	// may not delete objects, so whatever was written stays.
	OutcomeKept Outcome = "kept"
)

// ExportAnnotation brings the storage's object for one annotation up to
// date, the work of one export job. annotationID and taskID come from the
// job; everything else is read now, so duplicate and reordered jobs all
// write the latest state, and a job for an annotation deleted meanwhile
// removes its object (with CanDeleteObjects) or leaves it alone.
//
// Annotation mode writes or deletes ObjectKey(…annotationID…). Task mode
// rewrites the task's file from all its current annotations, and deletes it
// (with CanDeleteObjects) only when none remains; removing one annotation
// from a file that keeps others is a rewrite, not a deletion, so it happens
// whatever CanDeleteObjects says, as every later write of the task would
// do anyway.
//
// An upload whose bytes hash to the recorded ContentHash of the object is
// skipped. What this cannot see: an object deleted or edited in the
// container by someone else keeps its link, so an identical re-export does
// not restore it; a full SyncAll (not only_new) uploads without this check
// and does.
//
// Concurrent jobs for the same object converge because each one reads the
// state again after its upload and rewrites the object when the state
// moved, and records the link only for bytes that were still current. One
// window remains: a job that uploads stale bytes and dies before that
// re-read, while another job records the newer hash, leaves the object
// stale until the annotation changes again or a full sync runs. Making the
// job layer run at most one export per object at a time (unique jobs by
// storage and key) closes it.
func ExportAnnotation(ctx context.Context, deps Deps, storage Storage, annotationID, taskID int64) (Outcome, error) {
	r, err := newRunner(ctx, deps, storage)
	if err != nil {
		return "", err
	}
	if storage.Format == FormatTask && taskID == 0 {
		// The job did not name the task: ask the annotation, which only
		// works while it still exists.
		a, err := deps.Source.FindAnnotationByID(ctx, annotationID)
		if err != nil {
			return "", blobmark.Errorf(blobmark.EINVALID, "export of annotation %d in task mode needs its task id", annotationID)
		}
		taskID = a.TaskID
	}
	return r.exportOne(ctx, AnnotationRef{ID: annotationID, TaskID: taskID}, false)
}

// runner carries what one ExportAnnotation or SyncAll reuses across
// objects: the project's label config and the annotators already loaded.
type runner struct {
	deps     Deps
	storage  Storage
	config   *blobmark.LabelConfig
	template Template

	mu    sync.Mutex
	users map[int64]*blobmark.User
}

func newRunner(ctx context.Context, deps Deps, storage Storage) (*runner, error) {
	if !storage.Format.Valid() {
		return nil, blobmark.Errorf(blobmark.EINVALID, "unknown export format %q; use %q or %q", storage.Format, FormatAnnotation, FormatTask)
	}
	template, err := ParseObjectTemplate(storage.KeyTemplate, storage.Format)
	if err != nil {
		return nil, err
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	project, err := deps.Source.FindProjectByID(ctx, storage.ProjectID)
	if err != nil {
		return nil, err
	}
	// A config that does not parse only loses the $undefined$ renaming;
	// the project cannot have been saved with one, and the export of the
	// annotations matters more.
	config, _ := blobmark.ParseLabelConfig(project.LabelConfig)
	if config == nil {
		config = &blobmark.LabelConfig{}
	}
	return &runner{deps: deps, storage: storage, config: config, template: template, users: map[int64]*blobmark.User{}}, nil
}

// snapshot is the object an export should leave in the container, computed
// from the current state: either present with body, or absent.
type snapshot struct {
	key     string
	present bool
	body    []byte
	hash    string
	link    ExportLink
}

// exportOne runs the convergence loop for one object:
//
//  1. read the current state and make the object's bytes (or learn that
//     there is nothing left);
//  2. unless forced, skip when the recorded hash equals the new one;
//  3. upload (or delete);
//  4. read the state again: if it still gives the same bytes, record the
//     link and stop; otherwise go back to 3 with the newer state.
//
// Step 4 is what makes concurrent jobs converge: a job that read an older
// state and whose upload lands after a newer job's sees the change when it
// re-reads and writes the newer state itself, so the last upload to finish
// is always one that was current when it finished. The link is recorded
// only after that check, so it never claims bytes that were overwritten by
// a stale upload the recording job knew about. The remaining window is a
// stale upload from a process that dies between 3 and 4 while another job
// records the newer hash; the object then stays stale until the next change
// of the annotation or a full sync.
func (r *runner) exportOne(ctx context.Context, ref AnnotationRef, force bool) (Outcome, error) {
	snap, err := r.load(ctx, ref)
	if err != nil {
		return "", err
	}
	if snap.present && !force {
		link, err := r.deps.Recorder.FindExportLink(ctx, r.storage.ID, snap.key)
		if err != nil && blobmark.ErrorCode(err) != blobmark.ENOTFOUND {
			return "", err
		}
		if err == nil && link != nil && link.ContentHash == snap.hash {
			return OutcomeUnchanged, nil
		}
	}
	for range maxRounds {
		var outcome Outcome
		var etag string
		switch {
		case snap.present:
			if etag, err = r.deps.Uploader.Upload(ctx, snap.key, snap.body, ContentType); err != nil {
				return "", err
			}
			outcome = OutcomeUploaded
		case r.storage.CanDeleteObjects:
			// No key: a templated object that was never exported.
			if snap.key != "" {
				if err := r.deps.Uploader.Delete(ctx, snap.key); err != nil && blobmark.ErrorCode(err) != blobmark.ENOTFOUND {
					return "", err
				}
			}
			outcome = OutcomeDeleted
		default:
			// Nothing to write and no right to delete: whatever is there
			// stays, as Label Studio leaves it without can_delete_objects.
			return OutcomeKept, nil
		}
		after, err := r.load(ctx, ref)
		if err != nil {
			return "", err
		}
		if after.present != snap.present || after.hash != snap.hash {
			snap = after
			continue
		}
		if outcome == OutcomeDeleted {
			return outcome, r.deps.Recorder.DeleteExportLink(ctx, r.storage.ID, snap.key)
		}
		link := snap.link
		link.ETag = etag
		link.ExportedAt = r.deps.Now()
		previous, err := r.exportedKey(ctx, snap.key, link.AnnotationID, link.TaskID)
		if err != nil {
			return "", err
		}
		if err := r.deps.Recorder.RecordExport(ctx, &link); err != nil {
			return "", err
		}
		return outcome, r.removeMoved(ctx, previous, snap.key)
	}
	return "", blobmark.Errorf(blobmark.EUNAVAILABLE, "%s kept changing while it was exported; retrying later", ref.describe(r.storage.Format))
}

// load computes the snapshot of the object ref belongs to.
func (r *runner) load(ctx context.Context, ref AnnotationRef) (snapshot, error) {
	if r.storage.Format == FormatTask {
		return r.loadTask(ctx, ref.TaskID)
	}
	return r.loadAnnotation(ctx, ref.ID)
}

func (r *runner) loadAnnotation(ctx context.Context, id int64) (snapshot, error) {
	s := snapshot{key: ObjectKey(r.storage.Prefix, FormatAnnotation, id, 0, r.storage.FileExtension)}
	a, err := r.deps.Source.FindAnnotationByID(ctx, id)
	if blobmark.ErrorCode(err) == blobmark.ENOTFOUND {
		s.key, err = r.exportedKey(ctx, s.key, id, 0)
		return s, err
	} else if err != nil {
		return s, err
	}
	if a.ProjectID != r.storage.ProjectID {
		return s, blobmark.Errorf(blobmark.EINVALID, "annotation %d belongs to project %d, not to the storage's project %d", a.ID, a.ProjectID, r.storage.ProjectID)
	}
	task, err := r.deps.Source.FindTaskByID(ctx, a.TaskID)
	if blobmark.ErrorCode(err) == blobmark.ENOTFOUND {
		// The task, and with it the annotation, is being deleted.
		s.key, err = r.exportedKey(ctx, s.key, id, 0)
		return s, err
	} else if err != nil {
		return s, err
	}
	t := *task
	t.Data = r.config.ReplaceUndefinedKey(t.Data)
	if s.key, err = r.key(s.key, &t, a.ID); err != nil {
		return s, err
	}
	user, err := r.user(ctx, a.CompletedBy)
	if err != nil {
		return s, err
	}
	if s.body, err = lswire.AnnotationJSON(a, &t, user); err != nil {
		return s, err
	}
	s.present, s.hash = true, contentHash(s.body)
	s.link = ExportLink{
		StorageID: r.storage.ID, Key: s.key, AnnotationID: a.ID, TaskID: a.TaskID,
		ContentHash: s.hash, SourceUpdatedAt: a.UpdatedAt, AnnotationCount: 1,
	}
	return s, nil
}

func (r *runner) loadTask(ctx context.Context, taskID int64) (snapshot, error) {
	s := snapshot{key: ObjectKey(r.storage.Prefix, FormatTask, 0, taskID, r.storage.FileExtension)}
	task, err := r.deps.Source.FindTaskByID(ctx, taskID)
	if blobmark.ErrorCode(err) == blobmark.ENOTFOUND {
		s.key, err = r.exportedKey(ctx, s.key, 0, taskID)
		return s, err
	} else if err != nil {
		return s, err
	}
	if task.ProjectID != r.storage.ProjectID {
		return s, blobmark.Errorf(blobmark.EINVALID, "task %d belongs to project %d, not to the storage's project %d", task.ID, task.ProjectID, r.storage.ProjectID)
	}
	t := *task
	t.Data = r.config.ReplaceUndefinedKey(t.Data)
	if s.key, err = r.key(s.key, &t, 0); err != nil {
		return s, err
	}
	annotations, err := r.deps.Source.FindAnnotations(ctx, taskID)
	if err != nil || len(annotations) == 0 {
		return s, err
	}
	predictions, err := r.deps.Source.FindPredictions(ctx, taskID)
	if err != nil {
		return s, err
	}
	users := map[int64]*blobmark.User{}
	var newest time.Time
	for _, a := range annotations {
		if users[a.CompletedBy], err = r.user(ctx, a.CompletedBy); err != nil {
			return s, err
		}
		if a.UpdatedAt.After(newest) {
			newest = a.UpdatedAt
		}
	}
	if s.body, err = lswire.TaskJSON(&t, annotations, predictions, users); err != nil {
		return s, err
	}
	s.present, s.hash = true, contentHash(s.body)
	s.link = ExportLink{
		StorageID: r.storage.ID, Key: s.key, TaskID: taskID,
		ContentHash: s.hash, SourceUpdatedAt: newest, AnnotationCount: len(annotations),
	}
	return s, nil
}

// key returns the object key of task t (and, in annotation mode, of
// annotation annotationID): the storage's template rendered over them, or
// def, the default name, without a template.
func (r *runner) key(def string, t *blobmark.Task, annotationID int64) (string, error) {
	if r.template.IsZero() {
		return def, nil
	}
	return r.template.RenderObject(r.storage.Prefix, ObjectVars{TaskID: t.ID, AnnotationID: annotationID, Data: t.Data, SourceKeys: r.config.DataKeys})
}

// PreviewKey returns the key storage st would export task t (with
// annotation annotationID, in annotation mode) under, as an export would
// compute it, for the storage form's preview. cfg may be nil.
func PreviewKey(st Storage, cfg *blobmark.LabelConfig, t *blobmark.Task, annotationID int64) (string, error) {
	template, err := ParseObjectTemplate(st.KeyTemplate, st.Format)
	if err != nil {
		return "", err
	}
	if cfg == nil {
		cfg = &blobmark.LabelConfig{}
	}
	task := *t
	task.Data = cfg.ReplaceUndefinedKey(task.Data)
	r := &runner{storage: st, config: cfg, template: template}
	return r.key(ObjectKey(st.Prefix, st.Format, annotationID, t.ID, st.FileExtension), &task, annotationID)
}

// removeMoved removes the object an annotation (or task file) was last
// exported under when its templated key has changed since (the template,
// or a task field it reads, was edited), with its link, so the container
// does not keep it twice. Without CanDeleteObjects the old object stays,
// and so does its link, which keeps counting it.
func (r *runner) removeMoved(ctx context.Context, previous, key string) error {
	if previous == "" || previous == key || !r.storage.CanDeleteObjects {
		return nil
	}
	if err := r.deps.Uploader.Delete(ctx, previous); err != nil && blobmark.ErrorCode(err) != blobmark.ENOTFOUND {
		return err
	}
	return r.deps.Recorder.DeleteExportLink(ctx, r.storage.ID, previous)
}

// exportedKey returns the key an annotation (or a task's file, with
// annotationID 0) that is gone was last exported under: def without a
// template; with one, the recorded link's key, or "" when it was never
// exported.
func (r *runner) exportedKey(ctx context.Context, def string, annotationID, taskID int64) (string, error) {
	if r.template.IsZero() {
		return def, nil
	}
	link, err := r.deps.Recorder.FindExportLinkOf(ctx, r.storage.ID, annotationID, taskID)
	if blobmark.ErrorCode(err) == blobmark.ENOTFOUND {
		return "", nil
	} else if err != nil {
		return "", err
	}
	return link.Key, nil
}

// user returns an annotator, loading each one once per runner. A deleted
// user (or none) is nil: the export then carries the id alone.
func (r *runner) user(ctx context.Context, id int64) (*blobmark.User, error) {
	if id == 0 {
		return nil, nil
	}
	r.mu.Lock()
	u, ok := r.users[id]
	r.mu.Unlock()
	if ok {
		return u, nil
	}
	u, err := r.deps.Source.FindUserByID(ctx, id)
	if blobmark.ErrorCode(err) == blobmark.ENOTFOUND {
		u, err = nil, nil
	} else if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.users[id] = u
	r.mu.Unlock()
	return u, nil
}

// describe names ref in messages the way the storage's format sees it.
func (ref AnnotationRef) describe(f Format) string {
	if f == FormatTask {
		return "task " + strconv.FormatInt(ref.TaskID, 10)
	}
	return "annotation " + strconv.FormatInt(ref.ID, 10)
}

func contentHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}
