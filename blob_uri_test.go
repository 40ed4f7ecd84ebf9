package blobmark_test

import (
	"testing"

	"github.com/blobmark/blobmark"
)

func TestBlobURIRoundTrip(t *testing.T) {
	for _, tt := range []struct{ container, key, uri string }{
		{"images", "a.jpg", "azure-blob://images/a.jpg"},
		{"images", "dir/sub/deeper/x.png", "azure-blob://images/dir/sub/deeper/x.png"},
		{"images", "with space.png", "azure-blob://images/with space.png"},
		{"images", "hash#tag.png", "azure-blob://images/hash#tag.png"},
		{"images", "what?.png", "azure-blob://images/what?.png"},
		{"images", "100%.png", "azure-blob://images/100%.png"},
		{"images", "%2F encoded stays.png", "azure-blob://images/%2F encoded stays.png"},
		{"images", "ünï/cødé 画像.png", "azure-blob://images/ünï/cødé 画像.png"},
		{"images", "trailing/", "azure-blob://images/trailing/"},
		{"images", "/leading", "azure-blob://images//leading"},
		{"$root", "k", "azure-blob://$root/k"},
	} {
		if got := blobmark.FormatBlobURI(tt.container, tt.key); got != tt.uri {
			t.Errorf("FormatBlobURI(%q, %q) = %q, want %q", tt.container, tt.key, got, tt.uri)
		}
		c, k, err := blobmark.ParseBlobURI(tt.uri)
		if err != nil || c != tt.container || k != tt.key {
			t.Errorf("ParseBlobURI(%q) = %q, %q, %v; want %q, %q", tt.uri, c, k, err, tt.container, tt.key)
		}
	}
}

func TestParseBlobURIRefuses(t *testing.T) {
	for _, bad := range []string{
		"",
		"s3://b/k",
		"https://acct.blob.core.windows.net/c/k",
		"azure-blob:/c/k",
		"AZURE-BLOB://c/k",
		" azure-blob://c/k",
		"azure-blob://",
		"azure-blob://c",
		"azure-blob://c/",
		"azure-blob:///k",
	} {
		if c, k, err := blobmark.ParseBlobURI(bad); blobmark.ErrorCode(err) != blobmark.EINVALID {
			t.Errorf("ParseBlobURI(%q) = %q, %q, %v; want EINVALID", bad, c, k, err)
		}
	}
}

func TestBlobURLOfDataLake(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"https://acct.dfs.core.windows.net/", "https://acct.blob.core.windows.net/"},
		{"https://acct.dfs.core.windows.net", "https://acct.blob.core.windows.net/"},
		{"https://acct.dfs.core.windows.net/c/dir/a%20b.jpg", "https://acct.blob.core.windows.net/c/dir/a%20b.jpg"},
		{"https://acct.DFS.core.chinacloudapi.cn/c/k", "https://acct.blob.core.chinacloudapi.cn/c/k"},
		{"https://acct.dfs.core.usgovcloudapi.net/c/k", "https://acct.blob.core.usgovcloudapi.net/c/k"},
		{"abfss://c@acct.dfs.core.windows.net/dir/x.png", "https://acct.blob.core.windows.net/c/dir/x.png"},
		{"abfs://c@acct.dfs.core.windows.net/dir/x.png", "https://acct.blob.core.windows.net/c/dir/x.png"},
		{"abfss://c@acct.dfs.core.usgovcloudapi.net/", "https://acct.blob.core.usgovcloudapi.net/c/"},
		{"abfss://c@acct.dfs.core.chinacloudapi.cn", "https://acct.blob.core.chinacloudapi.cn/c/"},
	} {
		if got, ok := blobmark.BlobURLOfDataLake(tt.in); !ok || got != tt.want {
			t.Errorf("BlobURLOfDataLake(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
	for _, other := range []string{
		"", "azure-blob://c/k", "https://acct.blob.core.windows.net/c/k", "https://dfs.core.windows.net/c/k",
		"https://acct.dfs/c/k", "abfss://acct.dfs.core.windows.net/k", "abfss://c@acct.blob.core.windows.net/k",
		"wasbs://c@acct.blob.core.windows.net/k", "https://acct.dfsx.core.windows.net/c/k",
	} {
		if got, ok := blobmark.BlobURLOfDataLake(other); ok {
			t.Errorf("BlobURLOfDataLake(%q) = %q, want no Data Lake form", other, got)
		}
	}
}
