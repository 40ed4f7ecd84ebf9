package metrics

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one process's set of blobmark metrics. Build it with New.
type Metrics struct {
	reg *prometheus.Registry

	httpDuration *prometheus.HistogramVec

	syncKeysListed   prometheus.Counter
	syncTasksCreated prometheus.Counter
	syncFilesFailed  prometheus.Counter
	syncFailures     prometheus.Counter

	exportSuccesses *prometheus.CounterVec
	exportFailures  *prometheus.CounterVec

	tokenFetches         prometheus.Counter
	delegationKeyFetches prometheus.Counter
	proxyBytes           prometheus.Counter
}

// ExportLagFunc returns the age of the oldest annotation change not yet
// exported (0 when none is pending). It runs at scrape time.
type ExportLagFunc func(ctx context.Context) (time.Duration, error)

// New returns the metrics on a fresh registry that also carries the Go
// runtime and process collectors. lag, when not nil, backs the
// blobmark_export_lag_seconds gauge.
func New(lag ExportLagFunc) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg}
	f := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
		reg.MustRegister(c)
		return c
	}
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "blobmark_http_request_duration_seconds",
		Help:    "Time to answer HTTP requests, by route pattern, method and status class.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"route", "method", "status"})
	reg.MustRegister(m.httpDuration)
	m.syncKeysListed = f("blobmark_sync_keys_listed_total", "Blobs listed by import syncs.")
	m.syncTasksCreated = f("blobmark_sync_tasks_created_total", "Tasks created by import syncs.")
	m.syncFilesFailed = f("blobmark_sync_files_failed_total", "Task files import syncs could not import.")
	m.syncFailures = f("blobmark_sync_failures_total", "Import sync job attempts that failed.")
	m.exportSuccesses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "blobmark_export_successes_total", Help: "Export job attempts that succeeded, by kind (annotation, sync or dataset).",
	}, []string{"kind"})
	m.exportFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "blobmark_export_failures_total", Help: "Export job attempts that failed (each failed attempt), by kind (annotation, sync or dataset).",
	}, []string{"kind"})
	reg.MustRegister(m.exportSuccesses, m.exportFailures)
	for _, k := range []string{exportAnnotation, exportSync} {
		m.exportSuccesses.WithLabelValues(k)
		m.exportFailures.WithLabelValues(k)
	}
	m.tokenFetches = f("blobmark_azure_token_fetches_total", "Access tokens requested from Entra ID credentials (storage and database).")
	m.delegationKeyFetches = f("blobmark_azure_delegation_key_fetches_total", "User delegation keys requested from Azure Storage.")
	m.proxyBytes = f("blobmark_media_proxy_bytes_total", "Media bytes streamed through the server's proxy.")
	if lag != nil {
		reg.MustRegister(&lagCollector{fn: lag, desc: prometheus.NewDesc("blobmark_export_lag_seconds",
			"Age of the oldest annotation change not yet written to its target storage (0 when none is pending).", nil, nil)})
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry returns the private registry, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// TokenFetched counts one token request (azureblob.Options.OnTokenFetch).
func (m *Metrics) TokenFetched() { m.tokenFetches.Inc() }

// DelegationKeyFetched counts one user delegation key request
// (azureblob.Options.OnDelegationKeyFetch).
func (m *Metrics) DelegationKeyFetched() { m.delegationKeyFetches.Inc() }

// SyncProgressed adds a sync's new counts since its last report
// (jobs.SyncObserver).
func (m *Metrics) SyncProgressed(keysListed, tasksCreated, filesFailed int64) {
	m.syncKeysListed.Add(float64(max(keysListed, 0)))
	m.syncTasksCreated.Add(float64(max(tasksCreated, 0)))
	m.syncFilesFailed.Add(float64(max(filesFailed, 0)))
}

// lagCollector computes the export lag when scraped. The query gets a
// few seconds; a failure is reported as a missing sample, not as 0, so an
// alert never mistakes an unreachable database for an empty queue.
type lagCollector struct {
	fn   ExportLagFunc
	desc *prometheus.Desc

	mu   sync.Mutex
	last time.Time
	val  float64
	ok   bool
}

// lagCacheFor spares the database when several scrapers ask at once.
const lagCacheFor = 5 * time.Second

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.last) > lagCacheFor {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		d, err := c.fn(ctx)
		cancel()
		c.last, c.val, c.ok = time.Now(), d.Seconds(), err == nil
	}
	if c.ok {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, c.val)
	}
}

// InstrumentHTTP wraps the API handler: it observes each request's duration
// under the route pattern ServeMux matched (never the raw path, so ids do
// not explode the series).
func (m *Metrics) InstrumentHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		m.httpDuration.WithLabelValues(routeLabel(r.Pattern), r.Method, statusClass(rec.status)).Observe(time.Since(start).Seconds())
	})
}

// ServeMetrics answers GET and HEAD /metrics, unauthenticated, from the
// registry, and hands every other request to next; nil next answers them
// 404, for a listener that serves the metrics alone.
func (m *Metrics) ServeMetrics(next http.Handler) http.Handler {
	if next == nil {
		next = http.NotFoundHandler()
	}
	metrics := m.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			metrics.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// routeLabel strips the method from a ServeMux pattern ("GET /api/x/{id}/{$}").
func routeLabel(pattern string) string {
	if _, path, ok := strings.Cut(pattern, " "); ok {
		pattern = path
	}
	if pattern == "" || pattern == "/" {
		return "unmatched"
	}
	return pattern
}

func statusClass(status int) string {
	if status == 0 {
		status = http.StatusOK
	}
	return strconv.Itoa(status/100) + "xx"
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
