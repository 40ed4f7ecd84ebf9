// Package server assembles a blobmark server from its parts: the store, the
// Azure connector, the job workers and the HTTP API. The command, the
// end-to-end tests and the benchmarks all build blobmark here, so they run
// exactly the same wiring.
package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/httpapi"
	"github.com/blobmark/blobmark/jobs"
	"github.com/blobmark/blobmark/media"
	"github.com/blobmark/blobmark/seal"
	"github.com/blobmark/blobmark/sqlstore"
	"github.com/riverqueue/river"
)

// Config is everything a server is built from.
type Config struct {
	// DatabaseURL and DataDir select the database (see sqlstore.Config).
	DatabaseURL string
	DataDir     string
	// SecretKey seals storage secrets at rest and, derived, signs session
	// cookies; empty means the key file in DataDir, generated on first start.
	// Replicas must share it. PreviousSecretKeys still open values sealed
	// before a rotation.
	SecretKey          []byte
	PreviousSecretKeys [][]byte
	// Azure configures the connector (transport, server identity allow-list).
	Azure azureblob.Options
	// MaxBodyBytes limits request bodies; 0 means the API's default.
	MaxBodyBytes int64
	// JobPollInterval is how often idle workers look for new jobs; 0 means
	// River's default.
	JobPollInterval time.Duration
	// Version is reported by the API.
	Version string
	Logger  *slog.Logger
	// PublicURL prefixes the resolve URLs written into task data (Label
	// Studio's HOST); empty gives relative URLs.
	PublicURL string
	// MediaMode is the operator's media policy (media.ParseMode): auto,
	// proxy or presign-only; empty means auto.
	MediaMode media.Mode
	// SyncPageSize and SyncProgressInterval tune source syncs: the listing
	// page size and the period of progress reports; 0 means the importer's
	// defaults. Tests shrink them to watch (and kill) a sync midway.
	SyncPageSize         int
	SyncProgressInterval time.Duration
	// StaleSyncAfter is how long a running sync may stay silent before a new
	// request replaces it (see sqlstore.Config.StaleSyncAfter); 0 means
	// sqlstore.StaleSyncAfter.
	StaleSyncAfter time.Duration
}

// Server is an assembled blobmark: a database, an Azure connector, the job
// workers registered on it, and the HTTP API over both.
type Server struct {
	DB        *sqlstore.DB
	Connector *azureblob.Connector
	API       *httpapi.Server
	workers   *river.Workers
	logger    *slog.Logger
	pollEvery time.Duration
}

// Open opens the database (migrating it), builds the connector, registers
// every job worker and builds the HTTP API. It starts no job and serves
// nothing: StartJobs and Handler do.
func Open(ctx context.Context, cfg Config) (*Server, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	key := cfg.SecretKey
	if key == nil {
		dir := cfg.DataDir
		if dir == "" {
			dir = "./data"
		}
		var err error
		if key, err = seal.LoadOrCreateKey(dir); err != nil {
			return nil, err
		}
	}
	box, err := seal.New(key, cfg.PreviousSecretKeys...)
	if err != nil {
		return nil, err
	}
	db, err := sqlstore.Open(ctx, sqlstore.Config{
		DatabaseURL: cfg.DatabaseURL,
		DataDir:     cfg.DataDir,
		Logger:      logger,
		Secrets:     box,

		StaleSyncAfter: cfg.StaleSyncAfter,
	})
	if err != nil {
		return nil, err
	}
	conn := azureblob.NewConnector(cfg.Azure)
	workers := river.NewWorkers()
	if err := errors.Join(
		jobs.Register(workers, db),
		river.AddWorkerSafely(workers, &jobs.SyncSourceWorker{Store: db, Connector: conn,
			PageSize: cfg.SyncPageSize, ProgressInterval: cfg.SyncProgressInterval}),
		river.AddWorkerSafely(workers, &jobs.ScheduleSourceSyncsWorker{Store: db}),
		jobs.RegisterExport(workers, jobs.ExportDeps{
			Store: db, Source: db.ExportStore(), Recorder: db.ExportStore(),
			Opener: azureblob.TargetOpener{Connector: conn}, Logger: logger,
		}),
	); err != nil {
		db.Close()
		return nil, err
	}
	checker := &azureblob.Checker{Connector: conn}
	api := &httpapi.Server{
		Users: db, Projects: db, Tasks: db, Annotations: db, ProjectAccess: db,
		SourceStorages: db, StorageChecker: checker, StorageFiles: checker,
		TargetStorages: db, ProjectExporter: db,
		Ready:        db.Ping,
		Logger:       logger,
		MaxBodyBytes: cfg.MaxBodyBytes,
		Version:      cfg.Version,
		SessionKey:   sessionKey(key),
		Media:        &azureblob.MediaResolver{Connector: conn, Storages: db, Tasks: db},
		PublicURL:    cfg.PublicURL,
		MediaMode:    cfg.MediaMode,
	}
	return &Server{DB: db, Connector: conn, API: api, workers: workers, logger: logger, pollEvery: cfg.JobPollInterval}, nil
}

// sessionKey derives the session-cookie key from the secret key, so one
// configured secret serves both and every replica signs cookies alike.
func sessionKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("blobmark session cookies v1"))
	return m.Sum(nil)
}

// Handler returns the HTTP API and web UI.
func (s *Server) Handler() http.Handler { return s.API.Handler() }

// StartJobs starts working jobs — syncs, exports, purges, and (on the
// elected leader) the scheduler of periodic syncs — until Close.
func (s *Server) StartJobs(ctx context.Context) error {
	return s.DB.StartJobs(ctx, sqlstore.JobsConfig{
		Workers:      s.workers,
		PeriodicJobs: []*river.PeriodicJob{jobs.SchedulePeriodicJob()},
		PollInterval: s.pollEvery,
	})
}

// Close stops the job workers, giving jobs in flight until ctx ends to
// finish before they are released back to the queue, then closes the
// database.
func (s *Server) Close(ctx context.Context) error {
	return errors.Join(s.DB.StopJobs(ctx), s.DB.Close())
}
