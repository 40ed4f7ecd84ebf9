package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/importer"
	"github.com/blobmark/blobmark/seal"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib" // database/sql's view of the pool
	"github.com/riverqueue/river"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

// Config says which database to open and how. The zero value opens
// ./data/blobmark.db with SQLite.
type Config struct {
	// DatabaseURL selects PostgreSQL when it starts with postgres:// or
	// postgresql://. Empty means an SQLite file in DataDir.
	DatabaseURL string
	// DataDir holds the SQLite file blobmark.db; it defaults to ./data and is
	// created with mode 0700 because the database holds password hashes.
	DataDir string
	// Logger receives the store's and the job queue's logs; nil discards them.
	Logger *slog.Logger
	// Clock stamps created_at/updated_at; nil means time.Now. Tests set it to
	// get stable timestamps.
	Clock blobmark.Clock
	// SkipMigrations opens the database as it is, for tools that must not
	// change the schema; Open then fails if the schema is not current.
	SkipMigrations bool
	// MaxConns bounds the PostgreSQL pool and the SQLite read pool; 0 picks a
	// default from the number of CPUs.
	MaxConns int
	// Secrets seals storage and webhook secrets at rest. Open records the
	// key check value of its primary key in the database on first use and
	// refuses a box that holds neither that key nor, after a rotation, the
	// one recorded before (see checkSecretKey). Nil opens the store without
	// sealing anything: writing or reading a secret then fails, and nothing
	// is checked.
	Secrets *seal.Box
	// StaleSyncAfter is how long a running sync may go without reporting
	// progress before a new request replaces it; 0 means StaleSyncAfter.
	// Tests that kill a syncing process shorten it; it must stay well above
	// the syncs' progress interval.
	StaleSyncAfter time.Duration
	// PasswordFunc, when set, supplies the PostgreSQL password for every new
	// connection, replacing any password in DatabaseURL: an Entra ID access
	// token on Azure Database for PostgreSQL. It is called once per new
	// connection and must cache what it returns (see
	// azureblob.DatabaseTokenSource).
	PasswordFunc func(ctx context.Context) (string, error)
}

// Dialect names the SQL dialect of a database, for the few statements that
// cannot be written the same way on both.
type Dialect string

// The dialects sqlstore speaks.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is an open blobmark database. It implements blobmark.UserService,
// ProjectService, TaskService and AnnotationService, and it enqueues and
// (after StartJobs) works River jobs. Its methods live on one small type per
// aggregate, which DB embeds: callers keep one handle, and each aggregate's
// methods stay together in their own type.
type DB struct {
	*core
	Users
	Organizations
	Members
	PersonalTokens
	Projects
	Tasks
	Annotations
	Predictions
	LabelStream
	SourceStorages
	SourceLinks
	StorageEvents
	ChunkQueue
	TargetStorages
	Webhooks
	Jobs
	Views
	TaskActions
}

// core is what every aggregate shares: the connections, the dialect, the
// secrets box, the insert-only River client and the hooks.
type core struct {
	dialect Dialect
	// pool holds the store's connections on PostgreSQL, which serve its
	// transactions and reads through pgx's own API; nil on SQLite.
	pool *pgxpool.Pool
	// write serves every transaction on SQLite. It has exactly one
	// connection, so writers queue in Go instead of failing with
	// SQLITE_BUSY. On PostgreSQL it is database/sql's view of pool, for
	// the migrations, River's queue inspection (Jobs.River) and the few
	// statements that run outside the store's transactions.
	write *sql.DB
	// read serves plain reads on SQLite; on PostgreSQL it is write.
	read *sql.DB
	// writeStmts and readStmts keep SQLite's statements prepared (see
	// stmtCache); nil on PostgreSQL.
	writeStmts, readStmts *stmtCache
	// stopCheckpointer stops SQLite's checkpointer (startCheckpointer); nil
	// on PostgreSQL.
	stopCheckpointer func() error
	logger           *slog.Logger
	now              blobmark.Clock
	hooks            []Hook
	path             string // SQLite file, "" on PostgreSQL

	// river enqueues in SQLite transactions, and serves queue inspection
	// (Jobs.River) on both databases; never started.
	river *river.Client[*sql.Tx]
	// riverPG enqueues in PostgreSQL transactions (Tx.insertJob); nil on
	// SQLite. Never started either.
	riverPG *river.Client[pgx.Tx]

	// chunkFinishes wakes the syncs of this process that wait for their
	// chunks (ChunkQueue.ChunkFinished).
	chunkFinishes importer.ChunkFinishes

	// pgxConfig configures pgx's pools on PostgreSQL: the store's (pool),
	// the one River works jobs through (StartJobs) and the one that takes
	// task numbers (numbers); nil on SQLite.
	pgxConfig *pgxpool.Config
	// numbers takes task numbers on PostgreSQL (takeTaskNumbers); nil on
	// SQLite and behind a transaction pooler.
	numbers *pgxpool.Pool

	secrets *seal.Box // seals storage secrets; nil: see secretBox

	staleSyncAfter time.Duration // see Config.StaleSyncAfter

	// unprepared: never name a prepared statement on the server. Set on
	// PostgreSQL when the URL's default_query_exec_mode turns pgx's own
	// statement cache off, as behind PgBouncer's transaction pooling, where
	// a statement prepared on one server connection is missing, or another
	// client's, on the next.
	unprepared bool
}

// Interface checks: a *DB is every store service the HTTP API needs.
var (
	_ blobmark.UserService       = (*DB)(nil)
	_ blobmark.ProjectService    = (*DB)(nil)
	_ blobmark.TaskService       = (*DB)(nil)
	_ blobmark.AnnotationService = (*DB)(nil)
	_ blobmark.ViewService       = (*DB)(nil)
	_ blobmark.TaskActionService = (*DB)(nil)
)

// newDB assembles the aggregates around c; all of them share it.
func newDB(c *core) *DB {
	db := &DB{
		core:           c,
		Users:          Users{core: c},
		Members:        Members{core: c},
		PersonalTokens: PersonalTokens{core: c},
		Organizations:  Organizations{core: c},
		Projects:       Projects{core: c},
		Tasks:          Tasks{core: c},
		Annotations:    Annotations{core: c},
		Predictions:    Predictions{core: c},
		LabelStream:    LabelStream{core: c},
		SourceStorages: SourceStorages{core: c},
		SourceLinks:    SourceLinks{core: c},
		StorageEvents:  StorageEvents{core: c},
		ChunkQueue:     ChunkQueue{core: c},
		TargetStorages: TargetStorages{core: c},
		Webhooks:       Webhooks{core: c},
		Jobs:           Jobs{core: c},
		Views:          Views{core: c},
		TaskActions:    TaskActions{core: c},
	}
	db.SourceStorages.events = &db.StorageEvents
	db.StorageEvents.sources = &db.SourceStorages
	return db
}

// Open opens (and creates, for SQLite) the database that cfg names, applies
// blobmark's and River's migrations unless cfg.SkipMigrations, and returns it
// ready to serve. Jobs are enqueued from the start; they are worked only
// after StartJobs.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	db := newDB(&core{logger: cfg.Logger, now: cfg.Clock, staleSyncAfter: cfg.StaleSyncAfter})
	if db.staleSyncAfter <= 0 {
		db.staleSyncAfter = StaleSyncAfter
	}
	// Every annotation write enqueues its exports in its own transaction;
	// this hook is not optional, so no caller can forget it.
	db.hooks = []Hook{exportAnnotationHook, webhookHook}
	db.secrets = cfg.Secrets
	if db.logger == nil {
		db.logger = slog.New(slog.DiscardHandler)
	}
	if db.now == nil {
		db.now = time.Now
	}
	var err error
	switch {
	case strings.HasPrefix(cfg.DatabaseURL, "postgres://"), strings.HasPrefix(cfg.DatabaseURL, "postgresql://"):
		err = db.openPostgres(ctx, cfg)
	case cfg.DatabaseURL == "":
		err = db.openSQLite(ctx, cfg)
	default:
		return nil, blobmark.Errorf(blobmark.EINVALID, "database URL must start with postgres:// or postgresql://, or be empty for SQLite")
	}
	if err != nil {
		return nil, err
	}
	if err := db.newRiverClient(); err != nil {
		db.closePools()
		return nil, err
	}
	if cfg.SkipMigrations {
		err = db.checkMigrated(ctx)
	} else {
		err = db.Migrate(ctx)
	}
	if err == nil && db.secrets != nil {
		err = db.checkSecretKey(ctx)
	}
	if err != nil {
		db.closePools()
		return nil, err
	}
	return db, nil
}

func (db *core) openSQLite(ctx context.Context, cfg Config) error {
	dir := cfg.DataDir
	if dir == "" {
		dir = "./data"
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return &blobmark.Error{Code: blobmark.EINTERNAL, Message: "cannot create the data directory", Err: err}
	}
	db.dialect = SQLite
	db.path = filepath.Join(dir, "blobmark.db")

	// Every connection gets the same pragmas: WAL so readers never block the
	// writer, a busy timeout for the rare cross-process lock (a CLI command
	// beside a running server), enforced foreign keys (off by default in
	// SQLite), and synchronous=NORMAL, which is durable across application
	// crashes in WAL mode and much faster than FULL. _time_format writes times
	// in SQLite's own sortable format.
	base := "file:" + db.path + "?_pragma=busy_timeout(" + strconv.FormatInt(sqliteBusyTimeout.Milliseconds(), 10) + ")&_pragma=journal_mode(WAL)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_time_format=sqlite"
	// BEGIN IMMEDIATE takes the write lock up front: a deferred transaction
	// that reads and then writes can fail at once with SQLITE_BUSY when another
	// process wrote in between, whatever the busy timeout.
	// The writer never checkpoints: the checkpointer does (startCheckpointer).
	write, err := sql.Open("sqlite", base+"&_txlock=immediate&_pragma=wal_autocheckpoint(0)")
	if err != nil {
		return wrapInternal("open sqlite", err)
	}
	write.SetMaxOpenConns(1) // one writer; River's SQLite driver asks for it too
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	read, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		_ = write.Close()
		return wrapInternal("open sqlite", err)
	}
	n := cfg.MaxConns
	if n <= 0 {
		n = max(4, runtime.NumCPU())
	}
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	db.write, db.read = write, read
	db.writeStmts, db.readStmts = newStmtCache(write), newStmtCache(read)
	// The first connection creates the file and switches it to WAL; doing it
	// on the writer first keeps readers from racing to create it.
	if err := pingSQLite(ctx, write); err != nil {
		db.closePools()
		return &blobmark.Error{Code: blobmark.EUNAVAILABLE, Message: "cannot open the SQLite database", Err: err}
	}
	if err := os.Chmod(db.path, 0o600); err != nil {
		db.closePools()
		return wrapInternal("chmod sqlite", err)
	}
	if err := db.startCheckpointer(base); err != nil {
		db.closePools()
		return err
	}
	return nil
}

// sqliteBusyTimeout is how long an SQLite connection waits for a lock
// another process holds before it answers SQLITE_BUSY.
const sqliteBusyTimeout = 10 * time.Second

// pingSQLite opens the first connection, retrying while another process
// holds the lock it needs. Switching a new file to WAL upgrades a shared lock
// to an exclusive one; when two processes start at once, SQLite answers one
// of them SQLITE_BUSY at once rather than let them deadlock, without waiting
// out the busy timeout. The retries stop after that same timeout.
func pingSQLite(ctx context.Context, db *sql.DB) error {
	ctx, cancel := context.WithTimeout(ctx, sqliteBusyTimeout)
	defer cancel()
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		err := db.PingContext(ctx)
		if !isSQLiteBusy(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

func (db *core) openPostgres(ctx context.Context, cfg Config) error {
	db.dialect = Postgres
	var err error
	if db.pgxConfig, err = pgxpool.ParseConfig(cfg.DatabaseURL); err != nil {
		return &blobmark.Error{Code: blobmark.EINVALID, Message: "invalid PostgreSQL URL", Err: err}
	}
	db.pgxConfig.BeforeConnect = passwordHook(cfg)
	db.pgxConfig.MaxConnIdleTime = 5 * time.Minute
	db.unprepared = db.pgxConfig.ConnConfig.DefaultQueryExecMode != pgx.QueryExecModeCacheStatement
	n := cfg.MaxConns
	if n <= 0 {
		n = max(10, 4*runtime.NumCPU())
	}
	if db.pool, err = db.pgxPool(ctx, int32(n)); err != nil {
		return wrapInternal("database pool", err)
	}
	db.write = stdlib.OpenDBFromPool(db.pool)
	db.read = db.write
	if err := db.pool.Ping(ctx); err != nil {
		db.closePools()
		return &blobmark.Error{Code: blobmark.EUNAVAILABLE, Message: "cannot connect to PostgreSQL", Err: err}
	}
	if db.unprepared {
		return nil // behind a transaction pooler: see numbersPoolConns
	}
	if db.numbers, err = db.pgxPool(ctx, numbersPoolConns); err != nil {
		db.closePools()
		return wrapInternal("task numbers pool", err)
	}
	return nil
}

// pgxPool opens a pool of pgx's own of up to maxConns connections, with
// the settings of the store's pool; none is opened before it is needed.
func (db *core) pgxPool(ctx context.Context, maxConns int32) (*pgxpool.Pool, error) {
	cfg := db.pgxConfig.Copy()
	cfg.MinConns, cfg.MaxConns = 0, maxConns
	return pgxpool.NewWithConfig(ctx, cfg)
}

// passwordHook sets the password of each new connection from
// cfg.PasswordFunc; nil without one.
func passwordHook(cfg Config) func(context.Context, *pgx.ConnConfig) error {
	if cfg.PasswordFunc == nil {
		return nil
	}
	return func(ctx context.Context, c *pgx.ConnConfig) error {
		pw, err := cfg.PasswordFunc(ctx)
		if err != nil {
			return &blobmark.Error{Code: blobmark.EUNAVAILABLE, Message: "cannot get the database access token", Err: err}
		}
		c.Password = pw
		return nil
	}
}

// Ping reports whether the database answers, for readiness probes.
func (db *DB) Ping(ctx context.Context) error {
	if db.pool != nil {
		if err := db.pool.Ping(ctx); err != nil {
			return &blobmark.Error{Code: blobmark.EUNAVAILABLE, Message: "database unavailable", Err: err}
		}
		return nil
	}
	if err := db.write.PingContext(ctx); err != nil {
		return &blobmark.Error{Code: blobmark.EUNAVAILABLE, Message: "database unavailable", Err: err}
	}
	if db.read != db.write {
		if err := db.read.PingContext(ctx); err != nil {
			return &blobmark.Error{Code: blobmark.EUNAVAILABLE, Message: "database unavailable", Err: err}
		}
	}
	return nil
}

// Close stops the job workers if they run (cancelling jobs still in flight
// after a short grace period) and closes the database. Call StopJobs first
// with the shutdown deadline you want.
func (db *DB) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := db.StopJobs(ctx)
	return errors.Join(err, db.closePools())
}

func (db *core) closePools() error {
	var err error
	if db.stopCheckpointer != nil {
		err = db.stopCheckpointer()
	}
	db.readStmts.close()
	db.writeStmts.close()
	if db.numbers != nil {
		db.numbers.Close()
	}
	if db.read != nil && db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	if db.write != nil {
		err = errors.Join(err, db.write.Close())
	}
	if db.pool != nil {
		db.pool.Close() // after write, which is a view of it
	}
	return err
}

// Dialect returns the dialect of the open database.
func (db *DB) Dialect() Dialect { return db.dialect }

// SQL returns the pool that serves writes through database/sql, for
// benchmarks that compare the store with bare SQL and for diagnostics. On
// SQLite it has one connection: do not hold it across calls to the store.
// On PostgreSQL it is a view of the store's pgx pool.
func (db *DB) SQL() *sql.DB { return db.write }

// Rebind rewrites a query written with ? placeholders into the dialect's
// placeholders ($1, $2, … on PostgreSQL). Queries must not contain a literal
// question mark.
func (db *DB) Rebind(query string) string { return db.rebind(query) }

// rebind is Rebind for the aggregates, which share the core but not DB's
// methods.
func (db *core) rebind(query string) string {
	if db.dialect != Postgres {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

func itoa(n int) string { return strconv.Itoa(n) }

// timestamp returns the current time as stored: UTC, at the microsecond
// precision PostgreSQL keeps, so both stores return the same value.
func (db *core) timestamp() time.Time {
	return db.now().UTC().Truncate(time.Microsecond)
}
