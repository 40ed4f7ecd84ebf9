package blobmark

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Sampling is the order in which the label stream hands out a project's
// tasks; the values are Label Studio's exact strings.
type Sampling string

// The sampling orders.
const (
	// SequentialSampling hands out tasks in id order.
	SequentialSampling Sampling = "Sequential sampling"
	// UniformSampling hands out tasks in random order.
	UniformSampling Sampling = "Uniform sampling"
	// UncertaintySampling hands out the tasks whose prediction has the
	// lowest score first, then the tasks without predictions at random.
	UncertaintySampling Sampling = "Uncertainty sampling"
)

// Samplings lists every sampling order.
var Samplings = []Sampling{SequentialSampling, UniformSampling, UncertaintySampling}

// SkipQueue says what becomes of a task an annotator skips (an annotation
// with was_cancelled set).
type SkipQueue string

// The skip rules, with Label Studio's names.
const (
	// RequeueForMe hands the skipped task back to the annotator who
	// skipped it once nothing else is left for them; others may take it
	// meanwhile, and the skip does not count towards the overlap.
	RequeueForMe SkipQueue = "REQUEUE_FOR_ME"
	// RequeueForOthers never hands the task back to the annotator who
	// skipped it; the skip does not count towards the overlap, so others
	// still get it. Label Studio's default.
	RequeueForOthers SkipQueue = "REQUEUE_FOR_OTHERS"
	// IgnoreSkipped counts a skip as one of the task's annotations: the
	// task is done (is_labeled) once annotations and skips together reach
	// maximum_annotations, as Label Studio counts them.
	IgnoreSkipped SkipQueue = "IGNORE_SKIPPED"
)

// SkipQueues lists every skip rule.
var SkipQueues = []SkipQueue{RequeueForMe, RequeueForOthers, IgnoreSkipped}

// Bounds and default of Project.CustomTaskLockTTL, in seconds. A lock is
// renewed while the labeling page is open, so the default only decides how
// soon a task left behind by a closed laptop goes to someone else; the
// bounds are Label Studio's.
const (
	DefaultTaskLockTTL = 600
	MinTaskLockTTL     = 1
	MaxTaskLockTTL     = 86400
)

// ParseSampling checks a sampling value; an unknown one is a field error
// naming the values there are.
func ParseSampling(s string) (Sampling, error) {
	if !slices.Contains(Samplings, Sampling(s)) {
		return "", FieldErrorf("sampling", "%q is not a valid choice; use one of %s.", s, quoted(Samplings))
	}
	return Sampling(s), nil
}

// ParseSkipQueue checks a skip rule; an unknown one is a field error naming
// the values there are.
func ParseSkipQueue(s string) (SkipQueue, error) {
	if !slices.Contains(SkipQueues, SkipQueue(s)) {
		return "", FieldErrorf("skip_queue", "%q is not a valid choice; use one of %s.", s, quoted(SkipQueues))
	}
	return SkipQueue(s), nil
}

// CheckTaskLockTTL checks a CustomTaskLockTTL against its bounds.
func CheckTaskLockTTL(seconds int) error {
	if seconds < MinTaskLockTTL || seconds > MaxTaskLockTTL {
		return FieldErrorf("custom_task_lock_ttl", "Ensure this value is between %d and %d seconds.", MinTaskLockTTL, MaxTaskLockTTL)
	}
	return nil
}

func quoted[T ~string](values []T) string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = `"` + string(v) + `"`
	}
	return strings.Join(out, ", ")
}

// TaskIsLabeled is the one rule for a task's is_labeled: it has
// maximum_annotations annotations that were not skipped, or, under
// IgnoreSkipped, annotations and skips together. (The SQL store writes the
// same rule as SQL for updates in place.)
func (p *Project) TaskIsLabeled(total, cancelled int) bool {
	n := total
	if p.SkipQueue == IgnoreSkipped {
		n += cancelled
	}
	return n >= max(1, p.MaximumAnnotations)
}

// TaskLock is an annotator's hold on a task: until ExpiresAt the task
// counts the annotator among those working on it.
type TaskLock struct {
	TaskID    int64     `json:"task"`
	UserID    int64     `json:"user"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Queues a task of the label stream comes from, named as Label Studio
// names them in a task's "queue".
const (
	QueueLocked      = "Locked by you"
	QueueSequential  = "Sequential queue"
	QueueUniform     = "Uniform random queue"
	QueueUncertainty = "Uncertainty queue"
	QueueSkipped     = "Skipped queue"
)

// NextTask is what the label stream hands an annotator: a task, the queue
// it came from, and the lock taken on it.
type NextTask struct {
	Task  *Task
	Queue string
	Lock  TaskLock
}

// Queue is where a project's label stream stands for one user, as Label
// Studio's project serializer shows it: Done counts the tasks the user
// annotated (under RequeueForMe a skip is not done: the task comes back),
// Left the tasks not yet labeled that the user has not annotated (nor,
// unless RequeueForMe, skipped), Total the two together. Finished counts
// the project's labeled tasks, whoever labeled them.
type Queue struct {
	Total    int `json:"queue_total"`
	Done     int `json:"queue_done"`
	Left     int `json:"queue_left"`
	Finished int `json:"finished_task_number"`
}

// LabelStreamService hands a project's tasks to annotators, one at a time,
// honouring the project's distribution fields, and keeps the locks that
// stop a task going to more annotators at once than it still needs. Locks
// live in the database, so replicas share them.
type LabelStreamService interface {
	// NextTask returns the task the user in ctx should label next in the
	// project, locked for them for the project's CustomTaskLockTTL: the
	// task they already hold, if their lock is alive (a page reload gets
	// the same task), else the first task in the project's sampling order
	// that is not labeled, that they have neither annotated nor skipped
	// (RequeueForMe hands their skipped tasks back last), and whose
	// annotations plus other annotators' live locks are fewer than
	// maximum_annotations. Nothing left is ENOTFOUND with a message saying
	// so. Picking and locking are one transaction: two annotators never
	// take the last free place on a task.
	NextTask(ctx context.Context, projectID int64) (*NextTask, error)
	// LockTask takes or renews the user's lock on a task for the project's
	// CustomTaskLockTTL: the labeling page's heartbeat. A task with no
	// place left for them (labeled, or held by as many others as it still
	// needs) is ECONFLICT.
	LockTask(ctx context.Context, taskID int64) (*TaskLock, error)
	// UnlockTask releases the user's lock on a task, if they hold one.
	// Creating an annotation (a submit or a skip) releases it too.
	UnlockTask(ctx context.Context, taskID int64) error
	// QueueOf counts the project's queue for the user in ctx, exactly and
	// without reading the project's tasks one by one.
	QueueOf(ctx context.Context, projectID int64) (*Queue, error)
}
