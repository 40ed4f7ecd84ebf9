package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
)

//go:embed static
var embedded embed.FS

// LSFVersion is the version of the embedded Label Studio Frontend bundle,
// which is also its directory under /static/vendor/lsf/.
const LSFVersion = "1.4.0"

// lsfDir is where build.sh puts the editor bundle inside static/.
const lsfDir = "vendor/lsf/" + LSFVersion

// EditorBundled reports whether the Label Studio Frontend bundle was
// embedded when the binary was built.
func EditorBundled() bool {
	for _, f := range []string{"main.js", "main.css"} {
		if _, err := fs.Stat(embedded, "static/"+lsfDir+"/"+f); err != nil {
			return false
		}
	}
	return true
}

// pages maps the UI's URL patterns to their HTML files.
var pages = map[string]string{
	"GET /user/login/{$}":           "login.html",
	"GET /projects/{$}":             "projects.html",
	"GET /projects/{id}/data":       "tasks.html",
	"GET /projects/{id}/settings":   "settings.html",
	"GET /projects/{id}/storage":    "storage.html",
	"GET /projects/{id}/label":      "label.html",
	"GET /organization/members/{$}": "members.html",
	"GET /user/signup/{$}":          "signup.html",
	"GET /user/account/{$}":         "account.html",
}

// contentSecurityPolicy allows scripts and styles from our origin only
// (the editor injects style attributes, hence 'unsafe-inline' for styles),
// and media from anywhere, because task images load from the storage
// endpoint through presigned URLs.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data: blob: https: http:; media-src 'self' data: blob: https: http:; " +
	"connect-src 'self' https: http:; font-src 'self' data:; object-src 'none'; " +
	"frame-ancestors 'none'; base-uri 'self'; form-action 'self'"

var (
	handlerOnce sync.Once
	handler     http.Handler
)

// Handler returns the handler of every UI path: "/" (the landing page),
// the pages listed in pages, and /static/ assets.
func Handler() http.Handler {
	handlerOnce.Do(func() {
		static, _ := fs.Sub(embedded, "static")
		a := &assets{fs: static, cache: map[string]*asset{}}
		mux := http.NewServeMux()
		// "/" is where people land: the project list's page decides, by role,
		// whether to stay there or to open the one project's label stream.
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { a.serve(w, r, "projects.html") })
		for pattern, file := range pages {
			mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { a.serve(w, r, file) })
		}
		mux.HandleFunc("GET /static/{file...}", func(w http.ResponseWriter, r *http.Request) {
			a.serve(w, r, r.PathValue("file"))
		})
		handler = mux
	})
	return handler
}

// asset is one file ready to serve: its bytes, their gzip form when that is
// smaller, and a strong ETag.
type asset struct {
	body, gz    []byte
	etag, ctype string
}

// assets serves the embedded files, each read and compressed once.
type assets struct {
	fs    fs.FS
	mu    sync.Mutex
	cache map[string]*asset
}

func (a *assets) load(name string) (*asset, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if as, ok := a.cache[name]; ok {
		return as, nil
	}
	body, err := fs.ReadFile(a.fs, name)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	as := &asset{body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`,
		ctype: mime.TypeByExtension(path.Ext(name))}
	if as.ctype == "" {
		as.ctype = http.DetectContentType(body)
	}
	if compressible(as.ctype) && len(body) > 1024 {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(body)
		_ = zw.Close()
		if buf.Len() < len(body) {
			as.gz = buf.Bytes()
		}
	}
	a.cache[name] = as
	return as, nil
}

func compressible(ctype string) bool {
	return strings.HasPrefix(ctype, "text/") || strings.Contains(ctype, "javascript") ||
		strings.Contains(ctype, "json") || strings.Contains(ctype, "svg")
}

func (a *assets) serve(w http.ResponseWriter, r *http.Request, name string) {
	if name == "" || strings.HasSuffix(name, "/") {
		notFound(w)
		return
	}
	as, err := a.load(name)
	if err != nil {
		notFound(w)
		return
	}
	h := w.Header()
	h.Set("Content-Type", as.ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Vary", "Accept-Encoding")
	h.Set("ETag", as.etag)
	if strings.HasPrefix(name, "vendor/") {
		// The path names the bundle's version, so it never changes.
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	if strings.HasSuffix(name, ".html") {
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, as.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := as.body
	if as.gz != nil && acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		body = as.gz
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.TrimSpace(q) != "q=0" {
			return true
		}
	}
	return false
}

func notFound(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte(`{"status_code":404,"detail":"Not found."}` + "\n"))
}
