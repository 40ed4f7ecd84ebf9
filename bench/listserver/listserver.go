package listserver

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// MaxNames is the largest container the name scheme can generate while
// keeping lexicographic order equal to index order (seven zero-padded digits).
const MaxNames = 10_000_000

// Defaults for the options.
const (
	// DefaultAccount is Azurite's well-known account, so the same client
	// configuration works against both servers.
	DefaultAccount = "devstoreaccount1"
	// DefaultContainer is the one container the server answers for.
	DefaultContainer = "bench"
	// DefaultBlobSize is the Content-Length every listed blob reports.
	DefaultBlobSize = 1024
	// maxPage is Azure's largest List Blobs page.
	maxPage = 5000
)

// lastModified is the fixed modification time of every generated blob, so
// listings are identical from run to run.
var lastModified = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC).Format(http.TimeFormat)

// Name returns the i-th blob name of every generated container, e.g.
// "img/000/0000001.jpg". Names sort in index order, which is what lets the
// server find any prefix or marker by binary search instead of storing them.
func Name(i int) string { return string(appendName(nil, i)) }

// appendName appends Name(i) to b without allocating per digit.
func appendName(b []byte, i int) []byte {
	b = append(b, "img/"...)
	b = appendPadded(b, i/10000, 3)
	b = append(b, '/')
	b = appendPadded(b, i, 7)
	return append(b, ".jpg"...)
}

// appendPadded appends v in decimal, zero-padded to width digits.
func appendPadded(b []byte, v, width int) []byte {
	var d [20]byte
	s := strconv.AppendInt(d[:0], int64(v), 10)
	for range width - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}

// Option configures a Handler.
type Option func(*Handler)

// WithContainer sets the container name expected as the second path segment.
func WithContainer(name string) Option { return func(h *Handler) { h.container = name } }

// WithBlobSize sets the Content-Length reported for every blob. The task
// JSON is padded with spaces to it, so it must hold the JSON (60 bytes do).
func WithBlobSize(n int64) Option { return func(h *Handler) { h.blobSize = n } }

// WithTasksPerBlob makes every blob a Tasks-mode JSON Lines file of k
// tasks, `{"text":"<name> <row>"}` with the row zero-padded, so that every
// line and so every blob has one length, which the listing reports (it
// replaces WithBlobSize). k is at most 99,999.
func WithTasksPerBlob(k int) Option {
	return func(h *Handler) {
		h.tasksPerBlob = k
		h.blobSize = int64(k * len(taskLine(nil, Name(0), 0)))
	}
}

// taskLine appends row's task line of blob name to b.
func taskLine(b []byte, name string, row int) []byte {
	b = append(b, `{"text":"`...)
	b = append(b, name...)
	b = append(b, ' ')
	b = appendPadded(b, row, 5)
	return append(b, "\"}\n"...)
}

// WithGetLatency delays every Get Blob answer by d, standing in for the
// time to first byte of a service across a network: downloads then cost
// waiting, not this machine's cores, as they do against Azure.
func WithGetLatency(d time.Duration) Option { return func(h *Handler) { h.getLatency = d } }

// WithDirectories makes the container answer like an account with a
// hierarchical namespace (Data Lake Storage Gen2): listings also report
// each directory ("img", "img/000", …) as an empty blob named without a
// trailing slash, with ResourceType directory and, when the request asks
// for metadata, hdi_isfolder=true (see directoriesAt).
func WithDirectories() Option { return func(h *Handler) { h.directories = true } }

// Handler answers the Blob REST calls of one synthetic container of N
// blobs. Its state is a few fields, whatever N is.
type Handler struct {
	n         int
	account   string
	container string
	blobSize  int64
	// tasksPerBlob makes each blob a JSON Lines file (WithTasksPerBlob).
	tasksPerBlob int
	getLatency   time.Duration
	// directories makes listings report directories (WithDirectories).
	directories bool

	listCalls atomic.Int64
	getCalls  atomic.Int64
}

// NewHandler returns the handler of a container of n generated blobs. It
// panics if n is negative or above MaxNames, a programming error.
func NewHandler(n int, opts ...Option) *Handler {
	if n < 0 || n > MaxNames {
		panic(fmt.Sprintf("listserver: %d names is outside 0..%d", n, MaxNames))
	}
	h := &Handler{n: n, account: DefaultAccount, container: DefaultContainer, blobSize: DefaultBlobSize}
	for _, o := range opts {
		o(h)
	}
	return h
}

// ListCalls returns how many List Blobs requests were answered, so a
// benchmark can check the client paged as expected.
func (h *Handler) ListCalls() int64 { return h.listCalls.Load() }

// GetCalls returns how many Get Blob requests were answered.
func (h *Handler) GetCalls() int64 { return h.getCalls.Load() }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-ms-request-id", "00000000-0000-0000-0000-000000000000")
	if v := r.Header.Get("x-ms-version"); v != "" {
		w.Header().Set("x-ms-version", v)
	}
	w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
	if name, ok := strings.CutPrefix(r.URL.Path, "/"+h.account+"/"+h.container+"/"); ok && name != "" {
		h.blob(w, r, name)
		return
	}
	if r.URL.Path != "/"+h.account+"/"+h.container && r.URL.Path != "/"+h.account+"/"+h.container+"/" {
		h.fail(w, r, http.StatusNotFound, "ContainerNotFound", "The specified container does not exist.")
		return
	}
	q := r.URL.Query()
	if q.Get("restype") != "container" {
		h.fail(w, r, http.StatusBadRequest, "UnsupportedQueryParameter", "Only container operations are served.")
		return
	}
	switch {
	case q.Get("comp") == "list" && r.Method == http.MethodGet:
		h.list(w, r)
	case q.Get("comp") == "blobs" && r.Method == http.MethodGet:
		h.filterBlobs(w, r)
	case q.Get("comp") == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		h.properties(w)
	default:
		h.fail(w, r, http.StatusBadRequest, "UnsupportedHttpVerb", "The operation is not served.")
	}
}

// properties answers Get Container Properties, so an existence check passes.
func (h *Handler) properties(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("ETag", `"0x8DC0000000000000"`)
	hd.Set("Last-Modified", lastModified)
	hd.Set("x-ms-lease-status", "unlocked")
	hd.Set("x-ms-lease-state", "available")
	hd.Set("x-ms-has-immutability-policy", "false")
	hd.Set("x-ms-has-legal-hold", "false")
	w.WriteHeader(http.StatusOK)
}

// blob answers Get Blob (and Get Blob Properties) for a generated name:
// `{"text":"<name>"}` padded with spaces to the listed size, or its lines
// of tasks (WithTasksPerBlob), with the listed ETag, after the configured
// latency.
func (h *Handler) blob(w http.ResponseWriter, r *http.Request, name string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.fail(w, r, http.StatusBadRequest, "UnsupportedHttpVerb", "The operation is not served.")
		return
	}
	i := h.index(name)
	if i < 0 {
		h.fail(w, r, http.StatusNotFound, "BlobNotFound", "The specified blob does not exist.")
		return
	}
	h.getCalls.Add(1)
	time.Sleep(h.getLatency)
	body := make([]byte, 0, h.blobSize)
	if h.tasksPerBlob > 0 {
		for row := range h.tasksPerBlob {
			body = taskLine(body, name, row)
		}
	} else {
		body = append(body, `{"text":"`+name+`"}`...)
		body = append(body, bytes.Repeat([]byte{' '}, int(h.blobSize)-len(body))...)
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Content-Length", strconv.FormatInt(h.blobSize, 10))
	hd.Set("ETag", `"`+string(etag(nil, i))+`"`)
	hd.Set("Last-Modified", lastModified)
	hd.Set("x-ms-blob-type", "BlockBlob")
	hd.Set("Accept-Ranges", "bytes")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}

// index returns the index of a generated name, or -1.
func (h *Handler) index(name string) int {
	i, err := strconv.Atoi(strings.TrimSuffix(name[strings.LastIndexByte(name, '/')+1:], ".jpg"))
	if err != nil || i < 0 || i >= h.n || Name(i) != name {
		return -1
	}
	return i
}

// etag appends the ETag of blob i, as listings show it (unquoted).
func etag(b []byte, i int) []byte { return appendPadded(append(b, "0x8DC"...), i, 13) }

// fail writes an Azure error response.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	w.Header().Set("x-ms-error-code", code)
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?><Error><Code>`)
	b.WriteString(code)
	b.WriteString(`</Code><Message>`)
	xml.EscapeText(&b, []byte(msg))
	b.WriteString(`</Message></Error>`)
	_, _ = w.Write(b.Bytes())
}

// lowerBound returns the first index whose name is >= s.
func (h *Handler) lowerBound(s string) int {
	var buf []byte
	return sort.Search(h.n, func(i int) bool {
		buf = appendName(buf[:0], i)
		return string(buf) >= s
	})
}

// afterPrefix returns the first index whose name sorts after every name
// starting with p (names are sorted, so those are contiguous).
func (h *Handler) afterPrefix(p string) int {
	var buf []byte
	return sort.Search(h.n, func(i int) bool {
		buf = appendName(buf[:0], i)
		return string(buf) > p && !bytes.HasPrefix(buf, []byte(p))
	})
}

// list answers List Blobs: names are generated from the marker position
// (an index) and never stored.
// pageLimit reads a request's maxresults, capped at Azure's 5,000; a bad
// one is answered with Azure's error and ok false.
func (h *Handler) pageLimit(w http.ResponseWriter, r *http.Request) (limit int, ok bool) {
	s := r.URL.Query().Get("maxresults")
	if s == "" {
		return maxPage, true
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		h.fail(w, r, http.StatusBadRequest, "OutOfRangeQueryParameterValue", "maxresults must be a positive integer.")
		return 0, false
	}
	return min(v, maxPage), true
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	h.listCalls.Add(1)
	q := r.URL.Query()
	prefix, delim, marker := q.Get("prefix"), q.Get("delimiter"), q.Get("marker")
	limit, ok := h.pageLimit(w, r)
	if !ok {
		return
	}
	i := h.lowerBound(prefix)
	if marker != "" {
		v, err := strconv.Atoi(marker)
		if err != nil || v < 0 || v > h.n {
			h.fail(w, r, http.StatusBadRequest, "InvalidQueryParameterValue", "The marker is not valid.")
			return
		}
		i = max(i, v)
	}

	var b bytes.Buffer
	b.Grow(512 + limit*300)
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="http://`)
	xml.EscapeText(&b, []byte(r.Host))
	b.WriteString("/" + h.account + `/" ContainerName="` + h.container + `"><Prefix>`)
	xml.EscapeText(&b, []byte(prefix))
	b.WriteString(`</Prefix><Marker>`)
	xml.EscapeText(&b, []byte(marker))
	b.WriteString(`</Marker><MaxResults>` + strconv.Itoa(limit) + `</MaxResults>`)
	if delim != "" {
		b.WriteString(`<Delimiter>`)
		xml.EscapeText(&b, []byte(delim))
		b.WriteString(`</Delimiter>`)
	}
	b.WriteString(`<Blobs>`)
	mid := `</Name><Properties><Last-Modified>` + lastModified + `</Last-Modified><Etag>`
	tail := `</Etag><Content-Length>` + strconv.FormatInt(h.blobSize, 10) +
		`</Content-Length><Content-Type>image/jpeg</Content-Type><BlobType>BlockBlob</BlobType>` +
		`<LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState></Properties></Blob>`
	withMetadata := strings.Contains(q.Get("include"), "metadata")
	var name []byte
	for count := 0; count < limit && i < h.n; count++ {
		name = appendName(name[:0], i)
		if !bytes.HasPrefix(name, []byte(prefix)) {
			i = h.n // names are sorted: none further has the prefix
			break
		}
		if h.directories {
			writeDirectories(&b, i, prefix, delim, withMetadata)
		}
		if delim != "" {
			if j := bytes.Index(name[len(prefix):], []byte(delim)); j >= 0 {
				p := string(name[:len(prefix)+j+len(delim)])
				b.WriteString(`<BlobPrefix><Name>` + p + `</Name></BlobPrefix>`)
				i = h.afterPrefix(p)
				continue
			}
		}
		b.WriteString(`<Blob><Name>`)
		b.Write(name)
		b.WriteString(mid)
		b.Write(etag(name[:0], i)) // opaque but unique per blob
		b.WriteString(tail)
		i++
	}
	b.WriteString(`</Blobs><NextMarker>`)
	if i < h.n && strings.HasPrefix(Name(i), prefix) {
		b.WriteString(strconv.Itoa(i))
	}
	b.WriteString(`</NextMarker></EnumerationResults>`)
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
}

// directoriesAt returns the directories whose first blob is blob i, in
// name order: "img" before blob 0, and "img/NNN" before the first blob of
// each group of 10,000. A directory's entry travels in the page of that
// blob, so the markers stay blob indexes (a page may exceed maxresults by
// the two entries).
func directoriesAt(i int) []string {
	var dirs []string
	if i == 0 {
		dirs = append(dirs, "img")
	}
	if i%10000 == 0 {
		dirs = append(dirs, string(appendPadded([]byte("img/"), i/10000, 3)))
	}
	return dirs
}

// writeDirectories writes the List Blobs entries of the directories that
// start at blob i and that the listing shows: under prefix and, with a
// delimiter, at prefix's own level (a directory is a blob there, next to
// the BlobPrefix of its contents). Each is an empty block blob with
// ResourceType directory, and hdi_isfolder=true when metadata was asked
// for, as an account with a hierarchical namespace reports it.
func writeDirectories(b *bytes.Buffer, i int, prefix, delim string, withMetadata bool) {
	for _, d := range directoriesAt(i) {
		if strings.HasPrefix(d, prefix) && (delim == "" || !strings.Contains(d[len(prefix):], delim)) {
			writeDirectory(b, d, withMetadata)
		}
	}
}

// writeDirectory writes one directory's entry; directories share one ETag,
// which nothing reads.
func writeDirectory(b *bytes.Buffer, name string, withMetadata bool) {
	b.WriteString(`<Blob><Name>` + name + `</Name><Properties><Last-Modified>` + lastModified +
		`</Last-Modified><Etag>0x8DD0000000000000</Etag><Content-Length>0</Content-Length>` +
		`<Content-Type>application/octet-stream</Content-Type><BlobType>BlockBlob</BlobType>` +
		`<LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState><ResourceType>directory</ResourceType></Properties>`)
	if withMetadata {
		b.WriteString(`<Metadata><hdi_isfolder>true</hdi_isfolder></Metadata>`)
	}
	b.WriteString(`</Blob>`)
}

// Server is a running listserver on a loopback port.
type Server struct {
	*httptest.Server
	// Handler is the server's handler, for its counters.
	Handler *Handler
	// ContainerURL is the URL an Azure container client is built from.
	ContainerURL string
}

// Start serves a container of n generated blobs on a loopback port until
// Close; benchmarks that measure the client's memory can instead run
// NewHandler in a separate process.
func Start(n int, opts ...Option) *Server {
	h := NewHandler(n, opts...)
	ts := httptest.NewServer(h)
	return &Server{Server: ts, Handler: h, ContainerURL: ts.URL + "/" + h.account + "/" + h.container}
}
