package media

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/blobmark/blobmark"
)

// Rewrite returns task data with every blob URI replaced by the URL that
// resolves it through blobmark, as Label Studio does on read:
// <host>/tasks/<taskID>/resolve/?fileuri=<padded base64url>.
//
// Every string value at any depth (object keys are left alone) is examined
// the way Label Studio examines it: a value that is a URI once trimmed is
// replaced whole, and otherwise each URI quoted with " or ' inside longer
// text (HTML such as <img src="azure-blob://c/k.png">) is replaced in place.
// azure-blob:// URIs are always rewritten; http(s) URLs (and Data Lake
// abfs(s):// URIs, whole values only) only when match
// reports that a storage of the project covers them (match may be nil).
//
// Everything else — key order, numbers, whitespace, other strings — is
// copied byte for byte, because the walk works on the JSON text instead of
// decoding and re-encoding it. Data without anything to rewrite is returned
// as is, without allocating. Invalid JSON is an EINVALID error.
func Rewrite(data json.RawMessage, taskID int64, host string, match func(uri string) bool) (json.RawMessage, error) {
	if !json.Valid(data) {
		return nil, blobmark.Errorf(blobmark.EINVALID, "task data is not valid JSON")
	}
	withHTTP := match != nil
	if !mayHoldURI(data, withHTTP) {
		return data, nil
	}
	host = strings.TrimRight(host, "/")
	var out []byte
	last := 0
	forEachValueString(data, withHTTP, func(start, end int, s string) {
		pos, begun := 0, false
		eachURI(s, match, false, func(us, ue int) {
			uri := s[us:ue]
			if !begun {
				if out == nil {
					out = make([]byte, 0, len(data)+len(data)/2)
				}
				out = append(out, data[last:start]...)
				out = append(out, '"')
				begun = true
			}
			out = appendJSONChars(out, s[pos:us])
			out = appendResolveURL(out, host, taskID, uri, true)
			pos = ue
		})
		if begun {
			out = appendJSONChars(out, s[pos:])
			out = append(out, '"')
			last = end
		}
	})
	if out == nil {
		return data, nil
	}
	return append(out, data[last:]...), nil
}

// URIInTaskData reports whether uri occurs in the task's data the way
// Rewrite finds URIs: as a whole string value (trimmed) or quoted inside
// text, compared exactly. This is the check that stops a user with access to
// one task from resolving any other blob of the project's storages: only
// URIs the task itself shows can be fetched through it. Invalid JSON holds
// no URI.
func URIInTaskData(data json.RawMessage, uri string) bool {
	if schemeLen(uri) == 0 || len(uri) == schemeLen(uri) {
		return false
	}
	// Without escapes the text must contain uri verbatim.
	if !bytes.Contains(data, []byte(uri)) && bytes.IndexByte(data, '\\') < 0 {
		return false
	}
	if !json.Valid(data) {
		return false
	}
	found := false
	forEachValueString(data, true, func(_, _ int, s string) {
		if found {
			return
		}
		eachURI(s, anyURL, true, func(us, ue int) {
			if s[us:ue] == uri {
				found = true
			}
		})
	})
	return found
}

// mayHoldURI is the cheap pre-check: a URI can only be in data if its scheme
// is there verbatim (http or abfs, for the URLs a match may accept) or some
// characters are \u-escaped.
func mayHoldURI(raw []byte, withHTTP bool) bool {
	return bytes.Contains(raw, []byte(scheme+":")) ||
		withHTTP && (bytes.Contains(raw, []byte("http")) || bytes.Contains(raw, []byte("abfs"))) ||
		bytes.Contains(raw, []byte(`\u`))
}

// forEachValueString calls fn for every string value of valid JSON data
// that may hold a URI, with the token's byte range (quotes included) and its
// decoded text. It relies on data being valid: outside strings no '"' can
// occur, and a string followed by ':' is an object key.
func forEachValueString(data []byte, withHTTP bool, fn func(start, end int, s string)) {
	for i := 0; i < len(data); i++ {
		if data[i] != '"' {
			continue
		}
		start := i
		escaped := false
		i++
		for ; i < len(data) && data[i] != '"'; i++ {
			if data[i] == '\\' {
				escaped = true
				i++
			}
		}
		end := i + 1 // i is at the closing quote
		k := end
		for k < len(data) && (data[k] == ' ' || data[k] == '\t' || data[k] == '\n' || data[k] == '\r') {
			k++
		}
		if k < len(data) && data[k] == ':' {
			continue
		}
		raw := data[start+1 : end-1]
		if !mayHoldURI(raw, withHTTP) {
			continue
		}
		var s string
		if escaped {
			if err := json.Unmarshal(data[start:end], &s); err != nil {
				continue
			}
		} else {
			s = string(raw)
		}
		fn(start, end, s)
	}
}

// anyURL accepts every http(s) URL, for the membership check.
func anyURL(string) bool { return true }

// eachURI calls fn with the byte range of every URI in s, in order. If s,
// trimmed, is a URI, the whole trimmed value is the one URI (keys may
// contain spaces and quotes). Otherwise a URI must be quoted: it starts right
// after ' or " and ends before the same quote, and may not contain a control
// character, '<' or '>' — which keeps an unbalanced quote from swallowing
// the rest of an HTML document. azure-blob:// URIs always count; http(s)
// URLs only when accept (nil: none) says so.
//
// With superset, the quoted URIs inside a whole-value URI are reported too
// (ranges then overlap): the membership check must find every URI that any
// rewrite could have produced, whatever storages matched at the time.
func eachURI(s string, accept func(string) bool, superset bool, fn func(start, end int)) {
	t := strings.TrimSpace(s)
	if n := schemeLen(t); n > 0 && len(t) > n && (n == len(schemePrefix) || accept != nil && accept(t)) {
		off := strings.Index(s, t)
		fn(off, off+len(t))
		if !superset {
			return
		}
	}
	withHTTP := accept != nil
	for i := 0; i < len(s); {
		j := strings.Index(s[i:], "://")
		if j < 0 {
			return
		}
		sep := i + j
		i = sep + 3
		start := -1
		switch {
		case sep >= len(scheme)+1 && s[sep-len(scheme):sep] == scheme:
			start = sep - len(scheme)
		case withHTTP && sep >= len("https")+1 && s[sep-5:sep] == "https":
			start = sep - 5
		case withHTTP && sep >= len("http")+1 && s[sep-4:sep] == "http":
			start = sep - 4
		}
		if start < 1 || (s[start-1] != '"' && s[start-1] != '\'') {
			continue
		}
		q := s[start-1]
		n := strings.IndexByte(s[i:], q)
		if n <= 0 || strings.ContainsAny(s[i:i+n], "<>") || hasControl(s[i:i+n]) {
			continue
		}
		if start+len(scheme) != sep && !accept(s[start:i+n]) {
			continue
		}
		fn(start, i+n)
		i += n + 1
	}
}

// appendJSONChars appends s escaped for the inside of a JSON string. It
// escapes only what JSON requires plus U+2028/U+2029 (which break
// JavaScript string literals), so rewritten values stay as readable as the
// originals.
func appendJSONChars(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == '\u2028' || r == '\u2029' || r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			switch r {
			case utf8.RuneError:
				dst = append(dst, `\ufffd`...)
			default:
				dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}
