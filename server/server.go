package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/egress"
	"github.com/blobmark/blobmark/httpapi"
	"github.com/blobmark/blobmark/importer"
	"github.com/blobmark/blobmark/jobs"
	"github.com/blobmark/blobmark/media"
	"github.com/blobmark/blobmark/metrics"
	"github.com/blobmark/blobmark/seal"
	"github.com/blobmark/blobmark/sqlstore"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Config is everything a server is built from.
type Config struct {
	// DatabaseURL and DataDir select the database (see sqlstore.Config).
	DatabaseURL string
	DataDir     string
	// SecretKey is the server key: the keys that seal storage secrets at
	// rest and sign session cookies are derived from it, one per use
	// (seal.Key). Empty means the key file in DataDir, generated on first
	// start. Replicas must share it: the database records its key check
	// value, and a process with another key is refused. PreviousSecretKeys
	// still open values sealed before a rotation.
	SecretKey          []byte
	PreviousSecretKeys [][]byte
	// Azure configures the connector (transport, server identity allow-list).
	Azure azureblob.Options
	// MaxBodyBytes limits request bodies; 0 means the API's default.
	MaxBodyBytes int64
	// MaxConcurrentImports bounds the large task imports served at once;
	// 0 means the API's default.
	MaxConcurrentImports int
	// JobPollInterval is how often idle workers look for new jobs besides
	// being told of them; 0 means River's default.
	JobPollInterval time.Duration
	// DatabaseMaxConns bounds this process's PostgreSQL pool; 0 means the
	// store's default (sqlstore.Config.MaxConns).
	DatabaseMaxConns int
	// JobPollOnly makes workers on PostgreSQL poll instead of listening
	// for new jobs (sqlstore.JobsConfig.PollOnly).
	JobPollOnly bool
	// Version is reported by the API.
	Version string
	Logger  *slog.Logger
	// PublicURL prefixes the resolve URLs written into task data (Label
	// Studio's HOST); empty gives relative URLs.
	PublicURL string
	// MediaMode is the operator's media policy (media.ParseMode): auto,
	// proxy or presign-only; empty means auto.
	MediaMode media.Mode
	// DatabaseAzureAuth logs in to PostgreSQL with an Entra ID access token
	// of the server's identity (Azure Database for PostgreSQL), fetched for
	// azureblob.DatabaseScope and renewed before it expires.
	DatabaseAzureAuth bool
	// DatabaseManagedIdentityClientID picks a user-assigned managed identity
	// for DatabaseAzureAuth; empty means the server identity chain.
	DatabaseManagedIdentityClientID string
	// JobRescueAfter is how long a job may run before the queue presumes its
	// process dead and gives it to another replica; 0 means River's default
	// (one hour). Syncs are then bounded to 80% of it, so a live sync is
	// never rescued.
	JobRescueAfter time.Duration
	// EventSweepInterval is how often storage event queues are polled and
	// left-over pushed events picked up; 0 means jobs.DefaultEventSweep.
	EventSweepInterval time.Duration
	// SyncPageSize and SyncProgressInterval tune source syncs: the listing
	// page size and the period of progress reports; 0 means the importer's
	// defaults. Tests shrink them to watch (and kill) a sync midway.
	SyncPageSize         int
	SyncProgressInterval time.Duration
	// SyncChunkFiles is how many task files a Tasks-mode sync hands to the
	// job workers (of every replica) at a time; 0 means
	// importer.DefaultChunkFiles on PostgreSQL and no fan-out on SQLite,
	// where one process reads them faster itself; negative means never.
	SyncChunkFiles int
	// WebhookClient sends outgoing webhooks; nil means jobs.NewWebhookClient
	// through an egress guard with AllowPrivateNetwork (10 s timeout, no
	// redirects followed).
	WebhookClient *http.Client
	// AllowPrivateNetwork lets storage endpoints, event queues and webhooks
	// reach loopback and private network addresses (private endpoints, the
	// emulator); link-local and metadata addresses are refused regardless.
	// It sets Azure.AllowPrivateNetwork.
	AllowPrivateNetwork bool
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names the
	// client that failed sign-ins and tokens are counted against (see
	// httpapi.Server.TrustedProxies); empty trusts none.
	TrustedProxies []netip.Prefix
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
	// Metrics are this process's Prometheus metrics, served on /metrics.
	Metrics *metrics.Metrics
	// rescue is Config.JobRescueAfter.
	rescue    time.Duration
	workers   *river.Workers
	logger    *slog.Logger
	pollEvery time.Duration
	pollOnly  bool // Config.JobPollOnly
	// eventSweep is Config.EventSweepInterval.
	eventSweep time.Duration
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
	sessionKey, err := seal.Key(key, seal.UseSessions)
	if err != nil {
		return nil, err
	}
	tokenKey, err := seal.Key(key, seal.UseTokens)
	if err != nil {
		return nil, err
	}
	var db *sqlstore.DB
	m := metrics.New(func(ctx context.Context) (time.Duration, error) { return db.ExportLag(ctx) })
	azOpts := cfg.Azure
	azOpts.AllowPrivateNetwork = azOpts.AllowPrivateNetwork || cfg.AllowPrivateNetwork
	if err := azureblob.ParseAllowList(azOpts.ServerIdentityAllow); err != nil {
		return nil, err
	}
	webhookClient := cfg.WebhookClient
	if webhookClient == nil {
		webhookClient = jobs.NewWebhookClient((&egress.Guard{AllowPrivate: cfg.AllowPrivateNetwork}).Transport())
	}
	azOpts.OnTokenFetch = chain(azOpts.OnTokenFetch, m.TokenFetched)
	azOpts.OnDelegationKeyFetch = chain(azOpts.OnDelegationKeyFetch, m.DelegationKeyFetched)
	var passwordFunc func(context.Context) (string, error)
	if cfg.DatabaseAzureAuth {
		if cfg.DatabaseURL == "" {
			return nil, blobmark.Errorf(blobmark.EINVALID, "database Azure auth needs a PostgreSQL database URL")
		}
		src, err := azureblob.NewDatabaseTokenSource(azOpts, cfg.DatabaseManagedIdentityClientID)
		if err != nil {
			return nil, err
		}
		passwordFunc = src.Password
	}
	db, err = sqlstore.Open(ctx, sqlstore.Config{
		PasswordFunc: passwordFunc,
		DatabaseURL:  cfg.DatabaseURL,
		DataDir:      cfg.DataDir,
		MaxConns:     cfg.DatabaseMaxConns,
		Logger:       logger,
		Secrets:      box,

		StaleSyncAfter: cfg.StaleSyncAfter,
	})
	if err != nil {
		return nil, err
	}
	conn := azureblob.NewConnector(azOpts)
	source := azureblob.SourceOpener{Connector: conn}
	checker := &azureblob.Checker{Connector: conn}
	workers := river.NewWorkers()
	if err := errors.Join(
		jobs.Register(workers, db),
		jobs.RegisterStorageEvents(workers, db, source, logger),
		river.AddWorkerSafely(workers, &jobs.SyncSourceWorker{Store: db, Source: source,
			PageSize: cfg.SyncPageSize, ProgressInterval: cfg.SyncProgressInterval,
			Observer: m, MaxDuration: syncBound(cfg.JobRescueAfter),
			FanOut: db, ChunkFiles: chunkFiles(cfg.SyncChunkFiles, db.Dialect()), ChunkStaleAfter: chunkStale(cfg.JobRescueAfter),
			CORSCheck: corsCheck(checker, cfg.PublicURL, cfg.MediaMode)}),
		river.AddWorkerSafely(workers, &jobs.SyncFilesWorker{Store: db, Source: source, MaxDuration: syncBound(cfg.JobRescueAfter),
			ChunkStaleAfter: chunkStale(cfg.JobRescueAfter), Logger: logger}),
		river.AddWorkerSafely(workers, &jobs.ScheduleSourceSyncsWorker{Store: db}),
		jobs.RegisterWebhooks(workers, &jobs.DeliverWebhookWorker{Store: db, Client: webhookClient}),
		jobs.RegisterExport(workers, jobs.ExportDeps{
			Store: db, Source: db.ExportStore(), Recorder: db.ExportStore(),
			Opener: azureblob.TargetOpener{Connector: conn}, Logger: logger,
		}),
		jobs.RegisterExportSnapshots(workers, db),
	); err != nil {
		db.Close()
		return nil, err
	}
	api := &httpapi.Server{
		Users: db, Projects: db, Tasks: db, Annotations: db, ProjectAccess: db, LabelStream: db, Predictions: db,
		SourceStorages: db, StorageChecker: checker, StorageFiles: checker, StorageCORS: checker, Organizations: db,
		TargetStorages: db, ProjectExporter: db, ExportSnapshots: db, StorageEvents: db, Webhooks: db, Tokens: db,
		Members: db, Invites: db,
		Views: db, TaskActions: db,
		Ready:        db.Ping,
		Logger:       logger,
		MaxBodyBytes: cfg.MaxBodyBytes,
		Version:      cfg.Version,
		SessionKey:   sessionKey,
		TokenKey:     tokenKey,
		Media:        metrics.MediaResolver{MediaResolver: &azureblob.MediaResolver{Connector: conn, Storages: db, Tasks: db}, Metrics: m},
		PublicURL:    cfg.PublicURL,
		MediaMode:    cfg.MediaMode,

		TrustedProxies: cfg.TrustedProxies,
	}
	api.MaxConcurrentImports = cfg.MaxConcurrentImports
	return &Server{DB: db, Connector: conn, API: api, Metrics: m, rescue: cfg.JobRescueAfter, workers: workers, logger: logger, pollEvery: cfg.JobPollInterval, pollOnly: cfg.JobPollOnly,
		eventSweep: cfg.EventSweepInterval}, nil
}

// chain returns a callback that calls every non-nil f.
func chain(fs ...func()) func() {
	return func() {
		for _, f := range fs {
			if f != nil {
				f()
			}
		}
	}
}

// chunkFiles resolves Config.SyncChunkFiles for the database: 0 means no
// fan-out.
func chunkFiles(n int, d sqlstore.Dialect) int {
	switch {
	case n < 0:
		return 0
	case n == 0 && d == sqlstore.Postgres:
		return importer.DefaultChunkFiles
	}
	return n
}

// chunkStale is how long a sync waits for a silent chunk before it queues
// the chunk's files again: importer.DefaultChunkStaleAfter, or a quarter of
// a shorter sync bound, so that a sync whose chunk died with its replica
// still finishes within its own time.
func chunkStale(rescue time.Duration) time.Duration {
	if b := syncBound(rescue); b > 0 {
		return min(importer.DefaultChunkStaleAfter, b/4)
	}
	return importer.DefaultChunkStaleAfter
}

// syncBound keeps a sync attempt shorter than the stuck-job rescue, so that
// only a sync whose process died is ever handed to another replica.
func syncBound(rescue time.Duration) time.Duration {
	if rescue <= 0 || rescue*8/10 >= jobs.SyncTimeout {
		return 0
	}
	return rescue * 8 / 10
}

// Handler returns the HTTP API and web UI, with /metrics (unauthenticated)
// and every request timed by route.
func (s *Server) Handler() http.Handler { return s.Metrics.ServeMetrics(s.APIHandler()) }

// APIHandler is Handler without /metrics, for a process that serves its
// metrics on a listener of their own (MetricsHandler), out of the API's
// reach.
func (s *Server) APIHandler() http.Handler { return s.Metrics.InstrumentHTTP(s.API.Handler()) }

// MetricsHandler serves /metrics and nothing else.
func (s *Server) MetricsHandler() http.Handler { return s.Metrics.ServeMetrics(nil) }

// StartJobs starts working jobs — syncs, exports, purges, and (on the
// elected leader) the scheduler of periodic syncs — until Close.
func (s *Server) StartJobs(ctx context.Context) error {
	return s.DB.StartJobs(ctx, sqlstore.JobsConfig{
		Workers: s.workers,
		PeriodicJobs: []*river.PeriodicJob{jobs.SchedulePeriodicJob(), jobs.EventSweepPeriodicJob(s.eventSweep),
			jobs.IndexSavedViewsPeriodicJob()},
		PollInterval:         s.pollEvery,
		PollOnly:             s.pollOnly,
		RescueStuckJobsAfter: s.rescue,
		Middleware:           []rivertype.Middleware{s.Metrics.JobOutcomes()},
	})
}

// Close stops the job workers, giving jobs in flight until ctx ends to
// finish before they are released back to the queue, then closes the
// database.
func (s *Server) Close(ctx context.Context) error {
	return errors.Join(s.DB.StopJobs(ctx), s.DB.Close())
}

// corsCheck judges, for the sync worker, whether a storage's presigned
// media will load from the origin of publicURL; nil (no check) without a
// public URL, since the origin of the browsers is then known only to a
// request.
func corsCheck(cors blobmark.StorageCORS, publicURL string, mode media.Mode) func(context.Context, *blobmark.SourceStorage) *blobmark.CORSReport {
	origin, err := blobmark.CORSOrigin(publicURL)
	if publicURL == "" || err != nil {
		return nil
	}
	return func(ctx context.Context, st *blobmark.SourceStorage) *blobmark.CORSReport {
		if !media.MayPresign(st.Presign, mode) {
			return nil
		}
		rep := cors.CheckStorageCORS(ctx, st.Organization, st.Connection, st.Secrets, st.Container, origin)
		if d, _ := media.Choose(st.Presign, rep.CanPresign, mode); d != media.DeliverPresigned {
			return nil
		}
		return &rep
	}
}
