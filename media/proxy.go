package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/blobmark/blobmark"
)

// DefaultMaxAge is how long a browser may reuse a proxied blob before
// revalidating it with its ETag (Label Studio's RESOLVER_PROXY_CACHE_TIMEOUT).
const DefaultMaxAge = time.Hour

// DefaultIdleTimeout is how long a proxied stream may make no progress,
// upstream or towards the client, before it is abandoned. There is no limit
// on the total duration: a long video keeps streaming as long as bytes move.
const DefaultIdleTimeout = 30 * time.Second

// ContentSecurityPolicy is sent with every proxied blob. Blobs are served
// from blobmark's own origin, so an uploaded HTML or SVG file must not be
// able to run script or load anything there; "sandbox" additionally puts
// such a document in an opaque origin when it is opened directly.
const ContentSecurityPolicy = "default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'; sandbox"

// ProxyOptions tune ServeBlob. The zero value is ready to use.
type ProxyOptions struct {
	// MaxAge is the Cache-Control max-age of a streamed blob; 0 means
	// DefaultMaxAge, a negative value sends "private, no-cache".
	MaxAge time.Duration
	// IdleTimeout aborts a stream that moves no byte for this long; 0 means
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// OnError answers a request that failed before the response began
	// (the blob could not be read) with status: 404 when the blob does not
	// exist, 503 when the storage is unavailable, 502 otherwise. Nil sends
	// the bare status.
	OnError func(w http.ResponseWriter, r *http.Request, status int, err error)
}

// errIdle ends a stream that made no progress for the idle timeout.
var errIdle = errors.New("media: stream idle for too long")

// chunkSize is the copy buffer; writeSlice is how much is written to the
// client between deadline extensions, so a slow but moving client is not
// mistaken for an idle one. One slice per chunk: 32 KiB slices cost a
// quarter of the proxy's throughput in system calls (measured 0.73–0.83 of a
// direct GET against 1.0–1.05), and a client that cannot take 256 KiB within
// the idle timeout (default 30 s, i.e. under ~8 KiB/s) is idle in practice.
const (
	chunkSize  = 256 << 10
	writeSlice = chunkSize
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// ServeBlob answers a GET or HEAD for one blob, streamed through blobmark.
// The caller has already authorised the request; name is the blob's key,
// used for the download file name and as a fallback for the content type.
//
// It implements RFC 9110 ranges and conditional requests: a single range
// (first-last, open-ended or suffix) gets a 206 with an exact Content-Range;
// several ranges are coalesced when they overlap or touch, and if more than
// one range remains the whole blob is sent with 200 (never a multipart
// body, which media players do not ask for); an unsatisfiable Range gets a
// 416 with "Content-Range: bytes */size"; a Range with bad syntax or another
// unit is ignored. A zero-length blob is always answered 200 with an empty
// body, since no range of it can be expressed. If-Match and
// If-Unmodified-Since give 412; If-None-Match (weak comparison) and
// If-Modified-Since give 304; If-Range (strong ETag or exact date) decides
// between the range and the whole blob. HEAD sends the same headers as GET
// and never opens the blob.
//
// A GET costs exactly one request to the storage, whose answer carries the
// blob's properties along with the bytes: the requested span when the
// ranges form one, otherwise (a suffix range, ranges with gaps, If-Range)
// the whole blob, out of which the bytes to send are cut.
//
// Every response carries nosniff and ContentSecurityPolicy, so content
// uploaded by one user cannot script blobmark's origin. Bytes are copied
// through a fixed 256 KiB pooled buffer and flushed as they arrive; the
// upstream read uses a context that ends when the client leaves or when no
// byte moved for the idle timeout, and the connection's write deadline is
// pushed forward as data flows, so a server WriteTimeout does not cut long
// streams short.
//
// ServeBlob returns nil when the response completed, otherwise the error
// that ended it (the response is then an error status, or truncated if it
// had begun), for the caller to log.
func ServeBlob(w http.ResponseWriter, r *http.Request, blob blobmark.MediaBlob, name string, opts ProxyOptions) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return nil
	}
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	var (
		props blobmark.MediaBlobInfo
		body  io.ReadCloser
		err   error
		// fetchedAt and fetchedN are the download's first byte and length
		// (-1: to the end of the blob).
		fetchedAt, fetchedN int64 = 0, -1
	)
	defer func() {
		if body != nil {
			body.Close()
		}
	}()
	if r.Method == http.MethodHead {
		props, err = blob.Properties(ctx)
	} else {
		// With If-Range the answer is either the range or the whole blob,
		// so the whole blob is downloaded and the range, if it holds, cut
		// out of it: the storage has no If-Range of its own.
		if rh := r.Header.Get("Range"); rh != "" && r.Header.Get("If-Range") == "" {
			fetchedAt, fetchedN = upstreamSpan(rh)
		}
		props, body, err = blob.Open(ctx, fetchedAt, fetchedN)
	}
	if err == nil && props.Size < 0 {
		err = blobmark.Errorf(blobmark.EINTERNAL, "blob reports a negative size")
	}
	if err != nil {
		opts.fail(w, r, err)
		return err
	}
	etag := normalizeETag(props.ETag)
	modified := props.LastModified.UTC().Truncate(time.Second)

	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("Cache-Control", opts.cacheControl())
	if etag != "" {
		h.Set("ETag", etag)
	}
	if !modified.IsZero() {
		h.Set("Last-Modified", modified.Format(http.TimeFormat))
	}

	// A download that starts at or past the end tells the blob's size and
	// nothing more (Azure refuses it with 416, "Content-Range: bytes */size"
	// and no validators), so preconditions cannot be evaluated then. RFC
	// 9110 §13.2.1 has them ignored anyway when the answer would be a 416;
	// the one other answer, an empty blob's empty 200, goes out unconditionally.
	beyondEnd := (fetchedAt > 0 || fetchedN >= 0) && fetchedAt >= props.Size
	if !beyondEnd {
		switch evaluate(r, etag, modified) {
		case condNotModified:
			w.WriteHeader(http.StatusNotModified)
			return nil
		case condFailed:
			w.WriteHeader(http.StatusPreconditionFailed)
			return nil
		}
	}

	start, length, status := int64(0), props.Size, http.StatusOK
	if rh := r.Header.Get("Range"); rh != "" && props.Size > 0 && ifRangeHolds(r, etag, modified) {
		if ranges, valid := parseRange(rh, props.Size); valid {
			switch ranges = coalesce(ranges); len(ranges) {
			case 0:
				h.Set("Content-Range", "bytes */"+strconv.FormatInt(props.Size, 10))
				w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
				return nil
			case 1:
				start, length, status = ranges[0].start, ranges[0].length, http.StatusPartialContent
			}
		}
	}

	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Type", contentType(props.ContentType, name))
	h.Set("Content-Disposition", contentDisposition(name))
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	if status == http.StatusPartialContent {
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+length-1, props.Size))
	}
	if r.Method == http.MethodHead || length == 0 {
		w.WriteHeader(status)
		return nil
	}
	w.WriteHeader(status)
	return copyIdle(ctx, cancel, w, body, start-fetchedAt, length, opts.idleTimeout())
}

// copyIdle skips the first skip bytes of body and copies exactly the n
// that follow to w. Every read while skipping and every slice written
// re-arms the idle timer and pushes the write deadline forward; when the
// timer fires the upstream context is cancelled with errIdle.
func copyIdle(ctx context.Context, cancel context.CancelCauseFunc, w http.ResponseWriter, body io.Reader, skip, n int64, idle time.Duration) error {
	rc := http.NewResponseController(w)
	// Leave no deadline behind for the next request on a kept-alive
	// connection; writers without deadlines report ErrNotSupported.
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
	timer := time.AfterFunc(idle, func() { cancel(errIdle) })
	defer timer.Stop()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp

	for skip+n > 0 {
		want := n
		if skip > 0 {
			want = skip
		}
		m, rerr := body.Read(buf[:min(int64(len(buf)), want)])
		if skip > 0 {
			skip -= int64(m)
			if m > 0 {
				_ = rc.SetWriteDeadline(time.Now().Add(idle)) // ErrNotSupported: nothing to extend
				timer.Reset(idle)
			}
		} else {
			for p := buf[:m]; len(p) > 0; {
				k := min(len(p), writeSlice)
				_ = rc.SetWriteDeadline(time.Now().Add(idle))
				if _, err := w.Write(p[:k]); err != nil {
					cancel(err)
					return fmt.Errorf("media: writing to client: %w", err)
				}
				timer.Reset(idle)
				p = p[k:]
			}
			n -= int64(m)
			if m > 0 {
				if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
					cancel(err)
					return fmt.Errorf("media: flushing to client: %w", err)
				}
			}
		}
		if rerr == io.EOF && skip+n > 0 {
			return fmt.Errorf("media: blob ended %d bytes early: %w", skip+n, io.ErrUnexpectedEOF)
		}
		if rerr != nil && rerr != io.EOF {
			if cause := context.Cause(ctx); cause != nil {
				return fmt.Errorf("media: stream aborted: %w", cause)
			}
			return fmt.Errorf("media: reading blob: %w", rerr)
		}
		if rerr == io.EOF {
			break
		}
	}
	return nil
}

func (o ProxyOptions) idleTimeout() time.Duration {
	if o.IdleTimeout > 0 {
		return o.IdleTimeout
	}
	return DefaultIdleTimeout
}

func (o ProxyOptions) cacheControl() string {
	switch {
	case o.MaxAge < 0:
		return "private, no-cache"
	case o.MaxAge == 0:
		return "private, max-age=" + strconv.Itoa(int(DefaultMaxAge/time.Second))
	}
	return "private, max-age=" + strconv.FormatInt(int64(o.MaxAge/time.Second), 10)
}

func (o ProxyOptions) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the client is gone; nobody reads an answer
	}
	status := failureStatus(err)
	if o.OnError != nil {
		o.OnError(w, r, status, err)
		return
	}
	http.Error(w, http.StatusText(status), status)
}

// failureStatus is the HTTP status of a storage that could not deliver a
// blob: 404 when it does not exist, 503 when the storage is unavailable, 502
// for any other failure of the upstream.
func failureStatus(err error) int {
	switch blobmark.ErrorCode(err) {
	case blobmark.ENOTFOUND:
		return http.StatusNotFound
	case blobmark.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusBadGateway
}

// contentType prefers the type stored with the blob. The generic
// application/octet-stream that uploads get by default says nothing, so the
// key's extension is consulted then, and octet-stream is the last resort.
func contentType(stored, name string) string {
	if stored != "" && !strings.EqualFold(stored, "application/octet-stream") {
		if _, _, err := mime.ParseMediaType(stored); err == nil && !hasControl(stored) {
			return stored
		}
	}
	if t := mime.TypeByExtension(strings.ToLower(path.Ext(name))); t != "" {
		return t
	}
	return "application/octet-stream"
}

// maxFileName caps the file name offered to the browser.
const maxFileName = 150

// contentDisposition returns an inline disposition naming the blob's base
// name twice (RFC 6266): an ASCII fallback with every unsafe byte replaced
// by "_", and the exact UTF-8 name percent-encoded in filename*.
func contentDisposition(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	if !utf8.ValidString(name) {
		name = strings.ToValidUTF8(name, "_")
	}
	if utf8.RuneCountInString(name) > maxFileName {
		name = string([]rune(name)[:maxFileName])
	}
	if strings.Trim(name, ". ") == "" {
		name = "file"
	}
	var ascii, ext strings.Builder
	for _, r := range name {
		if r < 0x20 || r >= 0x7f || r == '"' || r == '\\' || r == '%' || r == ';' {
			ascii.WriteByte('_')
		} else {
			ascii.WriteRune(r)
		}
	}
	const attrChar = "!#$&+-.^_`|~"
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(attrChar, c) >= 0 {
			ext.WriteByte(c)
		} else {
			fmt.Fprintf(&ext, "%%%02X", c)
		}
	}
	return `inline; filename="` + ascii.String() + `"; filename*=UTF-8''` + ext.String()
}
