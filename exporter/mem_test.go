package exporter

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/blobmark/blobmark"
)

// memStore is an in-memory Source and Recorder: the part of the SQL store
// the exporter talks to, with the same only_new rules.
type memStore struct {
	mu          sync.Mutex
	project     blobmark.Project
	tasks       map[int64]*blobmark.Task
	annotations map[int64]*blobmark.Annotation
	predictions map[int64]*blobmark.Prediction
	users       map[int64]*blobmark.User
	links       map[string]ExportLink // by key (one storage per test)
	queries     []ExportQuery
	// afterFind, when set, runs after every FindAnnotationByID/FindTaskByID,
	// letting a test change the state between an export's reads.
	afterFind func()
}

func newMemStore() *memStore {
	return &memStore{
		project:     blobmark.Project{ID: 1, LabelConfig: `<View><Image name="img" value="$image"/></View>`},
		tasks:       map[int64]*blobmark.Task{},
		annotations: map[int64]*blobmark.Annotation{},
		predictions: map[int64]*blobmark.Prediction{},
		users:       map[int64]*blobmark.User{},
		links:       map[string]ExportLink{},
	}
}

var t0 = time.Date(2026, 3, 9, 21, 52, 49, 513742000, time.UTC)

func (s *memStore) addTask(id int64) *blobmark.Task {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &blobmark.Task{ID: id, ProjectID: 1, InnerID: id, Data: json.RawMessage(fmt.Sprintf(`{"image":"azure-blob://c/%d.jpg"}`, id)), CreatedAt: t0, UpdatedAt: t0}
	s.tasks[id] = t
	return t
}

func (s *memStore) addAnnotation(id, taskID int64, label string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.annotations[id] = &blobmark.Annotation{
		ID: id, TaskID: taskID, ProjectID: 1, CompletedBy: 7, LeadTime: 4,
		Result:    json.RawMessage(fmt.Sprintf(`[{"type":"choices","value":{"choices":[%q]}}]`, label)),
		CreatedAt: t0, UpdatedAt: t0,
	}
	s.tasks[taskID].TotalAnnotations++
}

// updateAnnotation changes a result and bumps updated_at, as the store does.
func (s *memStore) updateAnnotation(id int64, label string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := *s.annotations[id]
	a.Result = json.RawMessage(fmt.Sprintf(`[{"type":"choices","value":{"choices":[%q]}}]`, label))
	a.UpdatedAt = a.UpdatedAt.Add(time.Second)
	s.annotations[id] = &a
}

func (s *memStore) deleteAnnotation(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.annotations[id]; ok {
		s.tasks[a.TaskID].TotalAnnotations--
		delete(s.annotations, id)
	}
}

func (s *memStore) hook() {
	s.mu.Lock()
	f := s.afterFind
	s.mu.Unlock()
	if f != nil {
		f()
	}
}

func notFound(what string, id int64) error {
	return blobmark.Errorf(blobmark.ENOTFOUND, "%s %d not found", what, id)
}

func (s *memStore) FindAnnotationByID(ctx context.Context, id int64) (*blobmark.Annotation, error) {
	defer s.hook()
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.annotations[id]; ok {
		c := *a
		return &c, nil
	}
	return nil, notFound("annotation", id)
}

func (s *memStore) FindTaskByID(ctx context.Context, id int64) (*blobmark.Task, error) {
	defer s.hook()
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tasks[id]; ok {
		c := *t
		return &c, nil
	}
	return nil, notFound("task", id)
}

func (s *memStore) FindAnnotations(ctx context.Context, taskID int64) ([]*blobmark.Annotation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*blobmark.Annotation
	for _, id := range slices.Sorted(maps.Keys(s.annotations)) {
		if a := s.annotations[id]; a.TaskID == taskID {
			c := *a
			out = append(out, &c)
		}
	}
	return out, nil
}

func (s *memStore) FindPredictions(ctx context.Context, taskID int64) ([]*blobmark.Prediction, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*blobmark.Prediction
	for _, id := range slices.Sorted(maps.Keys(s.predictions)) {
		if p := s.predictions[id]; p.TaskID == taskID {
			out = append(out, p)
		}
	}
	return out, nil
}

func (s *memStore) FindUserByID(ctx context.Context, id int64) (*blobmark.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[id]; ok {
		return u, nil
	}
	return nil, notFound("user", id)
}

func (s *memStore) FindProjectByID(ctx context.Context, id int64) (*blobmark.Project, error) {
	if id != s.project.ID {
		return nil, notFound("project", id)
	}
	p := s.project
	return &p, nil
}

// linkFor finds the link of an annotation or a task, whatever its key.
func (s *memStore) linkFor(annotationID, taskID int64) (ExportLink, bool) {
	for _, l := range s.links {
		if annotationID != 0 && l.AnnotationID == annotationID || annotationID == 0 && l.AnnotationID == 0 && l.TaskID == taskID {
			return l, true
		}
	}
	return ExportLink{}, false
}

func (s *memStore) FindExportLinkOf(ctx context.Context, storageID, annotationID, taskID int64) (*ExportLink, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.linkFor(annotationID, taskID); ok {
		return &l, nil
	}
	return nil, notFound("export link of task", taskID)
}

func (s *memStore) FindAnnotationsToExport(ctx context.Context, q ExportQuery) ([]AnnotationRef, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries = append(s.queries, q)
	var out []AnnotationRef
	for _, id := range slices.Sorted(maps.Keys(s.annotations)) {
		a := s.annotations[id]
		if id <= q.AfterID || a.ProjectID != q.ProjectID {
			continue
		}
		if l, ok := s.linkFor(id, 0); q.OnlyNew && ok && !a.UpdatedAt.After(l.SourceUpdatedAt) {
			continue
		}
		out = append(out, AnnotationRef{ID: id, TaskID: a.TaskID})
		if len(out) == q.Limit {
			break
		}
	}
	return out, nil
}

func (s *memStore) FindTasksToExport(ctx context.Context, q ExportQuery) ([]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries = append(s.queries, q)
	var out []int64
	for _, id := range slices.Sorted(maps.Keys(s.tasks)) {
		if id <= q.AfterID || s.tasks[id].ProjectID != q.ProjectID {
			continue
		}
		var count int
		var newest time.Time
		for _, a := range s.annotations {
			if a.TaskID == id {
				count++
				if a.UpdatedAt.After(newest) {
					newest = a.UpdatedAt
				}
			}
		}
		l, linked := s.linkFor(0, id)
		switch {
		case !q.OnlyNew && count == 0:
			continue
		case q.OnlyNew && !linked && count == 0:
			continue
		case q.OnlyNew && linked && count == l.AnnotationCount && !newest.After(l.SourceUpdatedAt):
			continue
		}
		out = append(out, id)
		if len(out) == q.Limit {
			break
		}
	}
	return out, nil
}

func (s *memStore) FindExportLink(ctx context.Context, storageID int64, key string) (*ExportLink, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.links[key]; ok {
		return &l, nil
	}
	return nil, blobmark.Errorf(blobmark.ENOTFOUND, "no export link for %s", key)
}

func (s *memStore) RecordExport(ctx context.Context, link *ExportLink) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.links[link.Key] = *link
	return nil
}

func (s *memStore) DeleteExportLink(ctx context.Context, storageID int64, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.links, key)
	return nil
}

// memContainer is an in-memory Uploader: a map of blobs with a request log.
type memContainer struct {
	mu           sync.Mutex
	blobs        map[string][]byte
	contentTypes map[string]string
	uploads      int
	deletes      int
	etag         int
	inFlight     int
	maxInFlight  int
	// fail, when set, decides an error for an upload or delete of key.
	fail func(key string) error
	// onUpload, when set, runs inside Upload before the blob is stored.
	onUpload func(key string)
	// onDelete, when set, runs inside Delete after the blob is removed.
	onDelete func(key string)
}

func newMemContainer() *memContainer {
	return &memContainer{blobs: map[string][]byte{}, contentTypes: map[string]string{}}
}

func (c *memContainer) Upload(ctx context.Context, key string, body []byte, contentType string) (string, error) {
	c.mu.Lock()
	c.inFlight++
	c.maxInFlight = max(c.maxInFlight, c.inFlight)
	fail, onUpload := c.fail, c.onUpload
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.inFlight--
		c.mu.Unlock()
	}()
	if fail != nil {
		if err := fail(key); err != nil {
			return "", err
		}
	}
	if onUpload != nil {
		onUpload(key)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.uploads++
	c.etag++
	c.blobs[key] = slices.Clone(body)
	c.contentTypes[key] = contentType
	return fmt.Sprintf(`"0x%d"`, c.etag), nil
}

func (c *memContainer) Delete(ctx context.Context, key string) error {
	c.mu.Lock()
	fail := c.fail
	c.mu.Unlock()
	if fail != nil {
		if err := fail(key); err != nil {
			return err
		}
	}
	c.mu.Lock()
	c.deletes++
	_, ok := c.blobs[key]
	delete(c.blobs, key)
	onDelete := c.onDelete
	c.mu.Unlock()
	if onDelete != nil {
		onDelete(key)
	}
	if !ok {
		return blobmark.Errorf(blobmark.ENOTFOUND, "blob %s not found", key)
	}
	return nil
}

func (c *memContainer) blob(key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.blobs[key]
	return b, ok
}

func (c *memContainer) keys() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(maps.Keys(c.blobs))
}
