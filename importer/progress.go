package importer

import (
	"context"
	"fmt"
	"strings"
)

// Sync statuses, as Label Studio's storage status field spells them. A sync
// that returns an error has no status of its own: the job layer decides
// between failed and a retry.
const (
	// StatusCompleted means every in-scope blob was imported or up to date.
	StatusCompleted = "completed"
	// StatusCompletedWithErrors means the sync finished but some files
	// failed or some annotated tasks were kept unchanged; see the failures.
	StatusCompletedWithErrors = "completed_with_errors"
)

// Failure is one problem a sync recorded without stopping: a file that
// could not be imported, or an annotated task that was kept unchanged.
type Failure struct {
	// Key is the blob the problem is about.
	Key string `json:"key"`
	// TaskID is the task concerned, when there is one.
	TaskID int64 `json:"task_id,omitempty"`
	// Reason is a client-safe explanation that names the key.
	Reason string `json:"reason"`
}

// Progress is the running count of a sync, reported periodically so the
// storage's meta shows it and proves the sync alive.
type Progress struct {
	// KeysListed counts every object the listing returned.
	KeysListed int64 `json:"keys_listed"`
	// KeysSkipped counts listed objects out of scope: folder markers,
	// deeper levels of a non-recursive sync, regex mismatches.
	KeysSkipped int64 `json:"keys_skipped"`
	// FilesRead counts task files downloaded and parsed successfully.
	FilesRead int64 `json:"files_read"`
	// FilesFailed counts files that could not be imported.
	FilesFailed int64 `json:"files_failed"`
	// TasksCreated counts tasks created by this sync.
	TasksCreated int64 `json:"tasks_created"`
	// TasksExisted counts tasks of already-linked keys that were left as is.
	TasksExisted int64 `json:"tasks_existed"`
	// TasksUpdated counts unannotated tasks rewritten from changed files.
	TasksUpdated int64 `json:"tasks_updated"`
	// TasksKept counts annotated tasks whose changed file was not applied
	// to them; each is listed in Failures.
	TasksKept int64 `json:"tasks_kept_annotated"`
	// TasksRemoved counts unannotated tasks deleted because their blob or
	// row disappeared.
	TasksRemoved int64 `json:"tasks_removed"`
	// TasksMarkedMissing counts annotated tasks marked as having lost their blob.
	TasksMarkedMissing int64 `json:"tasks_marked_missing"`
	// TasksRestored counts tasks whose blob came back and lost their mark.
	TasksRestored int64 `json:"tasks_restored"`
	// Failures lists the first problems (capped by Source.MaxFailures).
	Failures []Failure `json:"failures,omitempty"`
	// FailuresOmitted counts problems beyond the cap.
	FailuresOmitted int64 `json:"failures_omitted,omitempty"`
}

// addFailure keeps f unless p holds maxFailures already; then it is only
// counted.
func (p *Progress) addFailure(f Failure, maxFailures int) {
	if len(p.Failures) < maxFailures {
		p.Failures = append(p.Failures, f)
	} else {
		p.FailuresOmitted++
	}
}

// Meta returns p as the storage meta keys the API shows, so the job layer
// merges it into meta without knowing each counter.
func (p Progress) Meta() map[string]any {
	m := map[string]any{
		"keys_listed":          p.KeysListed,
		"keys_skipped":         p.KeysSkipped,
		"files_read":           p.FilesRead,
		"files_failed":         p.FilesFailed,
		"tasks_created":        p.TasksCreated,
		"tasks_existed":        p.TasksExisted,
		"tasks_updated":        p.TasksUpdated,
		"tasks_kept_annotated": p.TasksKept,
		"tasks_removed":        p.TasksRemoved,
		"tasks_marked_missing": p.TasksMarkedMissing,
		"tasks_restored":       p.TasksRestored,
	}
	if len(p.Failures) > 0 {
		m["failures"] = append([]Failure(nil), p.Failures...)
	}
	if p.FailuresOmitted > 0 {
		m["failures_omitted"] = p.FailuresOmitted
	}
	return m
}

// Traceback returns the failures as the newline-separated text Label Studio
// shows in a storage's traceback field, or "" when there were none.
func (p Progress) Traceback() string {
	if len(p.Failures) == 0 {
		return ""
	}
	var b strings.Builder
	for i, f := range p.Failures {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(f.Reason)
	}
	if p.FailuresOmitted > 0 {
		fmt.Fprintf(&b, "\n… and %d more", p.FailuresOmitted)
	}
	return b.String()
}

// ProgressFunc receives progress at least every Source.ProgressInterval
// while a sync runs, and once more with the final counts. Calls never
// overlap, but they come from a goroutine of the engine, concurrently with
// Sink calls. The final call gets a context that is not cancelled even when
// the sync was, so the last counts can still be saved.
type ProgressFunc func(ctx context.Context, p Progress)

// Result is the outcome of a sync. When Sync also returns an error, Status
// is empty and Progress holds the counts up to the failure.
type Result struct {
	// Status is StatusCompleted or StatusCompletedWithErrors.
	Status string
	// Progress holds the final counts and failures.
	Progress
}

// status derives the final status from the counts: any failed file or any
// annotated task left behind by a changed file needs a human's attention.
func (p Progress) status() string {
	if p.FilesFailed > 0 || p.TasksKept > 0 {
		return StatusCompletedWithErrors
	}
	return StatusCompleted
}
