package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/httpapi"
	"github.com/blobmark/blobmark/media"
	"github.com/blobmark/blobmark/seal"
	"github.com/blobmark/blobmark/server"
)

// runServe runs blobmark until ctx is cancelled (SIGINT/SIGTERM), then
// drains: in-flight requests finish, and running jobs finish or are released
// back to the queue within the shutdown timeout. As "serve" it runs the HTTP
// API and the job workers (unless --no-jobs); as "worker" it runs only the
// job workers, answering health probes on --addr.
func runServe(ctx context.Context, command string, args []string, stderr io.Writer) error {
	s, _, err := parseSettings(command, newFlagSet(command, stderr), args, nil)
	if err != nil {
		return err
	}
	logger, err := newLogger(s, stderr)
	if err != nil {
		return err
	}
	cfg, err := serverConfig(s)
	if err != nil {
		return err
	}
	grace, err := s.Duration("shutdown-timeout")
	if err != nil {
		return err
	}
	noJobs := false
	if command == "serve" {
		if noJobs, err = s.Bool("no-jobs"); err != nil {
			return err
		}
	}
	cfg.Logger, cfg.Version = logger, version
	srv, err := server.Open(ctx, cfg)
	if err != nil {
		return err
	}
	// stopJobs gives jobs in flight until the deadline, then releases them.
	stopJobs := func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		if err := srv.Close(stopCtx); err != nil {
			logger.Warn("job shutdown", "err", err)
		}
	}

	// With --metrics-addr, /metrics moves to a listener of its own, which
	// the operator can keep private while --addr faces the users.
	handler := srv.Handler()
	listeners := []listener{{"addr", nil}}
	if s.String("metrics-addr") != "" {
		handler = srv.APIHandler()
		listeners = append(listeners, listener{"metrics-addr", srv.MetricsHandler()})
	}
	if command == "worker" {
		handler = healthOnly(handler)
	}
	listeners[0].handler = handler
	if !noJobs {
		if err := srv.StartJobs(ctx); err != nil {
			stopJobs()
			return err
		}
	}
	var servers []*http.Server
	serveErr := make(chan error, len(listeners))
	closeAll := func() {
		for _, hs := range servers {
			_ = hs.Close()
		}
	}
	logAttrs := []any{"version", version, "jobs", !noJobs}
	for _, l := range listeners {
		ln, err := net.Listen("tcp", s.String(l.flag))
		if err != nil {
			closeAll()
			stopJobs()
			return fmt.Errorf("--%s: %w", l.flag, err)
		}
		hs := &http.Server{Handler: l.handler, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, hs)
		go func() { serveErr <- hs.Serve(ln) }()
		logAttrs = append(logAttrs, strings.ReplaceAll(l.flag, "-", "_"), ln.Addr().String())
	}
	logger.Info("blobmark "+command, logAttrs...)

	select {
	case err := <-serveErr:
		closeAll()
		stopJobs()
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down", "grace", grace)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	for _, hs := range servers {
		if err := hs.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Warn("http shutdown", "err", err)
		}
	}
	stopJobs()
	return nil
}

// listener is one address blobmark serves: the option that names it and
// what it serves there.
type listener struct {
	flag    string
	handler http.Handler
}

// healthOnly serves a worker's probes and nothing else of the API.
func healthOnly(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	for _, path := range []string{"GET /healthz", "GET /readyz", "GET /metrics"} {
		mux.Handle(path, h)
	}
	return mux
}

// serverConfig turns the declared options into the server's Config.
func serverConfig(s *settings) (server.Config, error) {
	maxBody, err := s.Int64("max-body-bytes")
	if err != nil {
		return server.Config{}, err
	}
	cfg := server.Config{
		DatabaseURL:  s.String("database-url"),
		DataDir:      s.String("data-dir"),
		MaxBodyBytes: maxBody,
		Azure:        azureblob.Options{ServerIdentityAllow: s.List("server-identity-allow")},
	}
	if err := azureblob.ParseAllowList(cfg.Azure.ServerIdentityAllow); err != nil {
		return server.Config{}, fmt.Errorf("--server-identity-allow: %w", err)
	}
	if cfg.AllowPrivateNetwork, err = s.Bool("allow-private-network"); err != nil {
		return server.Config{}, err
	}
	if s.String("max-concurrent-imports") != "" { // serve only
		n, err := s.Int64("max-concurrent-imports")
		if err != nil {
			return server.Config{}, err
		}
		if n < 1 {
			return server.Config{}, fmt.Errorf("--max-concurrent-imports: %d must be at least 1", n)
		}
		cfg.MaxConcurrentImports = int(n)
	}
	if s.String("media-mode") != "" { // serve only; a worker serves no media
		if cfg.MediaMode, err = media.ParseMode(s.String("media-mode")); err != nil {
			return server.Config{}, fmt.Errorf("--media-mode: %w", err)
		}
	}
	if cfg.DatabaseAzureAuth, err = s.Bool("database-azure-auth"); err != nil {
		return server.Config{}, err
	}
	cfg.DatabaseManagedIdentityClientID = s.String("database-managed-identity-client-id")
	if s.String("database-max-conns") != "" {
		n, err := s.Int64("database-max-conns")
		if err != nil {
			return server.Config{}, err
		}
		cfg.DatabaseMaxConns = int(n)
	}
	if cfg.JobPollOnly, err = s.Bool("job-poll-only"); err != nil {
		return server.Config{}, err
	}
	if cfg.JobRescueAfter, err = s.Duration("job-rescue-after"); err != nil {
		return server.Config{}, err
	}
	if s.String("sync-chunk-files") != "" {
		chunk, err := s.Int64("sync-chunk-files")
		if err != nil {
			return server.Config{}, err
		}
		cfg.SyncChunkFiles = int(chunk)
		if chunk == 0 {
			cfg.SyncChunkFiles = -1 // never; the config's 0 means the database's default
		}
	}
	if cfg.TrustedProxies, err = httpapi.ParseTrustedProxies(s.List("trusted-proxies")); err != nil {
		return server.Config{}, fmt.Errorf("--trusted-proxies: %w", err)
	}
	cfg.PublicURL = strings.TrimRight(s.String("public-url"), "/")
	if cfg.PublicURL != "" && !strings.HasPrefix(cfg.PublicURL, "http://") && !strings.HasPrefix(cfg.PublicURL, "https://") {
		return server.Config{}, fmt.Errorf("--public-url: %q must start with http:// or https://", cfg.PublicURL)
	}
	if k := s.String("secret-key"); k != "" {
		if cfg.SecretKey, err = seal.DecodeKey(k); err != nil {
			return server.Config{}, fmt.Errorf("--secret-key: %w", err)
		}
	}
	for i, k := range s.List("secret-key-previous") {
		key, err := seal.DecodeKey(k)
		if err != nil {
			return server.Config{}, fmt.Errorf("--secret-key-previous (entry %d): %w", i+1, err)
		}
		cfg.PreviousSecretKeys = append(cfg.PreviousSecretKeys, key)
	}
	return cfg, nil
}

// List returns a comma-separated option as its non-empty, trimmed entries.
func (s *settings) List(name string) []string {
	var out []string
	for _, v := range strings.Split(s.values[name], ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
