package exporter

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/lswire"
)

func annotationStorage(canDelete bool) Storage {
	return Storage{ID: 9, ProjectID: 1, Prefix: "out/", Format: FormatAnnotation, CanDeleteObjects: canDelete}
}

func taskStorage(canDelete bool) Storage {
	return Storage{ID: 9, ProjectID: 1, Prefix: "out", Format: FormatTask, FileExtension: true, CanDeleteObjects: canDelete}
}

// fixture is a project with task 1 holding annotations 11 and 12, and
// task 2 holding annotation 21.
func fixture() (*memStore, *memContainer, Deps) {
	s := newMemStore()
	s.users[7] = &blobmark.User{ID: 7, Email: "ann@example.com", FirstName: "Ann"}
	s.addTask(1)
	s.addTask(2)
	s.addAnnotation(11, 1, "cat")
	s.addAnnotation(12, 1, "dog")
	s.addAnnotation(21, 2, "cat")
	c := newMemContainer()
	return s, c, Deps{Source: s, Uploader: c, Recorder: s}
}

func mustExport(t *testing.T, deps Deps, st Storage, annotationID, taskID int64, want Outcome) {
	t.Helper()
	got, err := ExportAnnotation(context.Background(), deps, st, annotationID, taskID)
	if err != nil {
		t.Fatalf("ExportAnnotation(%d, %d): %v", annotationID, taskID, err)
	}
	if got != want {
		t.Fatalf("ExportAnnotation(%d, %d) = %s, want %s", annotationID, taskID, got, want)
	}
}

// currentAnnotationJSON is what the object of annotation id should hold.
func currentAnnotationJSON(t *testing.T, s *memStore, id int64) []byte {
	t.Helper()
	a, _ := s.FindAnnotationByID(context.Background(), id)
	task, _ := s.FindTaskByID(context.Background(), a.TaskID)
	b, err := lswire.AnnotationJSON(a, task, s.users[a.CompletedBy])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// annotationIDsIn returns the annotation ids inside a task file.
func annotationIDsIn(t *testing.T, body []byte) []int64 {
	t.Helper()
	var task struct {
		Annotations []struct {
			ID int64 `json:"id"`
		} `json:"annotations"`
	}
	if err := json.Unmarshal(body, &task); err != nil {
		t.Fatalf("task file is not JSON: %v", err)
	}
	var ids []int64
	for _, a := range task.Annotations {
		ids = append(ids, a.ID)
	}
	return ids
}

func TestExportAnnotationUploadsAndRecords(t *testing.T) {
	s, c, deps := fixture()
	mustExport(t, deps, annotationStorage(false), 11, 1, OutcomeUploaded)
	body, ok := c.blob("out/11")
	if !ok {
		t.Fatalf("no object out/11; have %v", c.keys())
	}
	if !bytes.Equal(body, currentAnnotationJSON(t, s, 11)) {
		t.Errorf("object holds\n%s\nwant\n%s", body, currentAnnotationJSON(t, s, 11))
	}
	if ct := c.contentTypes["out/11"]; ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	link := s.links["out/11"]
	if link.ETag != `"0x1"` || link.AnnotationID != 11 || link.TaskID != 1 || link.ContentHash != contentHash(body) || link.ExportedAt.IsZero() || link.AnnotationCount != 1 {
		t.Errorf("link %+v", link)
	}
}

func TestExportAnnotationReplacesUndefinedKey(t *testing.T) {
	s, c, deps := fixture()
	s.tasks[1].Data = json.RawMessage(`{"$undefined$":"azure-blob://c/x.jpg"}`)
	mustExport(t, deps, annotationStorage(false), 11, 1, OutcomeUploaded)
	body, _ := c.blob("out/11")
	if !bytes.Contains(body, []byte(`"data":{"image":"azure-blob://c/x.jpg"}`)) {
		t.Errorf("$undefined$ not renamed to the config's data key: %s", body)
	}
}

func TestDuplicateAndReorderedJobsConverge(t *testing.T) {
	s, c, deps := fixture()
	st := annotationStorage(false)
	mustExport(t, deps, st, 11, 1, OutcomeUploaded)
	// A duplicate job finds identical bytes and writes nothing.
	mustExport(t, deps, st, 11, 1, OutcomeUnchanged)
	if c.uploads != 1 {
		t.Fatalf("duplicate job uploaded: %d uploads", c.uploads)
	}
	// Two updates, and their jobs run late and in any order: both export
	// the state at run time, so the object ends with the latest one.
	s.updateAnnotation(11, "bird")
	s.updateAnnotation(11, "fish")
	mustExport(t, deps, st, 11, 1, OutcomeUploaded)
	mustExport(t, deps, st, 11, 1, OutcomeUnchanged)
	body, _ := c.blob("out/11")
	if !bytes.Equal(body, currentAnnotationJSON(t, s, 11)) || !bytes.Contains(body, []byte("fish")) {
		t.Errorf("object does not hold the latest state: %s", body)
	}
}

// TestStaleUploadIsRepaired plays the race of two concurrent jobs: the job
// that read the older state uploads after the newer state was committed
// (and exported). Its re-read after the upload sees the change and writes
// the newer state again, so the object does not stay stale.
func TestStaleUploadIsRepaired(t *testing.T) {
	s, c, deps := fixture()
	st := annotationStorage(false)
	first := true
	c.onUpload = func(key string) {
		if first {
			first = false
			s.updateAnnotation(11, "newer") // committed while the stale upload is in flight
		}
	}
	mustExport(t, deps, st, 11, 1, OutcomeUploaded)
	body, _ := c.blob("out/11")
	if !bytes.Contains(body, []byte("newer")) {
		t.Fatalf("stale state left in the container: %s", body)
	}
	if c.uploads != 2 {
		t.Errorf("want the stale upload and its repair, got %d uploads", c.uploads)
	}
	if s.links["out/11"].ContentHash != contentHash(body) {
		t.Error("link does not describe the object's bytes")
	}
}

func TestStateThatNeverSettlesIsRetried(t *testing.T) {
	s, c, deps := fixture()
	c.onUpload = func(string) { s.updateAnnotation(11, "again") }
	_, err := ExportAnnotation(context.Background(), deps, annotationStorage(false), 11, 1)
	if blobmark.Decide(err) != blobmark.Retry {
		t.Fatalf("want a retryable error, got %v", err)
	}
	if _, ok := s.links["out/11"]; ok {
		t.Error("a link was recorded for bytes that were not current")
	}
}

func TestDeletedAnnotationInAnnotationMode(t *testing.T) {
	for _, canDelete := range []bool{true, false} {
		s, c, deps := fixture()
		st := annotationStorage(canDelete)
		mustExport(t, deps, st, 11, 1, OutcomeUploaded)
		s.deleteAnnotation(11)
		if canDelete {
			mustExport(t, deps, st, 11, 1, OutcomeDeleted)
			if _, ok := c.blob("out/11"); ok {
				t.Error("object of a deleted annotation remains")
			}
			if _, ok := s.links["out/11"]; ok {
				t.Error("link of a deleted object remains")
			}
			// A duplicate delete job, or an export job that runs after the
			// deletion, finds nothing to delete and succeeds.
			mustExport(t, deps, st, 11, 1, OutcomeDeleted)
		} else {
			mustExport(t, deps, st, 11, 1, OutcomeKept)
			if _, ok := c.blob("out/11"); !ok {
				t.Error("without can_delete_objects the object must stay")
			}
			if c.deletes != 0 {
				t.Errorf("%d deletes without can_delete_objects", c.deletes)
			}
		}
	}
}

// TestDeletionRacingAnExport: the annotation is deleted while its export
// is uploading; the export's re-read notices and removes what it wrote.
func TestDeletionRacingAnExport(t *testing.T) {
	s, c, deps := fixture()
	c.onUpload = func(string) { s.deleteAnnotation(11) }
	mustExport(t, deps, annotationStorage(true), 11, 1, OutcomeDeleted)
	if keys := c.keys(); len(keys) != 0 {
		t.Errorf("objects left: %v", keys)
	}
}

func TestTaskModeRewritesAndDeletes(t *testing.T) {
	for _, canDelete := range []bool{true, false} {
		s, c, deps := fixture()
		st := taskStorage(canDelete)
		mustExport(t, deps, st, 11, 1, OutcomeUploaded)
		body, _ := c.blob("out/1.json")
		if got := annotationIDsIn(t, body); !slices.Equal(got, []int64{11, 12}) {
			t.Fatalf("task file holds %v", got)
		}
		mustExport(t, deps, st, 12, 1, OutcomeUnchanged)

		// Deleting one of two annotations rewrites the file without it.
		s.deleteAnnotation(11)
		mustExport(t, deps, st, 11, 1, OutcomeUploaded)
		body, _ = c.blob("out/1.json")
		if got := annotationIDsIn(t, body); !slices.Equal(got, []int64{12}) {
			t.Fatalf("after deleting 11, task file holds %v", got)
		}
		if l := s.links["out/1.json"]; l.AnnotationCount != 1 || l.TaskID != 1 || l.AnnotationID != 0 {
			t.Errorf("task link %+v", l)
		}

		// Deleting the last one deletes the file, if allowed.
		s.deleteAnnotation(12)
		if canDelete {
			mustExport(t, deps, st, 12, 1, OutcomeDeleted)
			if _, ok := c.blob("out/1.json"); ok {
				t.Error("task file remains after its last annotation was deleted")
			}
		} else {
			mustExport(t, deps, st, 12, 1, OutcomeKept)
			if _, ok := c.blob("out/1.json"); !ok {
				t.Error("without can_delete_objects the task file must stay")
			}
		}
		if _, ok := c.blob("out/2.json"); ok {
			t.Error("task 2 was never exported")
		}
	}
}

// TestTaskFileRecreatedWhileDeleting: the last annotation was deleted, and
// while the delete job removes the file a new annotation is created; the
// delete job's re-read sees it and writes the file back.
func TestTaskFileRecreatedWhileDeleting(t *testing.T) {
	s, c, deps := fixture()
	st := taskStorage(true)
	mustExport(t, deps, st, 21, 2, OutcomeUploaded)
	s.deleteAnnotation(21)
	c.onDelete = func(string) {
		c.onDelete = nil
		s.addAnnotation(22, 2, "new")
	}
	mustExport(t, deps, st, 21, 2, OutcomeUploaded)
	body, ok := c.blob("out/2.json")
	if !ok {
		t.Fatal("task file missing although the task has an annotation")
	}
	if got := annotationIDsIn(t, body); !slices.Equal(got, []int64{22}) {
		t.Errorf("task file holds %v", got)
	}
}

func TestTaskModeFindsTheTaskOfALiveAnnotation(t *testing.T) {
	s, c, deps := fixture()
	mustExport(t, deps, taskStorage(false), 21, 0, OutcomeUploaded)
	if _, ok := c.blob("out/2.json"); !ok {
		t.Errorf("objects %v", c.keys())
	}
	s.deleteAnnotation(21)
	if _, err := ExportAnnotation(context.Background(), deps, taskStorage(true), 21, 0); blobmark.ErrorCode(err) != blobmark.EINVALID {
		t.Errorf("deleted annotation without task id: %v", err)
	}
}

func TestExportAnnotationReturnsUploadErrors(t *testing.T) {
	s, c, deps := fixture()
	c.fail = func(string) error {
		return blobmark.Errorf(blobmark.EFORBIDDEN, "the identity lacks Storage Blob Data Contributor")
	}
	_, err := ExportAnnotation(context.Background(), deps, annotationStorage(true), 11, 1)
	if blobmark.ErrorCode(err) != blobmark.EFORBIDDEN || blobmark.Decide(err) != blobmark.Fail {
		t.Fatalf("want a final forbidden error, got %v", err)
	}
	if len(s.links) != 0 {
		t.Error("a failed upload was recorded as exported")
	}
	if _, err := ExportAnnotation(context.Background(), deps, Storage{ProjectID: 1, Format: "xml"}, 11, 1); blobmark.ErrorCode(err) != blobmark.EINVALID {
		t.Errorf("unknown format: %v", err)
	}
}

func TestExportAfterPrefixChangeWritesNewName(t *testing.T) {
	_, c, deps := fixture()
	st := annotationStorage(false)
	mustExport(t, deps, st, 11, 1, OutcomeUploaded)
	st.Prefix, st.FileExtension = "/new//", true
	mustExport(t, deps, st, 11, 1, OutcomeUploaded)
	if keys := c.keys(); !slices.Equal(keys, []string{"new/11.json", "out/11"}) {
		t.Errorf("objects %v", keys)
	}
}
