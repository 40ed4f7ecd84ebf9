package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/lswire"
)

// maxReportedImportErrors bounds the messages of a rejected import: enough
// to show a pattern, not a second copy of a broken file.
const maxReportedImportErrors = 20

// importResponse is Label Studio's (Community edition) import answer.
type importResponse struct {
	TaskCount        int      `json:"task_count"`
	AnnotationCount  int      `json:"annotation_count"`
	PredictionCount  int      `json:"prediction_count"`
	Duration         float64  `json:"duration"`
	FileUploadIDs    []int64  `json:"file_upload_ids"`
	CouldBeTasksList bool     `json:"could_be_tasks_list"`
	FoundFormats     []string `json:"found_formats"`
	DataColumns      []string `json:"data_columns"`
	TaskIDs          []int64  `json:"task_ids,omitzero"`
}

// Limits of one import request. The body is read as a stream and the store
// writes it in batches, so memory per import is a batch, not the body (see
// README, "Importing tasks"); these bound what is left: the answer's lists
// and the work of a rejected import.
const (
	// largeImportBytes is the body size above which an import takes one of
	// the server's import slots and is spooled to a temporary file: a
	// smaller one is read into memory whole.
	largeImportBytes = 1 << 20
	// maxDataColumns bounds the data keys an import answers with
	// (data_columns): real task data has a handful, not millions.
	maxDataColumns = 1000
	// maxExplainedUsers bounds the completed_by ids remembered to explain
	// a rejected import.
	maxExplainedUsers = 100
	// DefaultMaxConcurrentImports is the number of large imports the
	// server runs at once when Server.MaxConcurrentImports is zero.
	DefaultMaxConcurrentImports = 2
	// importSlotWait is how long a large import waits for a slot before
	// it is refused with 429, and importRetryAfter the Retry-After then.
	importSlotWait   = 2 * time.Second
	importRetryAfter = 5 * time.Second
)

// handleImportTasks serves POST /api/projects/{id}/import (no trailing
// slash). The body is a JSON array of tasks, or one task object, in Label
// Studio's import format (lswire.ParseTask, completed_by kept). The body is
// read one task at a time and the store writes the tasks in batches within
// one transaction, so a bad task — wherever it is — rejects the whole
// import, and memory holds one batch, not the body.
func (s *Server) handleImportTasks(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	// An unknown (or hidden) project is a 404 before a large body is read.
	pr, err := s.projectFromPath(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, done, err := s.importBody(w, r)
	if err != nil {
		if blobmark.ErrorCode(err) == blobmark.EBUSY {
			w.Header().Set("Retry-After", strconv.Itoa(int(importRetryAfter/time.Second)))
		}
		s.writeError(w, r, err)
		return
	}
	defer done()

	imp := &taskImport{columns: map[string]bool{}, users: map[int64]string{}}
	res, err := s.Tasks.ImportTaskStream(r.Context(), pr.ID, imp.tasks(body))
	if err != nil {
		s.writeError(w, r, imp.explain(r.Context(), s.Users, err))
		return
	}
	out := importResponse{
		TaskCount:       res.TaskCount,
		AnnotationCount: res.AnnotationCount,
		PredictionCount: res.PredictionCount,
		Duration:        time.Since(start).Seconds(),
		FileUploadIDs:   []int64{},
		FoundFormats:    []string{},
		DataColumns:     slices.Sorted(maps.Keys(imp.columns)),
	}
	if ok, _ := strconv.ParseBool(r.URL.Query().Get("return_task_ids")); ok {
		out.TaskIDs = res.TaskIDs
		if out.TaskIDs == nil {
			out.TaskIDs = []int64{}
		}
	}
	writeJSON(w, http.StatusCreated, out)
}

// importBody returns the body of an import to read, and a function that
// releases what it holds. A body of up to largeImportBytes is read into
// memory. A larger one, or one of unknown length that turns out larger,
// first takes one of the server's import slots — EBUSY when none frees up
// within importSlotWait — and is then copied to a temporary file, so that
// the transaction that writes it never waits on a slow client.
func (s *Server) importBody(w http.ResponseWriter, r *http.Request) (io.Reader, func(), error) {
	if r.ContentLength >= 0 && r.ContentLength <= largeImportBytes {
		body, err := s.readBody(r)
		return bytes.NewReader(body), func() {}, err
	}
	if err := refuseMultipart(r); err != nil {
		return nil, nil, err
	}
	var head []byte
	if r.ContentLength < 0 { // sent without a length: the first bytes tell
		var err error
		if head, err = io.ReadAll(io.LimitReader(r.Body, largeImportBytes+1)); err != nil {
			return nil, nil, bodyReadError(err)
		}
		if len(head) <= largeImportBytes {
			return bytes.NewReader(head), func() {}, nil
		}
	}
	release, err := s.importSlot(w, r, head != nil)
	if err != nil {
		return nil, nil, err
	}
	f, err := spool(io.MultiReader(bytes.NewReader(head), r.Body))
	if err != nil {
		release()
		return nil, nil, err
	}
	return f, func() { f.Close(); release() }, nil
}

// importSlot takes one of the server's slots for large imports, waiting up
// to importSlotWait for one to free up. When none does, the body is read
// and dropped before the refusal, since most clients send the whole body
// before they read an answer and would otherwise see the connection reset
// instead of the 429 — unless the client asked to "Expect: 100-continue"
// and has not sent it yet: then the connection closes after the answer,
// and the body is never sent.
func (s *Server) importSlot(w http.ResponseWriter, r *http.Request, bodyStarted bool) (release func(), err error) {
	release = func() { <-s.importSlots }
	select {
	case s.importSlots <- struct{}{}:
		return release, nil
	default:
	}
	wait := time.NewTimer(s.importSlotWait())
	defer wait.Stop()
	select {
	case s.importSlots <- struct{}{}:
		return release, nil
	case <-wait.C:
	case <-r.Context().Done():
	}
	if bodyStarted || !strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
		_, _ = io.Copy(io.Discard, r.Body)
	} else {
		w.Header().Set("Connection", "close")
	}
	return nil, blobmark.Errorf(blobmark.EBUSY,
		"The server is already running %d large imports, its limit; try again in %d seconds.",
		cap(s.importSlots), int(importRetryAfter/time.Second))
}

// spool copies a request body to a temporary file and returns the file,
// positioned at its start. The file is unlinked at once, so nothing is
// left behind however the request ends.
func spool(body io.Reader) (*os.File, error) {
	f, err := os.CreateTemp("", "blobmark-import-*.json")
	if err != nil {
		return nil, fmt.Errorf("spool import: %w", err)
	}
	_ = os.Remove(f.Name())
	src := &readRecorder{r: body}
	if _, err = io.Copy(f, src); err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		if src.err != nil { // the client's fault (or its size), not the disk's
			return nil, bodyReadError(src.err)
		}
		return nil, fmt.Errorf("spool import: %w", err)
	}
	return f, nil
}

// readRecorder remembers the error its reader failed with, to tell a
// failing source from a failing destination after a copy.
type readRecorder struct {
	r   io.Reader
	err error
}

func (rr *readRecorder) Read(p []byte) (int, error) {
	n, err := rr.r.Read(p)
	if err != nil && err != io.EOF {
		rr.err = err
	}
	return n, err
}

// taskImport is the state of one import as its body is read: what the
// answer reports, and what it takes to explain a rejection.
type taskImport struct {
	columns  map[string]bool  // data keys of the valid tasks, up to maxDataColumns
	users    map[int64]string // completed_by ids → where each is first named, up to maxExplainedUsers
	problems []string         // the first maxReportedImportErrors invalid tasks
	bad      int              // invalid tasks
	read     int              // tasks read
}

// tasks yields the tasks of body, parsed and checked, as the store asks for
// them. After the first invalid task it yields no more but reads on, to
// report up to maxReportedImportErrors of them and count the rest, and then
// yields one EINVALID error on field "tasks" naming each by its index.
func (imp *taskImport) tasks(body io.Reader) iter.Seq2[*blobmark.TaskImport, error] {
	return func(yield func(*blobmark.TaskImport, error) bool) {
		tr := lswire.NewTaskReader(body, false)
		for {
			raw, err := tr.Next()
			if err == io.EOF {
				break
			} else if err != nil {
				yield(nil, importReadError(err))
				return
			}
			i := imp.read
			imp.read++
			t, keys, err := lswire.ParseTask(raw, lswire.TaskOptions{KeepCompletedBy: true})
			if err != nil {
				imp.bad++
				if len(imp.problems) < maxReportedImportErrors {
					imp.problems = append(imp.problems, taskProblem(i, err))
				}
				continue
			}
			if imp.bad > 0 {
				continue
			}
			imp.note(t, keys, i)
			if !yield(t, nil) {
				return
			}
		}
		switch {
		case imp.bad > 0:
			yield(nil, imp.invalid("%d of %d tasks are invalid; nothing was imported.", imp.bad, imp.read))
		case imp.read == 0:
			yield(nil, blobmark.FieldErrorf("tasks", "No tasks found in the request body; nothing was imported."))
		}
	}
}

// note records a valid task's data keys and the users its annotations name.
func (imp *taskImport) note(t *blobmark.TaskImport, keys map[string]json.RawMessage, i int) {
	for k := range keys {
		if len(imp.columns) >= maxDataColumns {
			break
		}
		imp.columns[k] = true
	}
	for j, a := range t.Annotations {
		if _, seen := imp.users[a.CompletedBy]; a.CompletedBy != 0 && !seen && len(imp.users) < maxExplainedUsers {
			imp.users[a.CompletedBy] = fmt.Sprintf("Task %d, annotation %d: ", i, j)
		}
	}
}

// taskProblem says what is wrong with task i of an import, in the words of
// the import's other messages: "Task 3, annotation 0: ...".
func taskProblem(i int, err error) string {
	var te *lswire.TaskError
	switch {
	case !errors.As(err, &te):
		return fmt.Sprintf("Task %d: %s", i, err)
	case te.Where != "":
		return fmt.Sprintf("Task %d, %s: %s", i, te.Where, te.Msg)
	}
	return fmt.Sprintf("Task %d: %s", i, te.Msg)
}

// invalid returns the EINVALID error listing the import's problems, after
// a sentence that starts with their number.
func (imp *taskImport) invalid(format string, args ...any) error {
	problems := imp.problems
	if imp.bad > len(problems) {
		problems = append(problems, fmt.Sprintf("... and %d more.", imp.bad-len(problems)))
	}
	return &blobmark.Error{
		Code:    blobmark.EINVALID,
		Message: fmt.Sprintf(format, args...) + " " + problems[0],
		Fields:  map[string][]string{"tasks": problems},
	}
}

// explain turns the store's refusal of an annotation's completed_by — a
// user that does not exist breaks a foreign key, a conflict to the store —
// into the invalid input it is, naming the annotation. Other errors pass.
func (imp *taskImport) explain(ctx context.Context, users blobmark.UserService, err error) error {
	if blobmark.ErrorCode(err) != blobmark.ECONFLICT || len(imp.users) == 0 {
		return err
	}
	imp.bad, imp.problems = 0, nil
	for _, id := range slices.Sorted(maps.Keys(imp.users)) {
		if _, uerr := users.FindUserByID(ctx, id); blobmark.ErrorCode(uerr) == blobmark.ENOTFOUND {
			imp.bad++
			if len(imp.problems) < maxReportedImportErrors {
				imp.problems = append(imp.problems, fmt.Sprintf("%s\"completed_by\" names user %d, who does not exist.", imp.users[id], id))
			}
		} else if uerr != nil {
			return err
		}
	}
	if imp.bad == 0 {
		return err
	}
	return imp.invalid("Annotations name users who do not exist; nothing was imported.")
}

// importReadError turns a failure to read an import's tasks into the
// client's error; a failure of the spool file is the server's.
func importReadError(err error) error {
	var se *lswire.SyntaxError
	var shape *lswire.ShapeError
	switch {
	case errors.Is(err, lswire.ErrEmpty):
		return blobmark.Errorf(blobmark.EINVALID, "The request body is empty; send a JSON array of tasks.")
	case errors.As(err, &shape):
		return blobmark.Errorf(blobmark.EINVALID, "Expected a JSON array of tasks or one task object, got %s.", lswire.JSONKind([]byte{shape.First}))
	case errors.As(err, &se) && se.Task >= 0:
		return blobmark.Errorf(blobmark.EINVALID, "Task %d: JSON parse error - %s (the task starts at byte offset %d).", se.Task, se.Reason, se.Offset)
	case errors.As(err, &se):
		return blobmark.Errorf(blobmark.EINVALID, "JSON parse error - %s (at byte offset %d).", se.Reason, se.Offset)
	}
	return err
}
