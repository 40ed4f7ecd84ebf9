package media

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
	"time"
)

// maxRangeSpecs bounds the work a Range header can cause; a header with more
// parts is ignored (RFC 9110 lets a server ignore any Range).
const maxRangeSpecs = 64

// byteRange is a satisfiable range: first byte and length, both within the
// representation.
type byteRange struct {
	start, length int64
}

// rangeSpec is one byte-range-spec as the client wrote it, before the
// representation's size is known: first-last, first- (last < 0), or a
// suffix of the last n bytes (first < 0, last = n).
type rangeSpec struct {
	first, last int64
}

// parseRangeSpecs reads a Range header (RFC 9110 §14.1.2). ok is false when
// the header must be ignored: another unit, bad syntax, a last-pos before
// its first-pos, no part at all, or too many parts.
func parseRangeSpecs(h string) (specs []rangeSpec, ok bool) {
	unit, set, ok := strings.Cut(h, "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return nil, false
	}
	for spec := range strings.SplitSeq(set, ",") {
		spec = strings.Trim(spec, " \t")
		if spec == "" {
			continue // empty list elements are allowed
		}
		if len(specs) == maxRangeSpecs {
			return nil, false
		}
		first, last, ok := strings.Cut(spec, "-")
		if !ok {
			return nil, false
		}
		if first == "" { // suffix-range: the last N bytes
			n, ok := parseDigits(last)
			if !ok {
				return nil, false
			}
			specs = append(specs, rangeSpec{first: -1, last: n})
			continue
		}
		start, ok := parseDigits(first)
		if !ok {
			return nil, false
		}
		end := int64(-1) // open-ended
		if last != "" {
			if end, ok = parseDigits(last); !ok || end < start {
				return nil, false
			}
		}
		specs = append(specs, rangeSpec{first: start, last: end})
	}
	return specs, len(specs) > 0
}

// parseRange reads a Range header for a representation of size bytes.
// valid is false when the header must be ignored (see parseRangeSpecs).
// Otherwise ranges holds the satisfiable ranges, clipped to size, and is
// empty when none is satisfiable (a 416).
func parseRange(h string, size int64) (ranges []byteRange, valid bool) {
	specs, ok := parseRangeSpecs(h)
	if !ok {
		return nil, false
	}
	for _, s := range specs {
		switch {
		case s.first < 0:
			if s.last == 0 || size == 0 {
				continue
			}
			n := min(s.last, size)
			ranges = append(ranges, byteRange{start: size - n, length: n})
		case s.first < size:
			end := s.last
			if end < 0 || end >= size {
				end = size - 1
			}
			ranges = append(ranges, byteRange{start: s.first, length: end - s.first + 1})
		}
	}
	return ranges, true
}

// upstreamSpan chooses the one download that answers a GET with Range
// header h, before the blob's size is known. When the ranges name one
// contiguous run of absolute positions (a single first-last or first-
// range, or several that overlap or touch), that run is downloaded: the
// answer is exactly its part within the blob, or a 416 when it starts past
// the end. Every other header asks for the whole blob (count -1): a suffix
// range needs the size to be placed, ranges with gaps are answered with the
// whole blob or with the part that survives clipping, and an ignored header
// with the whole blob. ServeBlob then sends its answer out of that one
// download, skipping the bytes before it, so that no GET costs a second
// request to the storage.
func upstreamSpan(h string) (offset, count int64) {
	specs, ok := parseRangeSpecs(h)
	if !ok {
		return 0, -1
	}
	for _, s := range specs {
		if s.first < 0 {
			return 0, -1
		}
	}
	// Merge on inclusive last positions; maxInt64 stands for "to the end".
	slices.SortFunc(specs, func(a, b rangeSpec) int { return cmp.Compare(a.first, b.first) })
	end := func(s rangeSpec) int64 {
		if s.last < 0 {
			return maxInt64
		}
		return s.last
	}
	first, last := specs[0].first, end(specs[0])
	for _, s := range specs[1:] {
		if s.first-1 > last {
			return 0, -1 // a gap
		}
		last = max(last, end(s))
	}
	if last == maxInt64 {
		return first, -1
	}
	return first, last - first + 1
}

// maxInt64 is where parseDigits saturates.
const maxInt64 = int64(^uint64(0) >> 1)

// parseDigits reads a non-empty run of ASCII digits, saturating at the
// largest int64 instead of failing: a huge position is simply beyond any blob.
func parseDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (maxInt64-int64(c-'0'))/10 {
			n = maxInt64
			continue
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// coalesce merges overlapping and adjacent ranges (RFC 9110 §14.6 allows
// it) so that the common "overlapping parts" request becomes one range.
func coalesce(rs []byteRange) []byteRange {
	if len(rs) < 2 {
		return rs
	}
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b byteRange) int {
		switch {
		case a.start < b.start:
			return -1
		case a.start > b.start:
			return 1
		}
		return 0
	})
	out := rs[:1]
	for _, r := range rs[1:] {
		p := &out[len(out)-1]
		if r.start <= p.start+p.length {
			p.length = max(p.length, r.start+r.length-p.start)
			continue
		}
		out = append(out, r)
	}
	return out
}

// entityTag is one parsed entity-tag.
type entityTag struct {
	weak   bool
	opaque string // including its quotes
}

// parseETag reads one entity-tag; ok is false for anything malformed.
func parseETag(s string) (entityTag, bool) {
	t := entityTag{}
	if rest, ok := strings.CutPrefix(s, "W/"); ok {
		t.weak, s = true, rest
	}
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' || strings.Contains(s[1:len(s)-1], `"`) {
		return entityTag{}, false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; c < 0x21 || c == 0x7f {
			return entityTag{}, false
		}
	}
	t.opaque = s
	return t, true
}

// normalizeETag returns the blob's ETag as a header value. Azure's ETags
// come quoted; a bare one is quoted here. Anything that cannot be a valid
// entity-tag is dropped rather than sent.
func normalizeETag(e string) string {
	if e == "" {
		return ""
	}
	if !strings.HasPrefix(e, `"`) && !strings.HasPrefix(e, `W/"`) {
		e = `"` + e + `"`
	}
	if _, ok := parseETag(e); !ok {
		return ""
	}
	return e
}

// matchETags reports whether header (a list of entity-tags or "*") matches
// etag, comparing weakly or strongly (RFC 9110 §8.8.3.2).
func matchETags(header, etag string, strong bool) bool {
	cur, ok := parseETag(etag)
	if !ok {
		return false
	}
	s := strings.TrimSpace(header)
	if s == "*" {
		return true
	}
	for s != "" {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			break
		}
		i := 0
		if strings.HasPrefix(s, "W/") {
			i = 2
		}
		if i >= len(s) || s[i] != '"' {
			return false // malformed list: no match
		}
		j := strings.IndexByte(s[i+1:], '"')
		if j < 0 {
			return false
		}
		end := i + 1 + j + 1
		if t, ok := parseETag(s[:end]); ok && t.opaque == cur.opaque && (!strong || !t.weak && !cur.weak) {
			return true
		}
		s = s[end:]
	}
	return false
}

// condition is the outcome of evaluating preconditions (RFC 9110 §13.2.2).
type condition int

const (
	condProceed condition = iota
	condNotModified
	condFailed
)

// evaluate applies If-Match, If-Unmodified-Since, If-None-Match and
// If-Modified-Since in the order RFC 9110 §13.2.2 prescribes.
func evaluate(r *http.Request, etag string, modified time.Time) condition {
	h := r.Header
	if im := h.Get("If-Match"); im != "" {
		if strings.TrimSpace(im) != "*" && !matchETags(im, etag, true) {
			return condFailed
		}
	} else if ius := h.Get("If-Unmodified-Since"); ius != "" && !modified.IsZero() {
		if t, err := http.ParseTime(ius); err == nil && modified.Truncate(time.Second).After(t) {
			return condFailed
		}
	}
	if inm := h.Get("If-None-Match"); inm != "" {
		if strings.TrimSpace(inm) == "*" || matchETags(inm, etag, false) {
			return condNotModified
		}
	} else if ims := h.Get("If-Modified-Since"); ims != "" && !modified.IsZero() {
		if t, err := http.ParseTime(ims); err == nil && !modified.Truncate(time.Second).After(t) {
			return condNotModified
		}
	}
	return condProceed
}

// ifRangeHolds reports whether a Range may be honoured given If-Range: an
// entity-tag must match strongly, a date must equal Last-Modified exactly.
// Anything else, including a weak tag or an unparsable value, means the
// representation changed and the whole body is sent.
func ifRangeHolds(r *http.Request, etag string, modified time.Time) bool {
	ir := strings.TrimSpace(r.Header.Get("If-Range"))
	if ir == "" {
		return true
	}
	if strings.HasPrefix(ir, `"`) || strings.HasPrefix(ir, "W/") {
		t, ok := parseETag(ir)
		return ok && !t.weak && matchETags(ir, etag, true)
	}
	t, err := http.ParseTime(ir)
	return err == nil && !modified.IsZero() && modified.Truncate(time.Second).Equal(t)
}
