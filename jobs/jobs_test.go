package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/jobs"
	"github.com/riverqueue/river"
)

// scriptedPurger answers PurgeProject from a script, recording the calls.
// The real store runs this worker in sqlstore's job tests; this one pins the
// worker's own loop and error policy.
type scriptedPurger struct {
	answers []error // nil means one batch done, the project not yet gone
	done    int     // the call (1-based) that reports done
	calls   []int   // the limits it was called with
}

// IndexDataFields makes scriptedPurger a whole jobs.Store for Register.
func (*scriptedPurger) IndexDataFields(context.Context, []string) error { return nil }

func (p *scriptedPurger) PurgeProject(ctx context.Context, projectID int64, limit int) (bool, error) {
	p.calls = append(p.calls, limit)
	n := len(p.calls)
	if n <= len(p.answers) && p.answers[n-1] != nil {
		return false, p.answers[n-1]
	}
	return n >= p.done, nil
}

func work(w *jobs.PurgeProjectWorker, ctx context.Context) error {
	return w.Work(ctx, &river.Job[blobmark.PurgeProjectJob]{Args: blobmark.PurgeProjectJob{ProjectID: 7}})
}

func TestPurgeLoopsUntilDone(t *testing.T) {
	p := &scriptedPurger{done: 4}
	if err := work(&jobs.PurgeProjectWorker{Store: p, BatchSize: 50}, t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(p.calls) != 4 || p.calls[0] != 50 {
		t.Fatalf("calls = %v, want 4 batches of 50", p.calls)
	}
	p = &scriptedPurger{done: 1}
	if err := work(&jobs.PurgeProjectWorker{Store: p}, t.Context()); err != nil {
		t.Fatal(err)
	}
	if p.calls[0] != jobs.DefaultPurgeBatch {
		t.Fatalf("default batch = %d, want %d", p.calls[0], jobs.DefaultPurgeBatch)
	}
}

// TestPurgeErrorPolicy pins how blobmark.Decide is mapped onto River,
// through the simplest worker: a row per error code, plus errors without a
// code and a stopped worker. A conflict (the store refusing to purge a
// project that is not deleted) is retried like every other conflict; it
// used to cancel the job here alone.
func TestPurgeErrorPolicy(t *testing.T) {
	tests := []struct {
		err    error
		cancel bool
	}{
		{blobmark.Errorf(blobmark.EUNAVAILABLE, "database busy"), false},
		{blobmark.Errorf(blobmark.EINTERNAL, "boom"), false},
		{blobmark.Errorf(blobmark.ERATELIMITED, "later"), false},
		{blobmark.Errorf(blobmark.EBUSY, "at the limit"), false},
		{blobmark.Errorf(blobmark.ECONFLICT, "project 7 is not deleted"), false},
		{errors.New("database is locked"), false},
		{blobmark.Errorf(blobmark.EUNAUTHORIZED, "bad key"), true},
		{blobmark.Errorf(blobmark.EFORBIDDEN, "no role"), true},
		{blobmark.Errorf(blobmark.EINVALID, "bad project"), true},
		{blobmark.Errorf(blobmark.ENOTFOUND, "gone"), true},
		{blobmark.Errorf(blobmark.ENOTIMPLEMENTED, "cannot"), true},
		{blobmark.Errorf(blobmark.ETOOLARGE, "too big"), true},
		{fmt.Errorf("purge: %w", blobmark.ErrCancelled), true},
	}
	for _, tt := range tests {
		err := work(&jobs.PurgeProjectWorker{Store: &scriptedPurger{answers: []error{nil, tt.err}, done: 9}}, t.Context())
		var cancel *river.JobCancelError
		if errors.As(err, &cancel) != tt.cancel || !errors.Is(err, tt.err) {
			t.Errorf("%v gave %v; want it back, cancelling the job: %v", tt.err, err, tt.cancel)
		}
	}

	ctx, stop := context.WithCancel(t.Context())
	stop()
	p := &scriptedPurger{done: 9}
	if err := work(&jobs.PurgeProjectWorker{Store: p}, ctx); !errors.Is(err, context.Canceled) || len(p.calls) != 0 {
		t.Fatalf("a stopped worker gave %v after %d batches, want context.Canceled before any", err, len(p.calls))
	}
}

func TestRegister(t *testing.T) {
	workers := river.NewWorkers()
	if err := jobs.Register(workers, &scriptedPurger{}); err != nil {
		t.Fatal(err)
	}
	if err := jobs.Register(workers, &scriptedPurger{}); err == nil {
		t.Fatal("registering twice succeeded; want River's duplicate-kind error")
	}
}
