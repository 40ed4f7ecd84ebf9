package jobs_test

import (
	"context"
	"errors"
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

func TestPurgeErrorPolicy(t *testing.T) {
	final := blobmark.Errorf(blobmark.ECONFLICT, "project 7 is not deleted")
	err := work(&jobs.PurgeProjectWorker{Store: &scriptedPurger{answers: []error{nil, final}, done: 9}}, t.Context())
	var cancel *river.JobCancelError
	if !errors.As(err, &cancel) || !errors.Is(err, final) {
		t.Fatalf("a conflict gave %v, want the job cancelled with it", err)
	}

	transient := blobmark.Errorf(blobmark.EUNAVAILABLE, "database busy")
	err = work(&jobs.PurgeProjectWorker{Store: &scriptedPurger{answers: []error{transient}, done: 9}}, t.Context())
	if errors.As(err, &cancel) || !errors.Is(err, transient) {
		t.Fatalf("a busy database gave %v, want a retry", err)
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
