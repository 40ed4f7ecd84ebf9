package media

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"

	"github.com/blobmark/blobmark"
)

var (
	publicSvc  = blobmark.MediaLocation{Account: "acct", ServiceURL: "https://acct.blob.core.windows.net/"}
	azuriteSvc = blobmark.MediaLocation{Account: "devstoreaccount1", ServiceURL: "http://127.0.0.1:10000/devstoreaccount1/"}
)

func TestParseBlobRef(t *testing.T) {
	tests := []struct {
		name string
		uri  string
		want BlobRef
	}{
		{"azure-blob", "azure-blob://images/a/b.png", BlobRef{Container: "images", Key: "a/b.png"}},
		{"azure-blob raw key chars", "azure-blob://images/dir/a b#1?x=%20.png", BlobRef{Container: "images", Key: "dir/a b#1?x=%20.png"}},
		{"azure-blob unicode", "azure-blob://images/ßnow/☃.jpg", BlobRef{Container: "images", Key: "ßnow/☃.jpg"}},
		{"special container", "azure-blob://$root/a.png", BlobRef{Container: "$root", Key: "a.png"}},
		{"public URL", "https://acct.blob.core.windows.net/images/a/b%20c.png", BlobRef{Account: "acct", Container: "images", Key: "a/b c.png"}},
		{"host case and default port", "https://ACCT.blob.core.windows.net:443/images/k", BlobRef{Account: "acct", Container: "images", Key: "k"}},
		{"escaped hash and question mark", "https://acct.blob.core.windows.net/images/a%23b%3Fc", BlobRef{Account: "acct", Container: "images", Key: "a#b?c"}},
		{"path-style emulator", "http://127.0.0.1:10000/devstoreaccount1/images/x.png", BlobRef{Account: "devstoreaccount1", Container: "images", Key: "x.png"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBlobRef(tt.uri, publicSvc, azuriteSvc)
			if err != nil {
				t.Fatalf("ParseBlobRef(%q): %v", tt.uri, err)
			}
			if got != tt.want {
				t.Fatalf("ParseBlobRef(%q) = %+v, want %+v", tt.uri, got, tt.want)
			}
		})
	}
}

func TestParseBlobRefRejects(t *testing.T) {
	for _, uri := range []string{
		"http://169.254.169.254/metadata/instance",
		"http://169.254.169.254/images/a.png",
		"https://127.0.0.1/images/a.png",
		"file:///etc/passwd",
		"s3://bucket/key",
		"gs://bucket/key",
		"javascript:alert(1)",
		"azure-blob://c/../x",
		"azure-blob://images/../x",
		"azure-blob://images/a/../../x",
		"azure-blob://images/a/./x",
		`azure-blob://images/a\..\x`,
		"azure-blob://images/..",
		"azure-blob:///k",
		"azure-blob://images/",
		"azure-blob://images",
		"azure-blob://",
		"azure-blob://Images/a.png",
		"azure-blob://im_ages/a.png",
		"azure-blob://images/a\nb.png",
		"azure-blob://images/a\x00b.png",
		"azure-blob://images/a\x7fb.png",
		"azure-blob://images/\xff.png",
		"azure-blob://images/" + strings.Repeat("k", maxKeyLen+1),
		"https://other.blob.core.windows.net/images/a.png",              // another account
		"https://acct.blob.core.windows.net.evil.example/images/a.png",  // look-alike host
		"http://acct.blob.core.windows.net/images/a.png",                // scheme differs from the service
		"https://acct.blob.core.windows.net:8443/images/a.png",          // port differs
		"https://acct.blob.core.windows.net/images/a.png?sv=2024&sig=x", // already signed
		"https://acct.blob.core.windows.net/images/a.png#frag",          // fragment
		"https://user:pw@acct.blob.core.windows.net/images/a.png",       // user info
		"https://acct.blob.core.windows.net/images/%2e%2e/secret",       // escaped dot-dot
		"https://acct.blob.core.windows.net/images",                     // no key
		"http://127.0.0.1:10000/otheraccount/images/x.png",              // emulator, other account
		"http://127.0.0.1:10000/devstoreaccount1/images/%zz",            // bad escape
		"https://acct.blob.core.windows.net/images/a%0Ab",               // escaped control
		"HTTPS://acct.blob.core.windows.net/images/a.png?",              // empty query
		"ftp://acct.blob.core.windows.net/images/a.png",                 // scheme
		"azure-blob:/images/a.png",                                      // malformed
		"  azure-blob://images/a.png",                                   // untrimmed
		"",
	} {
		if ref, err := ParseBlobRef(uri, publicSvc, azuriteSvc); err == nil {
			t.Errorf("ParseBlobRef(%q) = %+v, want an error", uri, ref)
		} else if blobmark.ErrorCode(err) != blobmark.EINVALID || strings.Contains(blobmark.ErrorMessage(err), "..") {
			t.Errorf("ParseBlobRef(%q) error = %v, want a plain EINVALID", uri, err)
		}
	}
	if _, err := ParseBlobRef("https://acct.blob.core.windows.net/images/a.png"); err == nil {
		t.Error("a blob URL must be refused when no service is named")
	}
}

// TestCraftedFileURIs follows crafted fileuri values through the whole
// decode-and-parse path a resolve request takes: none may yield a blob.
func TestCraftedFileURIs(t *testing.T) {
	for _, uri := range []string{
		"http://169.254.169.254/metadata/identity/oauth2/token",
		"http://localhost:10000/devstoreaccount1/images/a.png",
		"https://internal.corp/images/a.png",
		"file:///etc/passwd",
		"azure-blob://images/../../etc/passwd",
		"https://other.blob.core.windows.net/images/a.png",
	} {
		for _, param := range []string{EncodeFileURI(uri), base64.RawURLEncoding.EncodeToString([]byte(uri)), url.QueryEscape(uri), uri} {
			decoded, err := DecodeFileURI(param)
			if err != nil {
				continue
			}
			if ref, err := ParseBlobRef(decoded, publicSvc, azuriteSvc); err == nil {
				t.Errorf("fileuri %q resolved to %+v", param, ref)
			}
		}
	}
}

func TestDecodeFileURI(t *testing.T) {
	uri := "azure-blob://images/dir/a b#1?x=%20&y=ü.png"
	tests := []struct {
		name, param, want string
	}{
		{"padded base64url", base64.URLEncoding.EncodeToString([]byte(uri)), uri},
		{"unpadded base64url", base64.RawURLEncoding.EncodeToString([]byte(uri)), uri},
		{"standard base64", base64.StdEncoding.EncodeToString([]byte(uri)), uri},
		{"unpadded standard base64", base64.RawStdEncoding.EncodeToString([]byte(uri)), uri},
		{"standard base64 with + read as space", strings.ReplaceAll(base64.StdEncoding.EncodeToString([]byte("azure-blob://c1/>>>?")), "+", " "), "azure-blob://c1/>>>?"},
		{"legacy raw", "azure-blob://images/a.png", "azure-blob://images/a.png"},
		{"legacy percent-encoded", url.QueryEscape("azure-blob://images/a b.png"), "azure-blob://images/a+b.png"},
		{"legacy path-escaped", url.PathEscape("azure-blob://images/a b.png"), "azure-blob://images/a b.png"},
		{"legacy with stray percent", "azure-blob://images/100%.png", "azure-blob://images/100%.png"},
		{"https URL", EncodeFileURI("https://acct.blob.core.windows.net/c/k"), "https://acct.blob.core.windows.net/c/k"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeFileURI(tt.param)
			if err != nil {
				t.Fatalf("DecodeFileURI(%q): %v", tt.param, err)
			}
			if got != tt.want {
				t.Fatalf("DecodeFileURI(%q) = %q, want %q", tt.param, got, tt.want)
			}
		})
	}
}

func TestDecodeFileURIRejects(t *testing.T) {
	for _, p := range []string{
		"",
		"!!!!",
		"not base64 at all",
		base64.URLEncoding.EncodeToString([]byte("hello world")),             // decodes, but no scheme
		base64.URLEncoding.EncodeToString([]byte("file:///etc/passwd")),      // other scheme
		base64.URLEncoding.EncodeToString([]byte("azure-blob://c/a\nb")),     // control character
		base64.URLEncoding.EncodeToString([]byte("azure-blob://c/\xff\xfe")), // not UTF-8
		"file%3A%2F%2F%2Fetc%2Fpasswd",
		"gs://bucket/key",
	} {
		got, err := DecodeFileURI(p)
		if err == nil {
			t.Errorf("DecodeFileURI(%q) = %q, want an error", p, got)
			continue
		}
		if blobmark.ErrorCode(err) != blobmark.EINVALID {
			t.Errorf("DecodeFileURI(%q) error code = %q, want EINVALID", p, blobmark.ErrorCode(err))
		}
	}
}

// TestEncodeMatchesLabelStudio pins the wire format: Python's
// urlsafe_b64encode of the URI, with padding.
func TestEncodeMatchesLabelStudio(t *testing.T) {
	got := EncodeFileURI("azure-blob://c/a.png")
	if !strings.HasSuffix(got, "=") || strings.ContainsAny(got, "+/") {
		t.Fatalf("EncodeFileURI = %q, want padded base64url", got)
	}
	// The expected values are Python's base64.urlsafe_b64encode output.
	if got != "YXp1cmUtYmxvYjovL2MvYS5wbmc=" {
		t.Fatalf("EncodeFileURI = %q, want Python's urlsafe_b64encode result", got)
	}
	if got := EncodeFileURI("azure-blob://c/ü>?.png"); got != "YXp1cmUtYmxvYjovL2Mvw7w-Py5wbmc=" {
		t.Fatalf("EncodeFileURI = %q, want Python's urlsafe_b64encode result", got)
	}
	if got := ResolveURL("https://label.example.com/", 42, "azure-blob://c/a.png"); got != "https://label.example.com/tasks/42/resolve/?fileuri=YXp1cmUtYmxvYjovL2MvYS5wbmc=" {
		t.Fatalf("ResolveURL = %q", got)
	}
	if got := ResolveURL("", 7, "azure-blob://c/a.png"); got != "/tasks/7/resolve/?fileuri=YXp1cmUtYmxvYjovL2MvYS5wbmc=" {
		t.Fatalf("ResolveURL without host = %q", got)
	}
}

// TestKeysRoundTrip sends awkward keys through the whole chain: rewritten
// URL → query parsing by net/http → DecodeFileURI → ParseBlobRef.
func TestKeysRoundTrip(t *testing.T) {
	for _, key := range []string{
		"plain.png", "with space.png", "hash#1.png", "q?x=1&y=2.png", "pct%20literal.png",
		"ünïcødé/日本語.jpg", "plus+sign.png", "quote'single.png", "semi;colon.png", "emoji😀.png",
		strings.Repeat("long/", 100) + "end.png",
	} {
		uri := "azure-blob://images/" + key
		u, err := url.Parse(ResolveURL("https://h.example", 1, uri))
		if err != nil {
			t.Fatalf("%q: resolve URL does not parse: %v", key, err)
		}
		got, err := DecodeFileURI(u.Query().Get("fileuri"))
		if err != nil {
			t.Fatalf("%q: DecodeFileURI: %v", key, err)
		}
		if got != uri {
			t.Fatalf("%q: round trip gave %q", key, got)
		}
		ref, err := ParseBlobRef(got)
		if err != nil || ref.Container != "images" || ref.Key != key {
			t.Fatalf("%q: ParseBlobRef = %+v, %v", key, ref, err)
		}
	}
}

func TestUnderPrefix(t *testing.T) {
	tests := []struct {
		key, container, prefix string
		want                   bool
	}{
		{"data/a.png", "images", "data", true},
		{"data/a.png", "images", "data/", true},
		{"data/sub/a.png", "images", "data", true},
		{"data2/a.png", "images", "data", false},
		{"data", "images", "data", false},
		{"data/", "images", "data", false},
		{"a.png", "images", "", true},
		{"a.png", "other", "", false},
		{"x/data/a.png", "images", "data", false},
	}
	for _, tt := range tests {
		ref := BlobRef{Container: "images", Key: tt.key}
		if got := UnderPrefix(ref, tt.container, tt.prefix); got != tt.want {
			t.Errorf("UnderPrefix(%q, %q, %q) = %v, want %v", tt.key, tt.container, tt.prefix, got, tt.want)
		}
	}
}

func TestPickLocation(t *testing.T) {
	other := blobmark.MediaLocation{Account: "other", ServiceURL: "https://other.blob.core.windows.net/"}
	locs := []blobmark.MediaLocation{
		located(publicSvc, 1, "images", "a"),
		located(publicSvc, 2, "images", "b"),
		located(other, 3, "shared", ""),
		located(publicSvc, 4, "shared", ""),
		located(other, 5, "solo", ""),
	}
	tests := []struct {
		name   string
		ref    BlobRef
		source int64
		want   int64 // 0: none
	}{
		{"prefix decides among one account", BlobRef{Container: "images", Key: "b/x.png"}, 0, 2},
		{"first when no prefix covers", BlobRef{Container: "images", Key: "c/x.png"}, 0, 1},
		{"source storage wins", BlobRef{Container: "images", Key: "b/x.png"}, 1, 1},
		{"same container in two accounts is ambiguous", BlobRef{Container: "shared", Key: "x"}, 0, 0},
		{"source storage resolves the ambiguity", BlobRef{Container: "shared", Key: "x"}, 3, 3},
		{"blob URL matched by account", BlobRef{Account: "acct", Container: "shared", Key: "x"}, 0, 4},
		{"blob URL of the other account", BlobRef{Account: "other", Container: "shared", Key: "x"}, 0, 3},
		{"blob URL never by container alone", BlobRef{Account: "acct", Container: "solo", Key: "x"}, 0, 0},
		{"source storage of another account does not serve a URL", BlobRef{Account: "acct", Container: "shared", Key: "x"}, 3, 4},
		{"unknown container", BlobRef{Container: "nope", Key: "x"}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := PickLocation(tt.ref, locs, tt.source)
			if tt.want == 0 {
				if ok {
					t.Fatalf("PickLocation = storage %d, want none", got.StorageID)
				}
				return
			}
			if !ok || got.StorageID != tt.want {
				t.Fatalf("PickLocation = %d (ok=%v), want %d", got.StorageID, ok, tt.want)
			}
		})
	}
}

func TestMatcher(t *testing.T) {
	if Matcher(nil) != nil {
		t.Fatal("Matcher without locations must be nil so Rewrite skips URLs")
	}
	m := Matcher([]blobmark.MediaLocation{located(publicSvc, 1, "images", "")})
	for uri, want := range map[string]bool{
		"https://acct.blob.core.windows.net/images/a.png":  true,
		"https://acct.blob.core.windows.net/other/a.png":   false,
		"https://other.blob.core.windows.net/images/a.png": false,
		"https://example.com/images/a.png":                 false,
		"http://169.254.169.254/latest/meta-data":          false,
	} {
		if got := m(uri); got != want {
			t.Errorf("match(%q) = %v, want %v", uri, got, want)
		}
	}
}

// located places a storage of id over container and prefix in the account
// of service.
func located(service blobmark.MediaLocation, id int64, container, prefix string) blobmark.MediaLocation {
	service.StorageID, service.Container, service.Prefix = id, container, prefix
	return service
}
