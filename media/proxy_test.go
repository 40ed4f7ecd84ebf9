package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
)

// memBlob is an in-memory blobmark.MediaBlob: a test double of blobmark's own seam,
// recording every upstream request made of it.
type memBlob struct {
	props blobmark.MediaBlobInfo
	data  []byte
	// propsErr fails every request for the blob, as a missing blob or an
	// unreachable storage would.
	propsErr error
	// readSize caps each Read (0: no cap), like network reads do.
	readSize int
	// stallAfter makes readers block, after that many bytes, until their
	// context ends (-1: never stall).
	stallAfter int64
	// trickle sleeps before every Read, to outlast a server WriteTimeout.
	trickle time.Duration
	// short drops that many bytes from the end of every body.
	short int

	opens      atomic.Int32
	mu         sync.Mutex
	requests   []string // "props" or "offset,count" per request, in order
	offset     int64
	count      int64
	cancelOnce sync.Once
	cancelled  chan struct{} // closed when a reader saw its context end
	closed     atomic.Bool   // a body was closed
	bodies     atomic.Int32  // bodies handed out
	closes     atomic.Int32  // bodies closed
}

func newMemBlob(data []byte, contentType string) *memBlob {
	return &memBlob{
		props: blobmark.MediaBlobInfo{
			Size:         int64(len(data)),
			ETag:         `"0x8DC0FFEE"`,
			LastModified: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC),
			ContentType:  contentType,
		},
		data:       data,
		stallAfter: -1,
		cancelled:  make(chan struct{}),
	}
}

func (b *memBlob) Properties(ctx context.Context) (blobmark.MediaBlobInfo, error) {
	b.mu.Lock()
	b.requests = append(b.requests, "props")
	b.mu.Unlock()
	return b.props, b.propsErr
}

func (b *memBlob) Open(ctx context.Context, offset, count int64) (blobmark.MediaBlobInfo, io.ReadCloser, error) {
	b.opens.Add(1)
	b.mu.Lock()
	b.offset, b.count = offset, count
	b.requests = append(b.requests, strconv.FormatInt(offset, 10)+","+strconv.FormatInt(count, 10))
	b.mu.Unlock()
	if b.propsErr != nil {
		return blobmark.MediaBlobInfo{}, nil, b.propsErr
	}
	size := int64(len(b.data))
	if offset >= size && (offset > 0 || count >= 0) {
		// As Azure does: a range that starts at or past the end is
		// refused with 416, which tells the size and nothing else.
		b.bodies.Add(1)
		return blobmark.MediaBlobInfo{Size: size}, &memReader{ctx: ctx, b: b}, nil
	}
	offset = min(offset, size)
	end := size
	if count >= 0 {
		end = min(end, offset+count)
	}
	body := b.data[offset:end]
	body = body[:max(0, len(body)-b.short)]
	b.bodies.Add(1)
	return b.props, &memReader{ctx: ctx, b: b, data: body}, nil
}

func (b *memBlob) opened() (offset, count int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.offset, b.count
}

// calls returns the upstream requests made, space-separated.
func (b *memBlob) calls() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.requests, " ")
}

// allClosed reports whether every body handed out was closed.
func (b *memBlob) allClosed() bool { return b.closes.Load() == b.bodies.Load() }

type memReader struct {
	ctx  context.Context
	b    *memBlob
	data []byte
	sent int64
}

func (r *memReader) Read(p []byte) (int, error) {
	if r.b.trickle > 0 {
		time.Sleep(r.b.trickle)
	}
	if r.b.stallAfter >= 0 && r.sent >= r.b.stallAfter {
		<-r.ctx.Done()
	}
	if err := r.ctx.Err(); err != nil {
		r.b.cancelOnce.Do(func() { close(r.b.cancelled) })
		return 0, err
	}
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := len(p)
	if r.b.readSize > 0 {
		n = min(n, r.b.readSize)
	}
	if r.b.stallAfter >= 0 {
		n = min(n, int(r.b.stallAfter-r.sent))
	}
	n = copy(p[:n], r.data)
	r.data = r.data[n:]
	r.sent += int64(n)
	return n, nil
}

func (r *memReader) Close() error {
	r.b.closed.Store(true)
	r.b.closes.Add(1)
	return nil
}

// hundred is a 100-byte blob whose byte i is 'A'+i%26.
func hundred() []byte {
	b := make([]byte, 100)
	for i := range b {
		b[i] = byte('A' + i%26)
	}
	return b
}

func serve(t *testing.T, blob *memBlob, method string, hdr map[string]string, name string, opts ProxyOptions) (*httptest.ResponseRecorder, error) {
	t.Helper()
	r := httptest.NewRequest(method, "/tasks/1/resolve/?fileuri=x", nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	err := ServeBlob(w, r, blob, name, opts)
	return w, err
}

func TestServeBlobRanges(t *testing.T) {
	data := hundred()
	tests := []struct {
		name         string
		rng          string
		status       int
		contentRange string
		body         []byte
		// opens lists the downloads made, "offset,count" each: exactly one
		// per GET, the requested span or the whole blob.
		opens string
	}{
		{"no range", "", 200, "", data, "0,-1"},
		{"first byte", "bytes=0-0", 206, "bytes 0-0/100", data[:1], "0,1"},
		{"last byte", "bytes=99-99", 206, "bytes 99-99/100", data[99:], "99,1"},
		{"middle", "bytes=10-19", 206, "bytes 10-19/100", data[10:20], "10,10"},
		{"open-ended", "bytes=90-", 206, "bytes 90-99/100", data[90:], "90,-1"},
		{"open-ended from zero", "bytes=0-", 206, "bytes 0-99/100", data, "0,-1"},
		{"suffix", "bytes=-10", 206, "bytes 90-99/100", data[90:], "0,-1"},
		{"suffix larger than size", "bytes=-1000", 206, "bytes 0-99/100", data, "0,-1"},
		{"end beyond size is clipped", "bytes=50-1000", 206, "bytes 50-99/100", data[50:], "50,951"},
		{"start at size", "bytes=100-", 416, "bytes */100", nil, "100,-1"},
		{"start beyond size", "bytes=150-200", 416, "bytes */100", nil, "150,51"},
		{"zero-length suffix", "bytes=-0", 416, "bytes */100", nil, "0,-1"},
		{"huge start", "bytes=99999999999999999999999-", 416, "bytes */100", nil, "9223372036854775807,-1"},
		{"unit is case-insensitive", "Bytes=1-2", 206, "bytes 1-2/100", data[1:3], "1,2"},
		{"whitespace around specs", "bytes= 1-2 , ", 206, "bytes 1-2/100", data[1:3], "1,2"},
		{"multi-range disjoint sends everything", "bytes=0-9,20-29", 200, "", data, "0,-1"},
		{"multi-range overlapping coalesces", "bytes=0-9,5-19", 206, "bytes 0-19/100", data[:20], "0,20"},
		{"multi-range adjacent coalesces", "bytes=10-19,0-9", 206, "bytes 0-19/100", data[:20], "0,20"},
		{"multi-range coalescing to the end", "bytes=30-49,40-,45-60", 206, "bytes 30-99/100", data[30:], "30,-1"},
		{"multi-range coalescing past the end", "bytes=100-110,105-120", 416, "bytes */100", nil, "100,21"},
		{"multi-range with one unsatisfiable", "bytes=0-9,500-600", 206, "bytes 0-9/100", data[:10], "0,-1"},
		{"multi-range gap, one unsatisfiable", "bytes=500-600,20-29", 206, "bytes 20-29/100", data[20:30], "0,-1"},
		{"multi-range all unsatisfiable", "bytes=200-300,500-", 416, "bytes */100", nil, "0,-1"},
		{"suffix among ranges", "bytes=0-9,-10", 200, "", data, "0,-1"},
		{"suffix coalescing with a range", "bytes=85-94,-10", 206, "bytes 85-99/100", data[85:], "0,-1"},
		{"invalid: letters", "bytes=abc", 200, "", data, "0,-1"},
		{"invalid: last before first", "bytes=5-1", 200, "", data, "0,-1"},
		{"invalid: other unit", "items=0-1", 200, "", data, "0,-1"},
		{"invalid: empty set", "bytes=", 200, "", data, "0,-1"},
		{"invalid: no dash", "bytes=5", 200, "", data, "0,-1"},
		{"invalid: extra dash", "bytes=1-2-3", 200, "", data, "0,-1"},
		{"invalid: negative suffix", "bytes=--5", 200, "", data, "0,-1"},
		{"invalid: one bad spec spoils all", "bytes=0-1,x-y", 200, "", data, "0,-1"},
		{"too many ranges are ignored", "bytes=" + strings.Repeat("0-0,", maxRangeSpecs+1) + "0-0", 200, "", data, "0,-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blob := newMemBlob(data, "image/png")
			hdr := map[string]string{}
			if tt.rng != "" {
				hdr["Range"] = tt.rng
			}
			w, err := serve(t, blob, http.MethodGet, hdr, "a.png", ProxyOptions{})
			if err != nil {
				t.Fatalf("ServeBlob: %v", err)
			}
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d", w.Code, tt.status)
			}
			if got := w.Header().Get("Content-Range"); got != tt.contentRange {
				t.Fatalf("Content-Range = %q, want %q", got, tt.contentRange)
			}
			if !bytes.Equal(w.Body.Bytes(), tt.body) {
				t.Fatalf("body = %q, want %q", w.Body.Bytes(), tt.body)
			}
			if tt.status != 416 {
				if got := w.Header().Get("Content-Length"); got != strconv.Itoa(len(tt.body)) {
					t.Fatalf("Content-Length = %q, want %d", got, len(tt.body))
				}
			}
			if got := blob.calls(); got != tt.opens {
				t.Fatalf("upstream requests %q, want %q", got, tt.opens)
			}
			if !blob.allClosed() {
				t.Fatal("an upstream body was not closed")
			}
		})
	}
}

// TestServeBlobOneDownload checks, over many sizes and Range headers, that
// every GET is answered out of exactly one download with the bytes, status
// and Content-Range that the whole blob gives.
func TestServeBlobOneDownload(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	pos := func() string { return strconv.Itoa(rnd.IntN(45)) }
	for i := 0; i < 2000; i++ {
		size := rnd.IntN(40)
		data := make([]byte, size)
		for j := range data {
			data[j] = byte('a' + j%26)
		}
		var specs []string
		for range 1 + rnd.IntN(3) {
			switch a, b := pos(), pos(); rnd.IntN(3) {
			case 0:
				specs = append(specs, a+"-"+b)
			case 1:
				specs = append(specs, a+"-")
			default:
				specs = append(specs, "-"+a)
			}
		}
		rng := "bytes=" + strings.Join(specs, ",")
		blob := newMemBlob(data, "text/plain")
		w, err := serve(t, blob, http.MethodGet, map[string]string{"Range": rng}, "a.txt", ProxyOptions{})
		if err != nil {
			t.Fatalf("size %d, Range %q: %v", size, rng, err)
		}
		status, cr, want := 200, "", data
		if ranges, valid := parseRange(rng, int64(size)); valid && size > 0 {
			switch ranges = coalesce(ranges); len(ranges) {
			case 0:
				status, cr, want = 416, "bytes */"+strconv.Itoa(size), nil
			case 1:
				r := ranges[0]
				status, cr, want = 206, fmt.Sprintf("bytes %d-%d/%d", r.start, r.start+r.length-1, size), data[r.start:r.start+r.length]
			}
		}
		if w.Code != status || w.Header().Get("Content-Range") != cr || !bytes.Equal(w.Body.Bytes(), want) {
			t.Fatalf("size %d, Range %q: %d %q %q, want %d %q %q", size, rng, w.Code, w.Header().Get("Content-Range"), w.Body.Bytes(), status, cr, want)
		}
		if n := blob.opens.Load(); n != 1 || !blob.allClosed() {
			t.Fatalf("size %d, Range %q: upstream requests %q, want one download, closed", size, rng, blob.calls())
		}
	}
}

// TestServeBlobBeyondEnd: a download that starts past the end tells only
// the size, and the 416 it leads to ignores preconditions (RFC 9110
// §13.2.1), which could not be evaluated without validators anyway.
func TestServeBlobBeyondEnd(t *testing.T) {
	for _, hdr := range []map[string]string{
		{},
		{"If-None-Match": `"0x8DC0FFEE"`},
		{"If-Match": `"0x1"`},
		{"If-Modified-Since": time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Format(http.TimeFormat)},
	} {
		hdr["Range"] = "bytes=150-"
		blob := newMemBlob(hundred(), "image/png")
		w, err := serve(t, blob, http.MethodGet, hdr, "a.png", ProxyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if w.Code != 416 || w.Header().Get("Content-Range") != "bytes */100" || w.Body.Len() != 0 {
			t.Errorf("%v: %d %v, want 416 bytes */100", hdr, w.Code, w.Header())
		}
		if got := blob.calls(); got != "150,-1" || !blob.allClosed() {
			t.Errorf("%v: upstream requests %q, want \"150,-1\", closed", hdr, got)
		}
	}
}

func TestServeBlobZeroSize(t *testing.T) {
	for _, rng := range []string{"", "bytes=0-", "bytes=-5", "bytes=0-0"} {
		blob := newMemBlob(nil, "text/plain")
		w, err := serve(t, blob, http.MethodGet, map[string]string{"Range": rng}, "empty.txt", ProxyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Content-Length") != "0" || w.Header().Get("Content-Range") != "" {
			t.Errorf("Range %q on an empty blob: status %d, body %d bytes, headers %v", rng, w.Code, w.Body.Len(), w.Header())
		}
		if n := blob.opens.Load(); n != 1 || blob.calls() == "props" || !blob.allClosed() {
			t.Errorf("Range %q: upstream requests %q, want one download, closed", rng, blob.calls())
		}
	}
}

func TestServeBlobConditional(t *testing.T) {
	lm := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	date := func(t time.Time) string { return t.Format(http.TimeFormat) }
	tests := []struct {
		name   string
		hdr    map[string]string
		status int
	}{
		{"If-None-Match same", map[string]string{"If-None-Match": `"0x8DC0FFEE"`}, 304},
		{"If-None-Match weak compares equal", map[string]string{"If-None-Match": `W/"0x8DC0FFEE"`}, 304},
		{"If-None-Match in a list", map[string]string{"If-None-Match": `"a", "b,c" ,"0x8DC0FFEE"`}, 304},
		{"If-None-Match star", map[string]string{"If-None-Match": `*`}, 304},
		{"If-None-Match other", map[string]string{"If-None-Match": `"0x1"`}, 200},
		{"If-None-Match malformed", map[string]string{"If-None-Match": `0x8DC0FFEE`}, 200},
		{"If-Modified-Since equal", map[string]string{"If-Modified-Since": date(lm)}, 304},
		{"If-Modified-Since later", map[string]string{"If-Modified-Since": date(lm.Add(time.Hour))}, 304},
		{"If-Modified-Since earlier", map[string]string{"If-Modified-Since": date(lm.Add(-time.Second))}, 200},
		{"If-Modified-Since garbage", map[string]string{"If-Modified-Since": "yesterday"}, 200},
		{"If-None-Match wins over If-Modified-Since", map[string]string{"If-None-Match": `"0x1"`, "If-Modified-Since": date(lm)}, 200},
		{"If-Match mismatch", map[string]string{"If-Match": `"0x1"`}, 412},
		{"If-Match weak never matches", map[string]string{"If-Match": `W/"0x8DC0FFEE"`}, 412},
		{"If-Match same", map[string]string{"If-Match": `"0x8DC0FFEE"`}, 200},
		{"If-Unmodified-Since earlier", map[string]string{"If-Unmodified-Since": date(lm.Add(-time.Hour))}, 412},
		{"If-Unmodified-Since later", map[string]string{"If-Unmodified-Since": date(lm.Add(time.Hour))}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blob := newMemBlob(hundred(), "image/png")
			w, err := serve(t, blob, http.MethodGet, tt.hdr, "a.png", ProxyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d", w.Code, tt.status)
			}
			if tt.status == 200 {
				if w.Body.Len() != 100 {
					t.Fatalf("body has %d bytes, want 100", w.Body.Len())
				}
				return
			}
			if w.Body.Len() != 0 || blob.calls() != "0,-1" || !blob.allClosed() {
				t.Fatalf("%d must have no body and cost one download, closed (body %d bytes, requests %q)", w.Code, w.Body.Len(), blob.calls())
			}
			if tt.status == 304 && (w.Header().Get("ETag") != `"0x8DC0FFEE"` || w.Header().Get("Cache-Control") == "") {
				t.Fatalf("304 must repeat ETag and Cache-Control: %v", w.Header())
			}
		})
	}
}

func TestServeBlobIfRange(t *testing.T) {
	lm := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC).Format(http.TimeFormat)
	tests := []struct {
		name, ifRange string
		status        int
	}{
		{"strong ETag match", `"0x8DC0FFEE"`, 206},
		{"ETag mismatch", `"0x1"`, 200},
		{"weak ETag never matches", `W/"0x8DC0FFEE"`, 200},
		{"date match", lm, 206},
		{"date mismatch", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Format(http.TimeFormat), 200},
		{"garbage", "whenever", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := hundred()
			blob := newMemBlob(data, "image/png")
			w, err := serve(t, blob, http.MethodGet, map[string]string{"Range": "bytes=40-49", "If-Range": tt.ifRange}, "a.png", ProxyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want := map[int][]byte{206: data[40:50], 200: data}[tt.status]
			if w.Code != tt.status || !bytes.Equal(w.Body.Bytes(), want) {
				t.Fatalf("status %d with %q, want %d with %q", w.Code, w.Body.Bytes(), tt.status, want)
			}
			// Either answer is cut out of one download of the whole blob.
			if got := blob.calls(); got != "0,-1" || !blob.allClosed() {
				t.Fatalf("upstream requests %q, want \"0,-1\", all closed", got)
			}
		})
	}
}

func TestServeBlobHead(t *testing.T) {
	for _, tt := range []struct {
		rng, length string
		status      int
	}{{"", "100", 200}, {"bytes=10-19", "10", 206}} {
		blob := newMemBlob(hundred(), "video/mp4")
		w, err := serve(t, blob, http.MethodHead, map[string]string{"Range": tt.rng}, "clip.mp4", ProxyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		h := w.Header()
		if w.Code != tt.status || w.Body.Len() != 0 {
			t.Fatalf("HEAD %q: status %d, %d body bytes", tt.rng, w.Code, w.Body.Len())
		}
		if h.Get("Content-Length") != tt.length || h.Get("Content-Type") != "video/mp4" || h.Get("ETag") == "" ||
			h.Get("Last-Modified") != "Tue, 04 Mar 2025 05:06:07 GMT" || h.Get("Accept-Ranges") != "bytes" {
			t.Fatalf("HEAD %q headers: %v", tt.rng, h)
		}
		if got := blob.calls(); got != "props" {
			t.Fatalf("HEAD %q: upstream requests %q, want one properties request", tt.rng, got)
		}
	}
}

func TestServeBlobHeaders(t *testing.T) {
	tests := []struct {
		name, stored, key, wantType, wantDisp string
	}{
		{"stored type wins", "image/webp", "dir/photo.png", "image/webp", `inline; filename="photo.png"; filename*=UTF-8''photo.png`},
		{"octet-stream falls back to the extension", "application/octet-stream", "a/b/pic.SVG", "image/svg+xml", `inline; filename="pic.SVG"; filename*=UTF-8''pic.SVG`},
		{"missing type falls back to the extension", "", "x.json", "application/json", `inline; filename="x.json"; filename*=UTF-8''x.json`},
		{"malformed type falls back", "image/", "x.png", "image/png", `inline; filename="x.png"; filename*=UTF-8''x.png`},
		{"unknown everything", "", "noext", "application/octet-stream", `inline; filename="noext"; filename*=UTF-8''noext`},
		{"spaces and unicode", "image/jpeg", "photos/été 1.jpg", "image/jpeg", `inline; filename="_t_ 1.jpg"; filename*=UTF-8''%C3%A9t%C3%A9%201.jpg`},
		{"quotes, backslash, semicolon, percent", "text/plain", `a"b\c;d%e.txt`, "text/plain", `inline; filename="c_d_e.txt"; filename*=UTF-8''c%3Bd%25e.txt`},
		{"control characters", "text/plain", "bad\r\nname.txt", "text/plain", `inline; filename="bad__name.txt"; filename*=UTF-8''bad%0D%0Aname.txt`},
		{"dot names", "text/plain", "dir/..", "text/plain", `inline; filename="file"; filename*=UTF-8''file`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blob := newMemBlob([]byte("x"), tt.stored)
			w, err := serve(t, blob, http.MethodGet, nil, tt.key, ProxyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			h := w.Header()
			if got := h.Get("Content-Type"); !strings.HasPrefix(got, tt.wantType) {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantType)
			}
			if got := h.Get("Content-Disposition"); got != tt.wantDisp {
				t.Errorf("Content-Disposition = %q, want %q", got, tt.wantDisp)
			}
			if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Content-Security-Policy") != ContentSecurityPolicy {
				t.Errorf("security headers missing: %v", h)
			}
			if got := h.Get("Cache-Control"); got != "private, max-age=3600" {
				t.Errorf("Cache-Control = %q", got)
			}
		})
	}
	long := strings.Repeat("ü", 400) + ".png"
	w, _ := serve(t, newMemBlob([]byte("x"), "image/png"), http.MethodGet, nil, long, ProxyOptions{})
	if d := w.Header().Get("Content-Disposition"); len(d) > 2000 {
		t.Errorf("a long name gives a %d-byte header", len(d))
	}
	for maxAge, want := range map[time.Duration]string{90 * time.Second: "private, max-age=90", -1: "private, no-cache"} {
		w, _ := serve(t, newMemBlob([]byte("x"), "image/png"), http.MethodGet, nil, "a.png", ProxyOptions{MaxAge: maxAge})
		if got := w.Header().Get("Cache-Control"); got != want {
			t.Errorf("MaxAge %v: Cache-Control = %q, want %q", maxAge, got, want)
		}
	}
}

// TestServeBlobSVG serves an SVG with a script over a real server and
// checks what the browser would get.
func TestServeBlobSVG(t *testing.T) {
	svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>`)
	blob := newMemBlob(svg, "image/svg+xml")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = ServeBlob(w, r, blob, "evil.svg", ProxyOptions{})
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("nosniff missing")
	}
	for _, directive := range []string{"default-src 'none'", "sandbox"} {
		if !strings.Contains(csp, directive) {
			t.Errorf("CSP %q lacks %q", csp, directive)
		}
	}
	if strings.Contains(csp, "script-src") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP %q allows script", csp)
	}
	if resp.Header.Get("Content-Type") != "image/svg+xml" || !bytes.Equal(body, svg) {
		t.Errorf("SVG not served as stored: %q %q", resp.Header.Get("Content-Type"), body)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "inline;") {
		t.Errorf("Content-Disposition = %q", resp.Header.Get("Content-Disposition"))
	}
}

// TestServeBlobFullBytes streams blobs larger than the copy buffer, with
// reads of varying sizes, through a real server and compares every byte.
func TestServeBlobFullBytes(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 3*chunkSize+12345)
	for i := range data {
		data[i] = byte(rnd.Uint32())
	}
	for _, readSize := range []int{0, 1000, 70000} {
		blob := newMemBlob(data, "application/octet-stream")
		blob.readSize = readSize
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := ServeBlob(w, r, blob, "data.bin", ProxyOptions{}); err != nil {
				t.Errorf("ServeBlob: %v", err)
			}
		}))
		for _, rng := range []string{"", "bytes=1000-", "bytes=-300000"} {
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			if rng != "" {
				req.Header.Set("Range", rng)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			want := map[string][]byte{"": data, "bytes=1000-": data[1000:], "bytes=-300000": data[len(data)-300000:]}[rng]
			if !bytes.Equal(got, want) {
				t.Fatalf("read size %d, Range %q: %d bytes differ from the blob's %d", readSize, rng, len(got), len(want))
			}
		}
		srv.Close()
	}
}

// TestServeBlobClientDisconnect checks that a client going away cancels the
// upstream read instead of leaving it to run.
func TestServeBlobClientDisconnect(t *testing.T) {
	blob := newMemBlob(bytes.Repeat([]byte("v"), 4<<20), "video/mp4")
	blob.stallAfter = 64 << 10
	served := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served <- ServeBlob(w, r, blob, "clip.mp4", ProxyOptions{IdleTimeout: time.Hour})
	}))
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 1024)); err != nil {
		t.Fatalf("first bytes: %v", err)
	}
	cancel()
	resp.Body.Close()

	select {
	case <-blob.cancelled:
	case <-time.After(30 * time.Second):
		t.Fatal("the upstream reader never saw its context cancelled")
	}
	if err := <-served; !errors.Is(err, context.Canceled) {
		t.Fatalf("ServeBlob returned %v, want context.Canceled", err)
	}
	if !blob.closed.Load() {
		t.Fatal("the upstream body was not closed")
	}
}

// TestServeBlobIdleTimeout checks that a stalled upstream is abandoned
// rather than holding the request forever.
func TestServeBlobIdleTimeout(t *testing.T) {
	blob := newMemBlob(hundred(), "image/png")
	blob.stallAfter = 10
	w, err := serve(t, blob, http.MethodGet, nil, "a.png", ProxyOptions{IdleTimeout: 20 * time.Millisecond})
	if !errors.Is(err, errIdle) {
		t.Fatalf("ServeBlob returned %v, want the idle error", err)
	}
	select {
	case <-blob.cancelled:
	default:
		t.Fatal("the stalled reader's context was not cancelled")
	}
	if w.Code != 200 || w.Body.Len() != 10 {
		t.Fatalf("status %d with %d bytes, want the 10 bytes sent before the stall", w.Code, w.Body.Len())
	}
}

// TestServeBlobOutlivesWriteTimeout streams a slow blob through a server
// whose WriteTimeout is shorter than the whole transfer: the deadline is
// pushed forward while bytes move, so the stream completes.
func TestServeBlobOutlivesWriteTimeout(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 1000)
	blob := newMemBlob(data, "text/plain")
	blob.readSize = len(data) / 8
	blob.trickle = 60 * time.Millisecond
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = ServeBlob(w, r, blob, "slow.txt", ProxyOptions{IdleTimeout: 5 * time.Second})
	}))
	srv.Config.WriteTimeout = 150 * time.Millisecond
	srv.Start()
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("got %d of %d bytes (%v)", len(got), len(data), err)
	}
}

func TestServeBlobShortUpstream(t *testing.T) {
	// The body ends before the bytes sent, or before those skipped.
	for _, tt := range []struct {
		rng   string
		short int
	}{{"", 5}, {"bytes=-3", 5}, {"bytes=-3", 2}} {
		blob := newMemBlob(hundred(), "image/png")
		blob.short = tt.short
		_, err := serve(t, blob, http.MethodGet, map[string]string{"Range": tt.rng}, "a.png", ProxyOptions{})
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("Range %q, %d bytes short: ServeBlob returned %v, want io.ErrUnexpectedEOF", tt.rng, tt.short, err)
		}
	}
}

func TestServeBlobErrors(t *testing.T) {
	secret := "AccountKey=c2VjcmV0"
	tests := []struct {
		name     string
		propsErr error
		rng      string
		status   int
	}{
		{"not found", &blobmark.Error{Code: blobmark.ENOTFOUND, Message: "blob not found"}, "", 404},
		{"unavailable", &blobmark.Error{Code: blobmark.EUNAVAILABLE, Message: "throttled"}, "", 503},
		{"other", errors.New("dial failed: " + secret), "", 502},
		{"other, with a suffix range", errors.New("open failed: " + secret), "bytes=-10", 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blob := newMemBlob(hundred(), "image/png")
			blob.propsErr = tt.propsErr
			hdr := map[string]string{}
			if tt.rng != "" {
				hdr["Range"] = tt.rng
			}
			w, err := serve(t, blob, http.MethodGet, hdr, "a.png", ProxyOptions{})
			if err == nil {
				t.Fatal("ServeBlob returned nil for a failed blob")
			}
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d", w.Code, tt.status)
			}
			if strings.Contains(w.Body.String(), secret) || strings.Contains(w.Body.String(), "failed") {
				t.Fatalf("error body reveals the cause: %q", w.Body.String())
			}
			for _, k := range []string{"Content-Length", "Content-Range", "Content-Disposition", "ETag"} {
				if w.Header().Get(k) != "" {
					t.Fatalf("error response carries %s: %v", k, w.Header())
				}
			}
		})
	}
	var got error
	var gotStatus int
	blob := newMemBlob(hundred(), "image/png")
	blob.propsErr = errors.New("boom")
	w, _ := serve(t, blob, http.MethodGet, nil, "a.png", ProxyOptions{OnError: func(w http.ResponseWriter, r *http.Request, status int, err error) {
		got, gotStatus = err, status
		w.WriteHeader(http.StatusFailedDependency)
	}})
	if got == nil || w.Code != http.StatusFailedDependency {
		t.Fatalf("OnError not used: %v, status %d", got, w.Code)
	}
	if gotStatus != http.StatusBadGateway {
		t.Fatalf("OnError given status %d, want 502 for an upstream failure", gotStatus)
	}
	w, _ = serve(t, newMemBlob(hundred(), "image/png"), http.MethodPost, nil, "a.png", ProxyOptions{})
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST: status %d, Allow %q", w.Code, w.Header().Get("Allow"))
	}
}

func TestNormalizeETag(t *testing.T) {
	for in, want := range map[string]string{
		`"0x8D"`:   `"0x8D"`,
		`0x8D`:     `"0x8D"`,
		`W/"abc"`:  `W/"abc"`,
		``:         ``,
		"a\"b":     ``,
		"0x8D\r\n": ``,
		`"a b"`:    ``,
	} {
		if got := normalizeETag(in); got != want {
			t.Errorf("normalizeETag(%q) = %q, want %q", in, got, want)
		}
	}
}
