package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/blobmark/blobmark/httpapi"
	"github.com/blobmark/blobmark/jobs"
	"github.com/blobmark/blobmark/sqlstore"
	"github.com/riverqueue/river"
)

// runServe runs the HTTP API and the job workers until ctx is cancelled
// (SIGINT/SIGTERM), then drains: in-flight requests finish, running jobs
// finish or are released back to the queue within the shutdown timeout.
func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	s, _, err := parseSettings("serve", newFlagSet("serve", stderr), args, nil)
	if err != nil {
		return err
	}
	logger, err := newLogger(s, stderr)
	if err != nil {
		return err
	}
	maxBody, err := s.Int64("max-body-bytes")
	if err != nil {
		return err
	}
	grace, err := s.Duration("shutdown-timeout")
	if err != nil {
		return err
	}
	db, err := openStore(ctx, s, logger)
	if err != nil {
		return err
	}
	defer db.Close()

	workers := river.NewWorkers()
	if err := jobs.Register(workers, db); err != nil {
		return err
	}
	if err := db.StartJobs(ctx, sqlstore.JobsConfig{Workers: workers}); err != nil {
		return err
	}

	api := &httpapi.Server{
		Users:        db,
		Projects:     db,
		Tasks:        db,
		Annotations:  db,
		Ready:        db.Ping,
		Logger:       logger,
		MaxBodyBytes: maxBody,
	}
	ln, err := net.Listen("tcp", s.String("addr"))
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	srv := &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info("blobmark serving", "addr", ln.Addr().String(), "version", version)

	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down", "grace", grace)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Warn("http shutdown", "err", err)
	}
	if err := db.StopJobs(shutdownCtx); err != nil {
		logger.Warn("job shutdown", "err", err)
	}
	return nil
}
