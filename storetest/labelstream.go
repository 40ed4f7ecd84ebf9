package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
)

// Clock is a store's "now" that the test moves by hand, for the rules that
// depend on time (lock expiry), tested at exact instants.
type Clock interface {
	Now() time.Time
	Advance(d time.Duration)
}

// OpenClocked returns a fresh store and the clock it reads.
type OpenClocked func(t *testing.T) (Store, Clock)

// RunLabelStream runs the label stream and predictions suite.
func RunLabelStream(t *testing.T, open OpenClocked) {
	t.Run("LabelStream", func(t *testing.T) { testLabelStream(t, open) })
	t.Run("Predictions", func(t *testing.T) {
		testPredictions(t, func(t *testing.T) Store {
			s, _ := open(t)
			return s
		})
	})
}

// streamEnv is a store at a clock the test moves, with a project of n
// tasks, its settings applied.
type streamEnv struct {
	t     *testing.T
	s     Store
	clock Clock
	p     *blobmark.Project
	tasks []int64
}

func newStreamEnv(t *testing.T, open OpenClocked, n int, upd blobmark.ProjectUpdate) *streamEnv {
	t.Helper()
	s, clock := open(t)
	ctx, _ := asUser(t, s, "manager@example.com")
	p := newProject(t, ctx, s, "stream")
	p, err := s.UpdateProject(ctx, p.ID, upd)
	must(t, err)
	res, err := s.ImportTasks(ctx, p.ID, tasksOf(n))
	must(t, err)
	return &streamEnv{t: t, s: s, clock: clock, p: p, tasks: res.TaskIDs}
}

func (e *streamEnv) user(name string) context.Context {
	ctx, _ := asUser(e.t, e.s, name+"@example.com")
	return ctx
}

// next asks for the user's next task and returns its id, 0 when the stream
// is empty for them.
func (e *streamEnv) next(ctx context.Context) int64 {
	e.t.Helper()
	n, err := e.s.NextTask(ctx, e.p.ID)
	if blobmark.ErrorCode(err) == blobmark.ENOTFOUND {
		return 0
	}
	must(e.t, err)
	return n.Task.ID
}

func (e *streamEnv) annotate(ctx context.Context, taskID int64, skip bool) {
	e.t.Helper()
	must(e.t, e.s.CreateAnnotation(ctx, &blobmark.Annotation{TaskID: taskID, WasCancelled: skip, Result: json.RawMessage(`[]`)}))
}

// wantNext fails unless the user's next task is want (0: none).
func (e *streamEnv) wantNext(ctx context.Context, who string, want int64) {
	e.t.Helper()
	if got := e.next(ctx); got != want {
		e.t.Fatalf("%s: next task %d, want %d (tasks %v)", who, got, want, e.tasks)
	}
}

func ptr[T any](v T) *T { return &v }

func testLabelStream(t *testing.T, open OpenClocked) {
	t.Run("SequentialLocksAndReleases", func(t *testing.T) {
		e := newStreamEnv(t, open, 3, blobmark.ProjectUpdate{})
		if e.p.Sampling != blobmark.SequentialSampling || e.p.SkipQueue != blobmark.RequeueForOthers || e.p.CustomTaskLockTTL != blobmark.DefaultTaskLockTTL {
			t.Fatalf("defaults: %+v", e.p)
		}
		a, b := e.user("a"), e.user("b")
		n, err := e.s.NextTask(a, e.p.ID)
		must(t, err)
		if n.Task.ID != e.tasks[0] || n.Queue != blobmark.QueueSequential || !n.Lock.ExpiresAt.Equal(e.clock.Now().Add(600*time.Second)) {
			t.Fatalf("first next = %+v %+v", n.Task, n)
		}
		// A reload gets the same task back, and the lock holds it from b.
		n, err = e.s.NextTask(a, e.p.ID)
		must(t, err)
		if n.Task.ID != e.tasks[0] || n.Queue != blobmark.QueueLocked {
			t.Fatalf("reload = task %d queue %q", n.Task.ID, n.Queue)
		}
		e.wantNext(b, "b", e.tasks[1])
		// A submit releases a's lock and moves a on; b's lock stays.
		e.annotate(a, e.tasks[0], false)
		e.wantNext(a, "a", e.tasks[2])
		e.wantNext(a, "a again", e.tasks[2])
		// Leaving the page releases the lock: b may take a's task now.
		must(t, e.s.UnlockTask(a, e.tasks[2]))
		e.annotate(b, e.tasks[1], false)
		e.wantNext(b, "b", e.tasks[2])
		e.wantNext(a, "a", 0)
	})

	t.Run("NeverAnAnnotatedTask", func(t *testing.T) {
		e := newStreamEnv(t, open, 2, blobmark.ProjectUpdate{MaximumAnnotations: ptr(3)})
		a := e.user("a")
		e.annotate(a, e.tasks[0], false) // through the API, not the stream
		e.wantNext(a, "a", e.tasks[1])
		e.annotate(a, e.tasks[1], false)
		e.wantNext(a, "a", 0)
		e.wantNext(e.user("b"), "b", e.tasks[0])
	})

	t.Run("ExpiredLockHandsTheTaskOn", func(t *testing.T) {
		e := newStreamEnv(t, open, 1, blobmark.ProjectUpdate{CustomTaskLockTTL: ptr(60)})
		a, b := e.user("a"), e.user("b")
		e.wantNext(a, "a", e.tasks[0])
		e.wantNext(b, "b while a holds it", 0)
		e.clock.Advance(59 * time.Second)
		e.wantNext(b, "b a second before expiry", 0)
		e.clock.Advance(time.Second)
		e.wantNext(b, "b after expiry", e.tasks[0])
		// a's page renews too late: the task is b's now.
		_, err := e.s.LockTask(a, e.tasks[0])
		wantCode(t, err, blobmark.ECONFLICT)
		e.wantNext(a, "a", 0)
	})

	t.Run("HeartbeatRenews", func(t *testing.T) {
		e := newStreamEnv(t, open, 1, blobmark.ProjectUpdate{CustomTaskLockTTL: ptr(60)})
		a, b := e.user("a"), e.user("b")
		e.wantNext(a, "a", e.tasks[0])
		for range 5 {
			e.clock.Advance(50 * time.Second)
			l, err := e.s.LockTask(a, e.tasks[0])
			must(t, err)
			if !l.ExpiresAt.Equal(e.clock.Now().Add(60 * time.Second)) {
				t.Fatalf("renewed lock expires %v, want %v", l.ExpiresAt, e.clock.Now().Add(60*time.Second))
			}
			e.wantNext(b, "b", 0)
		}
		_, err := e.s.LockTask(a, e.tasks[0]+1000)
		wantCode(t, err, blobmark.ENOTFOUND)
	})

	t.Run("SkipQueues", func(t *testing.T) {
		t.Run("RequeueForOthers", func(t *testing.T) {
			e := newStreamEnv(t, open, 2, blobmark.ProjectUpdate{SkipQueue: ptr(blobmark.RequeueForOthers)})
			a, b := e.user("a"), e.user("b")
			e.wantNext(a, "a", e.tasks[0])
			e.annotate(a, e.tasks[0], true)
			e.wantNext(a, "a after skip", e.tasks[1])
			e.annotate(a, e.tasks[1], false)
			e.wantNext(a, "a", 0)
			e.wantNext(b, "b", e.tasks[0]) // the skip does not count
		})
		t.Run("RequeueForMe", func(t *testing.T) {
			e := newStreamEnv(t, open, 2, blobmark.ProjectUpdate{SkipQueue: ptr(blobmark.RequeueForMe)})
			a := e.user("a")
			e.wantNext(a, "a", e.tasks[0])
			e.annotate(a, e.tasks[0], true)
			e.wantNext(a, "a after skip", e.tasks[1])
			e.annotate(a, e.tasks[1], false)
			n, err := e.s.NextTask(a, e.p.ID)
			must(t, err)
			if n.Task.ID != e.tasks[0] || n.Queue != blobmark.QueueSkipped {
				t.Fatalf("a's skipped task back: task %d queue %q", n.Task.ID, n.Queue)
			}
			e.annotate(a, e.tasks[0], false)
			e.wantNext(a, "a", 0)
		})
		t.Run("IgnoreSkipped", func(t *testing.T) {
			e := newStreamEnv(t, open, 2, blobmark.ProjectUpdate{SkipQueue: ptr(blobmark.IgnoreSkipped)})
			a, b := e.user("a"), e.user("b")
			e.wantNext(a, "a", e.tasks[0])
			e.annotate(a, e.tasks[0], true)
			task, err := e.s.FindTaskByID(a, e.tasks[0])
			must(t, err)
			if !task.IsLabeled {
				t.Fatalf("a skip under IGNORE_SKIPPED leaves the task unlabeled: %+v", task)
			}
			e.wantNext(b, "b", e.tasks[1]) // the skip finished task 0
			// Switching the rule recomputes is_labeled.
			_, err = e.s.UpdateProject(a, e.p.ID, blobmark.ProjectUpdate{SkipQueue: ptr(blobmark.RequeueForOthers)})
			must(t, err)
			if task, _ = e.s.FindTaskByID(a, e.tasks[0]); task.IsLabeled {
				t.Fatalf("after REQUEUE_FOR_OTHERS, the skipped task is still labeled")
			}
		})
	})

	t.Run("Queue", func(t *testing.T) {
		for _, tc := range []struct {
			skip blobmark.SkipQueue
			// a's queue after annotating task 0, skipping task 1 and b
			// labeling task 2 (overlap 1), of 5 tasks.
			want blobmark.Queue
		}{
			// A skip is done work, and the task is out of a's queue.
			{blobmark.RequeueForOthers, blobmark.Queue{Total: 4, Done: 2, Left: 2, Finished: 2}},
			// The skipped task comes back to a: not done, still left.
			{blobmark.RequeueForMe, blobmark.Queue{Total: 4, Done: 1, Left: 3, Finished: 2}},
			// The skip labels the task.
			{blobmark.IgnoreSkipped, blobmark.Queue{Total: 4, Done: 2, Left: 2, Finished: 3}},
		} {
			t.Run(string(tc.skip), func(t *testing.T) {
				e := newStreamEnv(t, open, 5, blobmark.ProjectUpdate{SkipQueue: ptr(tc.skip)})
				a, b := e.user("a"), e.user("b")
				q, err := e.s.QueueOf(a, e.p.ID)
				must(t, err)
				if *q != (blobmark.Queue{Total: 5, Left: 5}) {
					t.Fatalf("fresh queue = %+v", *q)
				}
				e.annotate(a, e.tasks[0], false)
				e.annotate(a, e.tasks[1], true)
				e.annotate(b, e.tasks[2], false)
				q, err = e.s.QueueOf(a, e.p.ID)
				must(t, err)
				if *q != tc.want {
					t.Fatalf("a's queue = %+v, want %+v", *q, tc.want)
				}
				q, err = e.s.QueueOf(b, e.p.ID)
				must(t, err)
				// b labeled one task; a's annotation and (unless it requeues
				// for a) a's skip took others from everyone's queue.
				if q.Done != 1 || q.Left != 5-tc.want.Finished || q.Finished != tc.want.Finished {
					t.Fatalf("b's queue = %+v (a's %+v)", *q, tc.want)
				}
				_, err = e.s.QueueOf(a, e.p.ID+1000)
				wantCode(t, err, blobmark.ENOTFOUND)
			})
		}
	})

	t.Run("Sampling", func(t *testing.T) {
		t.Run("Uniform", func(t *testing.T) {
			e := newStreamEnv(t, open, 20, blobmark.ProjectUpdate{Sampling: ptr(blobmark.UniformSampling)})
			a := e.user("a")
			var got []int64
			for id := e.next(a); id != 0; id = e.next(a) {
				got = append(got, id)
				e.annotate(a, id, false)
			}
			slices.Sort(got)
			if !slices.Equal(got, e.tasks) {
				t.Fatalf("uniform sampling handed %v, want every task once: %v", got, e.tasks)
			}
		})
		t.Run("Uncertainty", func(t *testing.T) {
			e := newStreamEnv(t, open, 4, blobmark.ProjectUpdate{Sampling: ptr(blobmark.UncertaintySampling), ModelVersion: ptr("v2")})
			a := e.user("a")
			// Task 3 has no prediction of v2, so it comes last; v1's
			// low score on task 0 does not count.
			must(t, e.s.CreatePredictions(a, e.p.ID, []*blobmark.Prediction{
				{TaskID: e.tasks[0], Score: ptr(0.01), ModelVersion: "v1"},
				{TaskID: e.tasks[0], Score: ptr(0.9), ModelVersion: "v2"},
				{TaskID: e.tasks[1], Score: ptr(0.2), ModelVersion: "v2"},
				{TaskID: e.tasks[2], Score: ptr(0.5), ModelVersion: "v2"},
			}))
			var got []int64
			for id := e.next(a); id != 0; id = e.next(a) {
				got = append(got, id)
				e.annotate(a, id, false)
			}
			want := []int64{e.tasks[1], e.tasks[2], e.tasks[0], e.tasks[3]}
			if !slices.Equal(got, want) {
				t.Fatalf("uncertainty sampling handed %v, want %v", got, want)
			}
		})
	})

	t.Run("BadSettings", func(t *testing.T) {
		e := newStreamEnv(t, open, 0, blobmark.ProjectUpdate{})
		for field, upd := range map[string]blobmark.ProjectUpdate{
			"sampling":             {Sampling: ptr(blobmark.Sampling("Random"))},
			"skip_queue":           {SkipQueue: ptr(blobmark.SkipQueue("REQUEUE"))},
			"custom_task_lock_ttl": {CustomTaskLockTTL: ptr(0)},
		} {
			_, err := e.s.UpdateProject(t.Context(), e.p.ID, upd)
			wantField(t, err, field)
		}
		_, err := e.s.UpdateProject(t.Context(), e.p.ID, blobmark.ProjectUpdate{CustomTaskLockTTL: ptr(blobmark.MaxTaskLockTTL + 1)})
		wantField(t, err, "custom_task_lock_ttl")
		_, err = e.s.NextTask(t.Context(), e.p.ID)
		wantCode(t, err, blobmark.EUNAUTHORIZED)
		_, err = e.s.NextTask(e.user("a"), e.p.ID+1000)
		wantCode(t, err, blobmark.ENOTFOUND)
	})

	t.Run("ConcurrentAnnotators", func(t *testing.T) {
		for _, overlap := range []int{1, 2} {
			t.Run(fmt.Sprintf("overlap%d", overlap), func(t *testing.T) {
				testConcurrentAnnotators(t, open, overlap)
			})
		}
	})
}

// testConcurrentAnnotators has annotators, each a goroutine and a user of
// its own, take tasks from one project and submit them as fast as they
// can. While they work no task is ever in more hands than it needs; at the
// end every task has exactly overlap annotations, all by different people.
func testConcurrentAnnotators(t *testing.T, open OpenClocked, overlap int) {
	const annotators, tasks = 6, 30
	e := newStreamEnv(t, open, tasks, blobmark.ProjectUpdate{MaximumAnnotations: ptr(overlap)})
	var mu sync.Mutex
	inHand := map[int64]int{}
	got := map[int64][]int{}
	var wg sync.WaitGroup
	errs := make(chan error, annotators)
	for w := range annotators {
		ctx := e.user(fmt.Sprintf("annotator%d", w))
		wg.Go(func() {
			for {
				n, err := e.s.NextTask(ctx, e.p.ID)
				if blobmark.ErrorCode(err) == blobmark.ENOTFOUND {
					return
				} else if err != nil {
					errs <- err
					return
				}
				id := n.Task.ID
				mu.Lock()
				inHand[id]++
				crowded := inHand[id] > overlap
				got[id] = append(got[id], w)
				mu.Unlock()
				if crowded {
					errs <- fmt.Errorf("task %d is in more than %d hands at once", id, overlap)
					return
				}
				err = e.s.CreateAnnotation(ctx, &blobmark.Annotation{TaskID: id, Result: json.RawMessage(`[]`)})
				mu.Lock()
				inHand[id]--
				mu.Unlock()
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, id := range e.tasks {
		who := got[id]
		slices.Sort(who)
		if len(who) != overlap || len(slices.Compact(who)) != overlap {
			t.Errorf("task %d was handed to annotators %v, want %d different ones", id, got[id], overlap)
		}
		task, err := e.s.FindTaskByID(t.Context(), id)
		must(t, err)
		if task.TotalAnnotations != overlap || !task.IsLabeled {
			t.Errorf("task %d ends with %d annotations (labeled %v), want %d", id, task.TotalAnnotations, task.IsLabeled, overlap)
		}
	}
}

func testPredictions(t *testing.T, open Open) {
	t.Run("CRUD", func(t *testing.T) {
		s := open(t)
		ctx, _ := asUser(t, s, "model@example.com")
		p := newProject(t, ctx, s, "predict")
		other := newProject(t, ctx, s, "other")
		res, err := s.ImportTasks(ctx, p.ID, tasksOf(2))
		must(t, err)
		otherRes, err := s.ImportTasks(ctx, other.ID, tasksOf(1))
		must(t, err)
		preds := []*blobmark.Prediction{
			{TaskID: res.TaskIDs[0], Result: json.RawMessage(`[{"value":{"choices":["a"]}}]`), Score: ptr(0.5), ModelVersion: "v1"},
			{TaskID: res.TaskIDs[1]},
		}
		must(t, s.CreatePredictions(ctx, p.ID, preds))
		if preds[0].ID == 0 || preds[0].ProjectID != p.ID || preds[1].Score != nil || preds[0].CreatedAt.IsZero() {
			t.Fatalf("created %+v %+v", preds[0], preds[1])
		}
		got, err := s.FindPredictionByID(ctx, preds[0].ID)
		must(t, err)
		jsonEqual(t, got.Result, `[{"value":{"choices":["a"]}}]`)
		if *got.Score != 0.5 || got.ModelVersion != "v1" || got.TaskID != res.TaskIDs[0] {
			t.Fatalf("FindPredictionByID = %+v", got)
		}
		counters := func(wantTask, wantProject int) {
			t.Helper()
			task, err := s.FindTaskByID(ctx, res.TaskIDs[0])
			must(t, err)
			pr, err := s.FindProjectByID(ctx, p.ID)
			must(t, err)
			if task.TotalPredictions != wantTask || pr.TotalPredictionsNumber != wantProject {
				t.Fatalf("counters: task %d, project %d; want %d, %d", task.TotalPredictions, pr.TotalPredictionsNumber, wantTask, wantProject)
			}
		}
		counters(1, 2)
		list, err := s.FindPredictions(ctx, blobmark.PredictionFilter{ProjectID: p.ID})
		must(t, err)
		if len(list) != 2 {
			t.Fatalf("project's predictions: %d, want 2", len(list))
		}
		list, err = s.FindPredictions(ctx, blobmark.PredictionFilter{TaskID: res.TaskIDs[1]})
		must(t, err)
		if len(list) != 1 || list[0].ID != preds[1].ID {
			t.Fatalf("task's predictions: %+v", list)
		}
		upd, err := s.UpdatePrediction(ctx, preds[0].ID, blobmark.PredictionUpdate{ClearScore: true, ModelVersion: ptr("v2")})
		must(t, err)
		if upd.Score != nil || upd.ModelVersion != "v2" {
			t.Fatalf("UpdatePrediction = %+v", upd)
		}
		must(t, s.DeletePrediction(ctx, preds[0].ID))
		counters(0, 1)
		wantCode(t, s.DeletePrediction(ctx, preds[0].ID), blobmark.ENOTFOUND)
		_, err = s.FindPredictionByID(ctx, preds[0].ID)
		wantCode(t, err, blobmark.ENOTFOUND)

		// A task of another project anywhere in the list: nothing is written.
		bad := []*blobmark.Prediction{{TaskID: res.TaskIDs[0]}, {TaskID: otherRes.TaskIDs[0]}}
		wantCode(t, s.CreatePredictions(ctx, p.ID, bad), blobmark.EINVALID)
		counters(0, 1)
		wantCode(t, s.CreatePredictions(ctx, p.ID, []*blobmark.Prediction{{TaskID: res.TaskIDs[0], Result: json.RawMessage(`[`)}}), blobmark.EINVALID)
		_, err = s.FindPredictions(ctx, blobmark.PredictionFilter{})
		wantCode(t, err, blobmark.EINVALID)
	})
}
