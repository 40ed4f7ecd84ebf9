package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/httpapi"
	"github.com/blobmark/blobmark/seal"
	"github.com/blobmark/blobmark/sqlstore"
)

// testEnv is a running API over a real SQLite store in a temporary
// directory, with one user and its token.
type testEnv struct {
	t     *testing.T
	db    *sqlstore.DB
	srv   *httptest.Server
	api   *httpapi.Server
	user  *blobmark.User
	token string
	logs  *syncBuffer
}

// syncBuffer is a log sink safe for the server's concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// testKey is the server key of the test store.
var testKey = bytes.Repeat([]byte{4}, seal.KeySize)

// newTestEnv starts a server; configure may adjust it before it serves.
func newTestEnv(t *testing.T, configure ...func(*httpapi.Server)) *testEnv {
	t.Helper()
	ctx := context.Background()
	box, err := seal.New(testKey)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlstore.Open(ctx, sqlstore.Config{DataDir: t.TempDir(), Secrets: box})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	user, token, err := db.CreateUser(ctx, "alice@example.com", "correct horse battery staple")
	if err != nil {
		t.Fatalf("create user: %v", err)
	}
	logs := &syncBuffer{}
	api := &httpapi.Server{
		Users:       db,
		Projects:    db,
		Tasks:       db,
		Annotations: db,
		Tokens:      db,
		Ready:       db.Ping,

		Organizations: db,
		Members:       db,
		Invites:       db,
		Logger:        slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, f := range configure {
		f(api)
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return &testEnv{t: t, db: db, srv: srv, api: api, user: user, token: token, logs: logs}
}

// response is an answer with its decoded JSON body.
type response struct {
	status int
	header http.Header
	raw    []byte
}

// json decodes the body into v, failing the test when it is not JSON.
func (r *response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.raw, v); err != nil {
		t.Fatalf("status %d body %q is not the expected JSON: %v", r.status, r.raw, err)
	}
}

// envelope is Label Studio's error body.
type envelope struct {
	ID               string              `json:"id"`
	StatusCode       int                 `json:"status_code"`
	Version          string              `json:"version"`
	Detail           string              `json:"detail"`
	ExcInfo          *string             `json:"exc_info"`
	ValidationErrors map[string][]string `json:"validation_errors"`
}

func (r *response) envelope(t *testing.T) envelope {
	t.Helper()
	var e envelope
	r.json(t, &e)
	if e.StatusCode != r.status || e.ID == "" {
		t.Errorf("error envelope %s: status_code %d / id %q do not match the answer %d", r.raw, e.StatusCode, e.ID, r.status)
	}
	return e
}

// text is the whole error body, for "does it name the problem" checks.
func (r *response) text() string { return string(r.raw) }

// request sends a request with the test user's token. body may be nil, a
// string or []byte (sent verbatim), an io.Reader (sent without a length), or
// any value (sent as JSON).
func (e *testEnv) request(method, path string, body any) *response {
	e.t.Helper()
	return e.requestWith(method, path, body, http.Header{"Authorization": {"Token " + e.token}})
}

func (e *testEnv) requestWith(method, path string, body any, header http.Header) *response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader:
		rd = io.NopCloser(b) // hides the length: sent chunked
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return &response{status: res.StatusCode, header: res.Header, raw: raw}
}

// must sends a request and fails the test unless the status is want.
func (e *testEnv) must(want int, method, path string, body any) *response {
	e.t.Helper()
	r := e.request(method, path, body)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, want, r.raw)
	}
	return r
}
