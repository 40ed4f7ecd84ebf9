package media

import (
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/blobmark/blobmark"
)

// scheme is the scheme of the blob URIs in task data (blobmark.BlobURIScheme);
// schemePrefix, with its separator, is the form searched for in text.
const (
	scheme       = blobmark.BlobURIScheme
	schemePrefix = scheme + "://"
)

// maxKeyLen is Azure's limit on blob names (1,024 characters); longer keys
// cannot exist, so they are rejected before anything is asked of Azure.
const maxKeyLen = 1024

// BlobRef names one blob. Account is empty for azure-blob:// URIs, which do
// not carry it; the storage that serves the URI supplies it (see PickLocation).
type BlobRef struct {
	Account   string
	Container string
	Key       string
}

// errBadURI is the one answer to any URI blobmark will not resolve. It says
// nothing about why, so a probing client learns nothing from it.
func errBadURI() error {
	return blobmark.FieldErrorf("fileuri", "fileuri is not a blob URI this server resolves")
}

// EncodeFileURI returns the fileuri query value for uri exactly as Label
// Studio writes it: base64url of the UTF-8 bytes, with "=" padding.
func EncodeFileURI(uri string) string {
	return base64.URLEncoding.EncodeToString([]byte(uri))
}

// ResolveURL returns the URL task data carries in place of uri:
// <host>/tasks/<taskID>/resolve/?fileuri=<base64url>. An empty host gives a
// relative URL; a trailing slash on host is dropped, as Label Studio does.
func ResolveURL(host string, taskID int64, uri string) string {
	return string(appendResolveURL(nil, strings.TrimRight(host, "/"), taskID, uri, false))
}

// appendResolveURL appends the resolve URL to dst; host is already trimmed.
// With jsonEscape the host is escaped for use inside a JSON string (the rest
// of the URL never needs escaping).
func appendResolveURL(dst []byte, host string, taskID int64, uri string, jsonEscape bool) []byte {
	if jsonEscape {
		dst = appendJSONChars(dst, host)
	} else {
		dst = append(dst, host...)
	}
	dst = append(dst, "/tasks/"...)
	dst = strconv.AppendInt(dst, taskID, 10)
	dst = append(dst, "/resolve/?fileuri="...)
	return base64.URLEncoding.AppendEncode(dst, []byte(uri))
}

// DecodeFileURI turns the fileuri query value (already query-decoded once by
// the HTTP layer) back into a URI. It accepts base64url and standard base64,
// padded or not, and, like Label Studio, the legacy form where the URI itself
// is sent, raw or percent-encoded. The result always starts with a scheme
// (azure-blob://, https:// or http://) and is valid UTF-8; whether blobmark
// will serve it is for ParseBlobRef and the authorization checks to say.
func DecodeFileURI(param string) (string, error) {
	if param == "" {
		return "", errBadURI()
	}
	if s, ok := decodeBase64URI(param); ok {
		return s, nil
	}
	// Legacy form. Label Studio unquotes the value once more; a value that
	// does not unquote cleanly is taken as it is, as Python's unquote does.
	s := param
	if u, err := url.PathUnescape(param); err == nil {
		s = u
	}
	if looksLikeURI(s) {
		return s, nil
	}
	return "", errBadURI()
}

// decodeBase64URI tries every base64 flavour a client may send. A "+" of
// standard base64 that was not percent-encoded arrives as a space after
// query decoding, so spaces are read back as "+".
func decodeBase64URI(p string) (string, bool) {
	if strings.ContainsAny(p, ":%") { // never in base64; typical of the legacy form
		return "", false
	}
	p = strings.ReplaceAll(p, " ", "+")
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.RawURLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		b, err := enc.DecodeString(p)
		if err != nil {
			continue
		}
		if s := string(b); looksLikeURI(s) {
			return s, true
		}
	}
	return "", false
}

// looksLikeURI reports whether s is valid UTF-8 without control characters
// and starts with one of the schemes blobmark resolves.
func looksLikeURI(s string) bool {
	if !utf8.ValidString(s) || hasControl(s) {
		return false
	}
	return schemeLen(s) > 0
}

// schemeLen returns the length of the "scheme://" s starts with when it is
// one blobmark resolves, else 0: azure-blob, http(s), and the abfs(s) URIs
// of Data Lake Storage Gen2.
func schemeLen(s string) int {
	for _, p := range []string{schemePrefix, "https://", "http://", "abfss://", "abfs://"} {
		if strings.HasPrefix(s, p) {
			return len(p)
		}
	}
	return 0
}

// hasControl reports whether s contains an ASCII control character (C0 or
// DEL); such bytes have no business in a blob name and are a classic way to
// smuggle a second line into a request.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

// ParseBlobRef reads the blob a URI names. It accepts
// azure-blob://<container>/<key> (Account is then empty) and
// http(s) blob URLs under the blob service of one of locs — <ServiceURL>
// <container>/<key>, with the key percent-decoded. A Data Lake Storage Gen2
// address (the dfs endpoint's URL, or abfss://<container>@<account>.dfs…/<key>)
// is read as the same account's blob URL (blobmark.BlobURLOfDataLake)
// and then checked like one. Blob URLs are accepted only
// under a service the caller names, so this package never needs to know
// Azure's cloud host names and never trusts a host it was not told about.
// Anything else is refused with an EINVALID
// error that does not say why: other schemes, hosts that are not a named
// location's service (so a crafted URL can never make blobmark contact an arbitrary
// address), URLs with user info, a query or a fragment, "." or ".." path
// segments, an empty or invalid container, an empty or over-long key,
// control characters and invalid UTF-8.
func ParseBlobRef(uri string, locs ...blobmark.MediaLocation) (BlobRef, error) {
	if !utf8.ValidString(uri) || hasControl(uri) {
		return BlobRef{}, errBadURI()
	}
	if blobURL, ok := blobmark.BlobURLOfDataLake(uri); ok {
		uri = blobURL
	}
	var ref BlobRef
	switch {
	case strings.HasPrefix(uri, schemePrefix):
		container, key, err := blobmark.ParseBlobURI(uri)
		if err != nil {
			return BlobRef{}, errBadURI()
		}
		ref = BlobRef{Container: container, Key: key}
	case strings.HasPrefix(uri, "https://"), strings.HasPrefix(uri, "http://"):
		r, ok := parseServiceURL(uri, locs)
		if !ok {
			return BlobRef{}, errBadURI()
		}
		ref = r
	default:
		return BlobRef{}, errBadURI()
	}
	if !validContainer(ref.Container) || !validKey(ref.Key) || !utf8.ValidString(ref.Key) || hasControl(ref.Key) {
		return BlobRef{}, errBadURI()
	}
	return ref, nil
}

// parseServiceURL matches a blob URL against the locations' blob services.
func parseServiceURL(uri string, locs []blobmark.MediaLocation) (BlobRef, bool) {
	u, err := url.Parse(uri)
	if err != nil || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "" {
		return BlobRef{}, false
	}
	path := u.EscapedPath()
	for _, s := range locs {
		su, err := url.Parse(s.ServiceURL)
		if err != nil || s.Account == "" || su.Host == "" || !strings.EqualFold(su.Scheme, u.Scheme) || !sameHost(su, u) {
			continue
		}
		base := su.EscapedPath()
		if !strings.HasSuffix(base, "/") {
			base += "/"
		}
		rest, ok := strings.CutPrefix(path, base)
		if !ok {
			continue
		}
		container, escKey, ok := strings.Cut(rest, "/")
		if !ok {
			return BlobRef{}, false
		}
		key, err := url.PathUnescape(escKey)
		if err != nil {
			return BlobRef{}, false
		}
		return BlobRef{Account: s.Account, Container: container, Key: key}, true
	}
	return BlobRef{}, false
}

// sameHost compares hosts case-insensitively, treating an explicit default
// port as absent.
func sameHost(a, b *url.URL) bool {
	return strings.EqualFold(a.Hostname(), b.Hostname()) && effectivePort(a) == effectivePort(b)
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}

// validContainer applies Azure's container naming rules (3–63 lowercase
// letters, digits and single hyphens, starting and ending with a letter or
// digit) plus the three special containers. A name outside them cannot
// exist, so refusing it early costs nothing and closes odd paths.
func validContainer(c string) bool {
	switch c {
	case "$root", "$web", "$logs":
		return true
	}
	if len(c) < 3 || len(c) > 63 || c[0] == '-' || c[len(c)-1] == '-' || strings.Contains(c, "--") {
		return false
	}
	for i := 0; i < len(c); i++ {
		ch := c[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-') {
			return false
		}
	}
	return true
}

// validKey refuses empty and over-long keys and any "." or ".." segment;
// Azure treats a backslash like a slash in blob URLs, so both separate
// segments here.
func validKey(k string) bool {
	if k == "" || utf8.RuneCountInString(k) > maxKeyLen {
		return false
	}
	for seg := range strings.FieldsFuncSeq(k, func(r rune) bool { return r == '/' || r == '\\' }) {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// UnderPrefix reports whether ref lies in container under prefix, the
// project-level check of /projects/{id}/resolve/. The prefix is read as a
// folder the way imports read it ("data" covers "data/x", never "data2/x");
// an empty prefix covers the whole container.
func UnderPrefix(ref BlobRef, container, prefix string) bool {
	if ref.Container != container || ref.Key == "" {
		return false
	}
	if prefix = strings.TrimRight(prefix, "/"); prefix == "" {
		return true
	}
	return strings.HasPrefix(ref.Key, prefix+"/") && len(ref.Key) > len(prefix)+1
}

// PickLocation chooses the storage that serves ref. A blob URL (Account set)
// is served only by a storage of the same account and container. An
// azure-blob:// URI names no account, so the task's own source storage
// (sourceID, 0 when none) is preferred; failing that, storages with the
// container are used only when they all belong to one account — same-named
// containers in two accounts are ambiguous and refused rather than guessed.
// Among equal candidates one whose prefix covers the key wins.
func PickLocation(ref BlobRef, locs []blobmark.MediaLocation, sourceID int64) (blobmark.MediaLocation, bool) {
	var found []blobmark.MediaLocation
	for _, l := range locs {
		if l.Container != ref.Container {
			continue
		}
		if ref.Account != "" && !strings.EqualFold(l.Account, ref.Account) {
			continue
		}
		if sourceID != 0 && l.StorageID == sourceID {
			return l, true
		}
		found = append(found, l)
	}
	if len(found) == 0 {
		return blobmark.MediaLocation{}, false
	}
	for _, l := range found[1:] {
		if !strings.EqualFold(l.Account, found[0].Account) || l.ServiceURL != found[0].ServiceURL {
			return blobmark.MediaLocation{}, false
		}
	}
	for _, l := range found {
		if UnderPrefix(ref, l.Container, l.Prefix) {
			return l, true
		}
	}
	return found[0], true
}

// Matcher returns the match function Rewrite wants: it reports whether an
// http(s) URL is a blob URL that one of locs covers by account and
// container. A nil result (no locations) makes Rewrite leave such URLs alone.
func Matcher(locs []blobmark.MediaLocation) func(uri string) bool {
	if len(locs) == 0 {
		return nil
	}
	return func(uri string) bool {
		ref, err := ParseBlobRef(uri, locs...)
		if err != nil {
			return false
		}
		_, ok := PickLocation(ref, locs, 0)
		return ok
	}
}
