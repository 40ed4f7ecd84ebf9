package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/httpapi"
	"github.com/blobmark/blobmark/internal/azuretest"
	"github.com/blobmark/blobmark/media"
)

// mediaEnv is the API with a media resolver over Azurite and the real
// SQLite store, one project and a blob client to seed containers.
type mediaEnv struct {
	*testEnv
	az      *azuretest.Env
	blobs   *azblob.Client
	project int64
	// noRedirect sends requests without following redirects.
	noRedirect *http.Client
}

func newMediaEnv(t *testing.T, configure ...func(*httpapi.Server)) *mediaEnv {
	t.Helper()
	az := azuretest.Start(t)
	res := &azureblob.MediaResolver{Connector: azureblob.NewConnector(az.Options()), CacheTTL: -1}
	e := newTestEnv(t, append([]func(*httpapi.Server){func(s *httpapi.Server) { s.Media = res }}, configure...)...)
	res.Storages, res.Tasks = e.db, e.db
	key, err := azblob.NewSharedKeyCredential(azuretest.AccountName, azuretest.AccountKey)
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := azblob.NewClientWithSharedKeyCredential(az.BlobEndpoint, key,
		&azblob.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: az.HTTPClient}})
	if err != nil {
		t.Fatal(err)
	}
	me := &mediaEnv{testEnv: e, az: az, blobs: blobs, noRedirect: &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	var p struct{ ID int64 }
	e.must(201, "POST", "/api/projects/", map[string]any{"title": "media", "label_config": `<View><Image name="image" value="$image"/></View>`}).json(t, &p)
	me.project = p.ID
	return me
}

// connectionOf splits a connector Config into a storage's connection and
// secret fields, as the storage API stores them.
func connectionOf(t *testing.T, cfg azureblob.Config) (conn blobmark.Connection, secrets blobmark.Secrets) {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]string{}
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	conn, secrets = blobmark.Connection{}, blobmark.Secrets{}
	for k, v := range all {
		secret := false
		for _, s := range blobmark.SecretConnectionFields {
			secret = secret || s == k
		}
		if secret {
			secrets[k] = blobmark.Secret(v)
		} else {
			conn[k] = v
		}
	}
	return conn, secrets
}

// addStorage stores a source storage of the project over container.
func (e *mediaEnv) addStorage(cfg azureblob.Config, container, prefix string, presign bool, project ...int64) int64 {
	e.t.Helper()
	conn, secrets := connectionOf(e.t, cfg)
	st := &blobmark.SourceStorage{ProjectID: e.project, Type: blobmark.StorageTypeAzure, Title: "media", Container: container,
		Prefix: prefix, Presign: presign, PresignTTL: 15, Connection: conn, Secrets: secrets}
	if len(project) > 0 {
		st.ProjectID = project[0]
	}
	if err := e.db.CreateSourceStorage(context.Background(), st); err != nil {
		e.t.Fatalf("create storage: %v", err)
	}
	return st.ID
}

// upload writes a blob and returns its bytes.
func (e *mediaEnv) upload(container, key string, body []byte, contentType string) []byte {
	e.t.Helper()
	var o *blockblob.UploadBufferOptions
	if contentType != "" {
		o = &blockblob.UploadBufferOptions{HTTPHeaders: &blob.HTTPHeaders{BlobContentType: to.Ptr(contentType)}}
	}
	if _, err := e.blobs.UploadBuffer(context.Background(), container, key, body, o); err != nil {
		e.t.Fatalf("upload %s: %v", key, err)
	}
	return body
}

// task imports one task with data and returns its id.
func (e *mediaEnv) task(data string) int64 {
	e.t.Helper()
	res, err := e.db.ImportTasks(context.Background(), e.project, []*blobmark.TaskImport{{Data: json.RawMessage(data)}})
	if err != nil {
		e.t.Fatalf("import: %v", err)
	}
	return res.TaskIDs[0]
}

// get sends a GET (or another method) with the given token and headers,
// without following redirects, and reads the whole answer.
func (e *mediaEnv) get(method, path, token string, header http.Header) *response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if token != "" {
		req.Header.Set("Authorization", "Token "+token)
	}
	res, err := e.noRedirect.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return &response{status: res.StatusCode, header: res.Header, raw: raw}
}

// upstream returns how many requests Azurite received while fn ran.
func (e *mediaEnv) upstream(fn func()) int64 {
	before := e.az.Count("blob")
	fn()
	return e.az.Count("blob") - before
}

func resolvePath(taskID int64, uri string) string {
	return fmt.Sprintf("/tasks/%d/resolve/?fileuri=%s", taskID, media.EncodeFileURI(uri))
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// taskData GETs a task and returns its data object.
func (e *mediaEnv) taskData(path string) map[string]any {
	e.t.Helper()
	var tk struct{ Data map[string]any }
	e.must(200, "GET", path, nil).json(e.t, &tk)
	return tk.Data
}

func TestMediaRewriteOnRead(t *testing.T) {
	e := newMediaEnv(t)
	c := e.az.NewContainer(t)
	e.addStorage(e.az.AccountKeyConfig(), c, "", true)
	blobURL := e.az.BlobEndpoint + c + "/img/a%20b.png"
	otherAccount := "https://someoneelse.blob.core.windows.net/" + c + "/img/a.png"
	data := fmt.Sprintf(`{"image":"azure-blob://%s/img/a.png","list":["azure-blob://%s/x.png",{"deep":"azure-blob://%s/y.png"}],`+
		`"html":"<img src=\"azure-blob://%s/z.png\"> and <img src='%s'>","url":%q,"other":%q,"n":1}`, c, c, c, c, blobURL, blobURL, otherAccount)
	id := e.task(data)

	got := e.taskData(fmt.Sprintf("/api/tasks/%d/", id))
	want := func(uri string) string { return media.ResolveURL("", id, uri) }
	checks := map[string]string{
		"image": want("azure-blob://" + c + "/img/a.png"),
		"url":   want(blobURL),
		"other": otherAccount, // no storage of the project covers that account
	}
	for k, v := range checks {
		if got[k] != v {
			t.Errorf("data.%s = %v, want %v", k, got[k], v)
		}
	}
	list := got["list"].([]any)
	if list[0] != want("azure-blob://"+c+"/x.png") || list[1].(map[string]any)["deep"] != want("azure-blob://"+c+"/y.png") {
		t.Errorf("nested values not rewritten: %v", list)
	}
	html := got["html"].(string)
	if !strings.Contains(html, `src="`+want("azure-blob://"+c+"/z.png")+`"`) || !strings.Contains(html, `src='`+want(blobURL)+`'`) {
		t.Errorf("quoted URIs in HTML not rewritten: %s", html)
	}
	if got["n"] != float64(1) {
		t.Errorf("other values changed: %v", got["n"])
	}

	// The task list rewrites too; resolve_uri=false keeps the stored data.
	var list1 struct {
		Tasks []struct{ Data map[string]any }
	}
	e.must(200, "GET", fmt.Sprintf("/api/tasks/?project=%d", e.project), nil).json(t, &list1)
	if len(list1.Tasks) != 1 || list1.Tasks[0].Data["image"] != checks["image"] {
		t.Errorf("task list data: %v", list1.Tasks)
	}
	raw := e.taskData(fmt.Sprintf("/api/tasks/%d/?resolve_uri=false", id))
	if raw["image"] != "azure-blob://"+c+"/img/a.png" || raw["url"] != blobURL {
		t.Errorf("resolve_uri=false rewrote data: %v", raw)
	}
	e.must(200, "GET", fmt.Sprintf("/api/tasks/?project=%d&resolve_uri=false", e.project), nil).json(t, &list1)
	if list1.Tasks[0].Data["image"] != "azure-blob://"+c+"/img/a.png" {
		t.Errorf("task list with resolve_uri=false: %v", list1.Tasks[0].Data)
	}
}

func TestMediaRewritePublicURL(t *testing.T) {
	e := newMediaEnv(t, func(s *httpapi.Server) { s.PublicURL = "https://label.example.com/" })
	id := e.task(`{"image":"azure-blob://any/k.png"}`)
	got := e.taskData(fmt.Sprintf("/api/tasks/%d/", id))
	want := "https://label.example.com/tasks/" + fmt.Sprint(id) + "/resolve/?fileuri=" + base64.URLEncoding.EncodeToString([]byte("azure-blob://any/k.png"))
	if got["image"] != want {
		t.Errorf("image = %v, want %v", got["image"], want)
	}
}

// checkSASWorks fetches a redirect target with a plain GET and no
// credential, and compares the bytes.
func (e *mediaEnv) checkSASWorks(r *response, want []byte) string {
	e.t.Helper()
	if r.status != http.StatusSeeOther {
		e.t.Fatalf("status %d, want 303; body %s", r.status, r.raw)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store, max-age=900" {
		e.t.Errorf("Cache-Control %q, want no-store, max-age=900", cc)
	}
	loc := r.header.Get("Location")
	u, err := url.Parse(loc)
	if err != nil || u.Query().Get("sp") != "r" || u.Query().Get("sr") != "b" {
		e.t.Errorf("Location %q is not a read-only single-blob SAS", loc)
	}
	res, err := e.az.HTTPClient.Get(loc)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	got, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !bytes.Equal(got, want) {
		e.t.Errorf("GET SAS URL: %d, %d bytes (want 200, %d bytes identical)", res.StatusCode, len(got), len(want))
	}
	return loc
}

func TestMediaPresignRedirect(t *testing.T) {
	e := newMediaEnv(t)
	for name, cfg := range map[string]azureblob.Config{
		"service SAS (account key)":   e.az.AccountKeyConfig(),
		"user delegation SAS (Entra)": e.az.ServicePrincipalConfig(),
		"user delegation SAS (MI)":    e.az.ManagedIdentityConfig("client_id"),
		"service SAS (conn. string)":  e.az.ConnectionStringConfig(),
	} {
		t.Run(name, func(t *testing.T) {
			c := e.az.NewContainer(t)
			e.addStorage(cfg, c, "", true)
			names := []string{"plain.png", "with space.png", "hash#tag.png", "what?.png", "100%.png", "ünï/cødé 画像.png"}
			for _, k := range names {
				body := e.upload(c, k, randomBytes(t, 2048), "image/png")
				uri := "azure-blob://" + c + "/" + k
				id := e.task(fmt.Sprintf(`{"image":%q}`, uri))
				loc := e.checkSASWorks(e.get("GET", resolvePath(id, uri), e.token, nil), body)
				// A user delegation SAS names the signing key's object id.
				if u, _ := url.Parse(loc); u.Query().Has("skoid") != strings.HasPrefix(name, "user delegation") {
					t.Errorf("%s: SAS %q is not of that kind", name, loc)
				}
			}
		})
	}
	if e.az.Count("udk") == 0 {
		t.Error("no user delegation key was requested")
	}
}

func TestMediaProxyStreams(t *testing.T) {
	e := newMediaEnv(t)
	c := e.az.NewContainer(t)
	e.addStorage(e.az.AccountKeyConfig(), c, "", false)
	const size = 300 << 10
	body := e.upload(c, "video/clip.mp4", randomBytes(t, size), "video/mp4")
	uri := "azure-blob://" + c + "/video/clip.mp4"
	id := e.task(fmt.Sprintf(`{"video":%q}`, uri))
	path := resolvePath(id, uri)

	var full *response
	if n := e.upstream(func() { full = e.get("GET", path, e.token, nil) }); n != 1 {
		t.Errorf("full read: %d requests to the storage, want 1", n)
	}
	if full.status != 200 || !bytes.Equal(full.raw, body) {
		t.Fatalf("full read: %d, %d bytes; want 200 and the blob's %d bytes", full.status, len(full.raw), size)
	}
	for k, want := range map[string]string{"Content-Type": "video/mp4", "Accept-Ranges": "bytes", "X-Content-Type-Options": "nosniff",
		"Content-Length": fmt.Sprint(size), "Content-Security-Policy": media.ContentSecurityPolicy} {
		if got := full.header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if cd := full.header.Get("Content-Disposition"); !strings.HasPrefix(cd, `inline; filename="clip.mp4"`) {
		t.Errorf("Content-Disposition %q", cd)
	}
	etag, lastMod := full.header.Get("ETag"), full.header.Get("Last-Modified")
	if etag == "" || lastMod == "" {
		t.Fatalf("no validators: ETag %q Last-Modified %q", etag, lastMod)
	}

	// Every GET costs exactly one request to the storage, whatever the
	// Range: a suffix or ranges with gaps download the whole blob and cut
	// the answer out, a stale If-Range too, and a range past the end is
	// answered from Azure's 416, which says the size.
	for _, tc := range []struct {
		name, rng string
		ifRange   string
		status    int
		from, to  int // inclusive; -1: no body check
		cr        string
	}{
		{"first byte", "bytes=0-0", "", 206, 0, 0, fmt.Sprintf("bytes 0-0/%d", size)},
		{"last byte", fmt.Sprintf("bytes=%d-%d", size-1, size-1), "", 206, size - 1, size - 1, fmt.Sprintf("bytes %d-%d/%d", size-1, size-1, size)},
		{"middle", "bytes=1000-1999", "", 206, 1000, 1999, fmt.Sprintf("bytes 1000-1999/%d", size)},
		{"open-ended", "bytes=200000-", "", 206, 200000, size - 1, fmt.Sprintf("bytes 200000-%d/%d", size-1, size)},
		{"suffix", "bytes=-500", "", 206, size - 500, size - 1, fmt.Sprintf("bytes %d-%d/%d", size-500, size-1, size)},
		{"end beyond size", fmt.Sprintf("bytes=%d-%d", size-10, size+1000), "", 206, size - 10, size - 1, fmt.Sprintf("bytes %d-%d/%d", size-10, size-1, size)},
		{"beyond end", fmt.Sprintf("bytes=%d-", size), "", 416, -1, -1, fmt.Sprintf("bytes */%d", size)},
		{"far beyond end", fmt.Sprintf("bytes=%d-%d", size+100, size+200), "", 416, -1, -1, fmt.Sprintf("bytes */%d", size)},
		{"multi-range", "bytes=0-9,100-109", "", 200, 0, size - 1, ""},
		{"multi-range touching", "bytes=0-9,10-19", "", 206, 0, 19, fmt.Sprintf("bytes 0-19/%d", size)},
		{"multi-range overlapping", "bytes=0-10,5-20", "", 206, 0, 20, fmt.Sprintf("bytes 0-20/%d", size)},
		{"multi-range, one past the end", fmt.Sprintf("bytes=%d-,100-199", size+5), "", 206, 100, 199, fmt.Sprintf("bytes 100-199/%d", size)},
		{"multi-range with a suffix", "bytes=-100,1000-1099", "", 200, 0, size - 1, ""},
		{"If-Range stale", "bytes=1000-1009", `"stale"`, 200, 0, size - 1, ""},
		{"If-Range current", "bytes=1000-1009", etag, 206, 1000, 1009, fmt.Sprintf("bytes 1000-1009/%d", size)},
		{"If-Range date", "bytes=1000-1009", lastMod, 206, 1000, 1009, fmt.Sprintf("bytes 1000-1009/%d", size)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := http.Header{"Range": {tc.rng}}
			if tc.ifRange != "" {
				hdr.Set("If-Range", tc.ifRange)
			}
			var r *response
			if n := e.upstream(func() { r = e.get("GET", path, e.token, hdr) }); n != 1 {
				t.Errorf("%d requests to the storage, want 1", n)
			}
			if r.status != tc.status {
				t.Fatalf("status %d, want %d", r.status, tc.status)
			}
			if got := r.header.Get("Content-Range"); got != tc.cr {
				t.Errorf("Content-Range %q, want %q", got, tc.cr)
			}
			if tc.from >= 0 {
				if !bytes.Equal(r.raw, body[tc.from:tc.to+1]) {
					t.Errorf("body: %d bytes differing from blob[%d:%d]", len(r.raw), tc.from, tc.to+1)
				}
				if cl := r.header.Get("Content-Length"); cl != fmt.Sprint(tc.to+1-tc.from) {
					t.Errorf("Content-Length %q, want %d", cl, tc.to+1-tc.from)
				}
				if r.header.Get("ETag") != etag || r.header.Get("Last-Modified") != lastMod {
					t.Errorf("validators %q %q, want %q %q", r.header.Get("ETag"), r.header.Get("Last-Modified"), etag, lastMod)
				}
			}
		})
	}

	var cached *response
	if n := e.upstream(func() { cached = e.get("GET", path, e.token, http.Header{"If-None-Match": {etag}}) }); n != 1 {
		t.Errorf("If-None-Match: %d requests to the storage, want 1", n)
	}
	if r := cached; r.status != 304 || len(r.raw) != 0 {
		t.Errorf("If-None-Match with the ETag: %d, %d bytes; want 304 empty", r.status, len(r.raw))
	}
	if r := e.get("GET", path, e.token, http.Header{"If-Modified-Since": {lastMod}}); r.status != 304 {
		t.Errorf("If-Modified-Since Last-Modified: %d, want 304", r.status)
	}
	if r := e.get("GET", path, e.token, http.Header{"If-None-Match": {`"other"`}}); r.status != 200 || len(r.raw) != size {
		t.Errorf("If-None-Match another ETag: %d, want 200 full", r.status)
	}
	var head *response
	if n := e.upstream(func() { head = e.get("HEAD", path, e.token, nil) }); n != 1 {
		t.Errorf("HEAD: %d requests to the storage, want 1", n)
	}
	if head.status != 200 || len(head.raw) != 0 || head.header.Get("Content-Length") != fmt.Sprint(size) || head.header.Get("ETag") != etag {
		t.Errorf("HEAD: %d, %d bytes, headers %v", head.status, len(head.raw), head.header)
	}

	// An empty blob has no range to send: 200 and no body, whatever the
	// Range.
	empty := "azure-blob://" + c + "/empty.txt"
	e.upload(c, "empty.txt", nil, "text/plain")
	eid := e.task(fmt.Sprintf(`{"text":%q}`, empty))
	for _, rng := range []string{"", "bytes=0-", "bytes=0-0", "bytes=5-9", "bytes=-5", "bytes=0-0,2-3"} {
		var r *response
		if n := e.upstream(func() { r = e.get("GET", resolvePath(eid, empty), e.token, http.Header{"Range": {rng}}) }); n != 1 {
			t.Errorf("empty blob, Range %q: %d requests to the storage, want 1", rng, n)
		}
		if r.status != 200 || len(r.raw) != 0 || r.header.Get("Content-Length") != "0" || r.header.Get("Content-Range") != "" {
			t.Errorf("empty blob, Range %q: %d, %d bytes, headers %v", rng, r.status, len(r.raw), r.header)
		}
	}

	// Awkward blob names stream too.
	for _, k := range []string{"with space.png", "hash#tag.png", "what?.png", "100%.png", "ünï/cødé 画像.png"} {
		b := e.upload(c, k, randomBytes(t, 4096), "image/png")
		u := "azure-blob://" + c + "/" + k
		tid := e.task(fmt.Sprintf(`{"image":%q}`, u))
		if r := e.get("GET", resolvePath(tid, u), e.token, nil); r.status != 200 || !bytes.Equal(r.raw, b) {
			t.Errorf("%q: status %d, %d bytes", k, r.status, len(r.raw))
		}
	}
	// A URI in the data whose blob is gone: 404.
	gone := "azure-blob://" + c + "/gone.png"
	if r := e.get("GET", resolvePath(e.task(fmt.Sprintf(`{"image":%q}`, gone)), gone), e.token, nil); r.status != 404 {
		t.Errorf("missing blob: %d, want 404", r.status)
	}
}

func TestMediaFileURIForms(t *testing.T) {
	e := newMediaEnv(t)
	c := e.az.NewContainer(t)
	e.addStorage(e.az.AccountKeyConfig(), c, "", false)
	body := e.upload(c, "a b/ä.png", randomBytes(t, 100), "image/png")
	uri := "azure-blob://" + c + "/a b/ä.png"
	id := e.task(fmt.Sprintf(`{"image":%q}`, uri))
	for name, param := range map[string]string{
		"padded base64url":   url.QueryEscape(base64.URLEncoding.EncodeToString([]byte(uri))),
		"unpadded base64url": base64.RawURLEncoding.EncodeToString([]byte(uri)),
		"legacy quoted":      url.QueryEscape(url.PathEscape(uri)),
		"legacy raw":         url.QueryEscape(uri),
	} {
		if r := e.get("GET", fmt.Sprintf("/tasks/%d/resolve/?fileuri=%s", id, param), e.token, nil); r.status != 200 || !bytes.Equal(r.raw, body) {
			t.Errorf("%s: status %d", name, r.status)
		}
	}
	if r := e.get("GET", fmt.Sprintf("/tasks/%d/resolve/", id), e.token, nil); r.status != 400 {
		t.Errorf("no fileuri: %d, want 400", r.status)
	}
	// The session cookie the web UI holds is enough; no credential is not.
	session, _ := e.signIn()
	if r := e.get("GET", resolvePath(id, uri), "", cookieHeader(session)); r.status != 200 {
		t.Errorf("with the session cookie: %d, want 200", r.status)
	}
	if r := e.get("GET", resolvePath(id, uri), "", nil); r.status != 401 {
		t.Errorf("anonymous: %d, want 401", r.status)
	}
}

func TestMediaModes(t *testing.T) {
	t.Run("proxy forced", func(t *testing.T) {
		e := newMediaEnv(t, func(s *httpapi.Server) { s.MediaMode = media.ModeProxy })
		c := e.az.NewContainer(t)
		e.addStorage(e.az.AccountKeyConfig(), c, "", true)
		body := e.upload(c, "k.png", randomBytes(t, 1000), "image/png")
		uri := "azure-blob://" + c + "/k.png"
		if r := e.get("GET", resolvePath(e.task(fmt.Sprintf(`{"i":%q}`, uri)), uri), e.token, nil); r.status != 200 || !bytes.Equal(r.raw, body) {
			t.Errorf("presign storage in proxy mode: %d, want 200 with the bytes", r.status)
		}
	})
	t.Run("SAS token storage streams", func(t *testing.T) {
		e := newMediaEnv(t)
		c := e.az.NewContainer(t)
		e.addStorage(e.az.SASTokenConfig(t, c), c, "", true)
		body := e.upload(c, "k.png", randomBytes(t, 1000), "image/png")
		uri := "azure-blob://" + c + "/k.png"
		if r := e.get("GET", resolvePath(e.task(fmt.Sprintf(`{"i":%q}`, uri)), uri), e.token, nil); r.status != 200 || !bytes.Equal(r.raw, body) {
			t.Errorf("presign=true storage that cannot sign: %d, want 200 streamed", r.status)
		}
	})
	t.Run("presign-only", func(t *testing.T) {
		e := newMediaEnv(t, func(s *httpapi.Server) { s.MediaMode = media.ModePresignOnly })
		c := e.az.NewContainer(t)
		e.addStorage(e.az.SASTokenConfig(t, c), c, "", false)
		e.upload(c, "k.png", randomBytes(t, 10), "image/png")
		uri := "azure-blob://" + c + "/k.png"
		if r := e.get("GET", resolvePath(e.task(fmt.Sprintf(`{"i":%q}`, uri)), uri), e.token, nil); r.status != 501 {
			t.Errorf("presign-only with a storage that cannot sign: %d, want 501", r.status)
		}
		c2 := e.az.NewContainer(t)
		e.addStorage(e.az.AccountKeyConfig(), c2, "", false)
		body := e.upload(c2, "k.png", randomBytes(t, 10), "image/png")
		uri2 := "azure-blob://" + c2 + "/k.png"
		e.checkSASWorks(e.get("GET", resolvePath(e.task(fmt.Sprintf(`{"i":%q}`, uri2)), uri2), e.token, nil), body)
	})
}

func TestMediaProjectResolve(t *testing.T) {
	e := newMediaEnv(t)
	c := e.az.NewContainer(t)
	e.addStorage(e.az.AccountKeyConfig(), c, "data", false)
	in := e.upload(c, "data/x.png", randomBytes(t, 64), "image/png")
	e.upload(c, "data2/y.png", randomBytes(t, 64), "image/png")
	p := func(uri string) string {
		return fmt.Sprintf("/projects/%d/resolve/?fileuri=%s", e.project, media.EncodeFileURI(uri))
	}
	if r := e.get("GET", p("azure-blob://"+c+"/data/x.png"), e.token, nil); r.status != 200 || !bytes.Equal(r.raw, in) {
		t.Errorf("blob under the prefix: %d", r.status)
	}
	if r := e.get("GET", p(e.az.BlobEndpoint+c+"/data/x.png"), e.token, nil); r.status != 200 || !bytes.Equal(r.raw, in) {
		t.Errorf("blob URL under the prefix: %d", r.status)
	}
	for _, u := range []string{"azure-blob://" + c + "/data2/y.png", "azure-blob://" + c + "/data/../data2/y.png"} {
		if r := e.get("GET", p(u), e.token, nil); r.status != 404 {
			t.Errorf("%s: %d, want 404", u, r.status)
		}
	}
}

func TestMediaSecurity(t *testing.T) {
	// The store's rule, as server.Open wires it: the project belongs to the
	// default organization, the outsider to another one.
	e := newMediaEnv(t)
	e.api.ProjectAccess = e.db // read per request
	_, outsiderToken, err := e.db.CreateUserInOrganization(context.Background(), "mallory@example.com", "a long enough password", "elsewhere")
	if err != nil {
		t.Fatal(err)
	}

	c := e.az.NewContainer(t)
	e.addStorage(e.az.AccountKeyConfig(), c, "", false)
	e.upload(c, "shown.png", randomBytes(t, 10), "image/png")
	e.upload(c, "secret.png", randomBytes(t, 10), "image/png")
	shown := "azure-blob://" + c + "/shown.png"
	id := e.task(fmt.Sprintf(`{"image":%q}`, shown))

	// A user without access to the project: 403, for the task, its media and the project's.
	for _, path := range []string{resolvePath(id, shown), fmt.Sprintf("/projects/%d/resolve/?fileuri=%s", e.project, media.EncodeFileURI(shown)),
		fmt.Sprintf("/api/tasks/%d/", id), fmt.Sprintf("/api/tasks/?project=%d", e.project)} {
		if r := e.get("GET", path, outsiderToken, nil); r.status != 403 || strings.Contains(r.text(), c) {
			t.Errorf("outsider GET %s: %d %s, want 403 revealing nothing", path, r.status, r.raw)
		}
	}
	if r := e.get("GET", resolvePath(id, shown), e.token, nil); r.status != 200 {
		t.Fatalf("member: %d, want 200", r.status)
	}

	// A blob of the project's storage that the task does not show: 404.
	if r := e.get("GET", resolvePath(id, "azure-blob://"+c+"/secret.png"), e.token, nil); r.status != 404 {
		t.Errorf("URI not in the task's data: %d, want 404", r.status)
	}

	// Crafted fileuris never make blobmark send a request anywhere, even
	// when the task's data carries them.
	var internalHits atomic.Int64
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { internalHits.Add(1) }))
	t.Cleanup(internal.Close)
	crafted := []string{
		"file:///etc/passwd",
		"gs://" + c + "/shown.png",
		"s3://" + c + "/shown.png",
		"azure-blob://" + c + "/../" + c + "/secret.png",
		"azure-blob://" + c + "/a/../secret.png",
		"azure-blob://" + c + "/./secret.png",
		"azure-blob://othercontainer/shown.png",
		"azure-blob://" + c,
		"https://otheraccount.blob.core.windows.net/" + c + "/shown.png",
		e.az.BlobEndpoint + c + "/shown.png?comp=list",
		e.az.BlobEndpoint + c + "/%2e%2e/secret.png",
		internal.URL + "/" + c + "/shown.png",
		internal.URL + "/devstoreaccount1/" + c + "/shown.png",
		"http://169.254.169.254/metadata/identity/oauth2/token",
		"http://127.0.0.1:10000/devstoreaccount1/" + c + "/shown.png",
	}
	data, _ := json.Marshal(map[string]any{"all": crafted})
	craftedTask := e.task(string(data))
	before := e.az.Count("blob")
	for _, u := range crafted {
		for _, tid := range []int64{id, craftedTask} {
			if r := e.get("GET", resolvePath(tid, u), e.token, nil); r.status != 404 && r.status != 403 {
				t.Errorf("crafted %q (task %d): %d, want 403/404", u, tid, r.status)
			}
		}
		if r := e.get("GET", fmt.Sprintf("/projects/%d/resolve/?fileuri=%s", e.project, media.EncodeFileURI(u)), e.token, nil); r.status != 404 {
			t.Errorf("crafted %q (project): %d, want 404", u, r.status)
		}
		if r := e.get("GET", fmt.Sprintf("/tasks/%d/resolve/?fileuri=%s", craftedTask, url.QueryEscape(u)), e.token, nil); r.status != 404 {
			t.Errorf("crafted %q (legacy form): %d, want 404", u, r.status)
		}
	}
	if n := e.az.Count("blob") - before; n != 0 {
		t.Errorf("crafted fileuris caused %d requests to the blob service", n)
	}
	if n := internalHits.Load(); n != 0 {
		t.Errorf("crafted fileuris caused %d requests to an internal address", n)
	}

	// An SVG streamed from blobmark's origin cannot script it.
	svg := e.upload(c, "evil.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>`), "image/svg+xml")
	su := "azure-blob://" + c + "/evil.svg"
	r := e.get("GET", resolvePath(e.task(fmt.Sprintf(`{"image":%q}`, su)), su), e.token, nil)
	if r.status != 200 || !bytes.Equal(r.raw, svg) {
		t.Fatalf("svg: %d", r.status)
	}
	if r.header.Get("Content-Security-Policy") != media.ContentSecurityPolicy || r.header.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.Contains(r.header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("svg headers: CSP %q nosniff %q", r.header.Get("Content-Security-Policy"), r.header.Get("X-Content-Type-Options"))
	}
}

func TestMediaMatchesAccountAndContainer(t *testing.T) {
	e := newMediaEnv(t)
	c := e.az.NewContainer(t)
	// A second project's storage over the same container does not make its
	// blob URLs resolvable here, and the same container name under another
	// account never matches this one.
	var other struct{ ID int64 }
	e.must(201, "POST", "/api/projects/", map[string]any{"title": "other"}).json(t, &other)
	e.addStorage(e.az.AccountKeyConfig(), c, "", false, other.ID)
	body := e.upload(c, "k.png", randomBytes(t, 10), "image/png")
	blobURL := e.az.BlobEndpoint + c + "/k.png"
	id := e.task(fmt.Sprintf(`{"image":%q}`, blobURL))
	if got := e.taskData(fmt.Sprintf("/api/tasks/%d/", id)); got["image"] != blobURL {
		t.Errorf("blob URL of another project's storage was rewritten: %v", got["image"])
	}
	if r := e.get("GET", resolvePath(id, blobURL), e.token, nil); r.status != 404 {
		t.Errorf("resolving it: %d, want 404", r.status)
	}
	e.addStorage(e.az.AccountKeyConfig(), c, "", false)
	if got := e.taskData(fmt.Sprintf("/api/tasks/%d/", id)); got["image"] != media.ResolveURL("", id, blobURL) {
		t.Errorf("blob URL of this project's storage not rewritten: %v", got["image"])
	}
	if r := e.get("GET", resolvePath(id, blobURL), e.token, nil); r.status != 200 || !bytes.Equal(r.raw, body) {
		t.Errorf("resolving it: %d, want 200", r.status)
	}
}
