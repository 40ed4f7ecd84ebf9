package media

import (
	"encoding/json"
	"testing"

	"github.com/blobmark/blobmark"
)

// chinaSvc is an account of a sovereign cloud, whose dfs host differs from
// the public cloud's.
var chinaSvc = blobmark.MediaLocation{Account: "cnacct", ServiceURL: "https://cnacct.blob.core.chinacloudapi.cn/"}

func TestDataLakeReferencesAreBlobReferences(t *testing.T) {
	for uri, want := range map[string]BlobRef{
		"https://acct.dfs.core.windows.net/images/a/b%20c.png":  {Account: "acct", Container: "images", Key: "a/b c.png"},
		"abfss://images@acct.dfs.core.windows.net/a/b%20c.png":  {Account: "acct", Container: "images", Key: "a/b c.png"},
		"abfs://images@acct.dfs.core.windows.net/x.png":         {Account: "acct", Container: "images", Key: "x.png"},
		"abfss://images@cnacct.dfs.core.chinacloudapi.cn/x.png": {Account: "cnacct", Container: "images", Key: "x.png"},
		"https://cnacct.dfs.core.chinacloudapi.cn/images/x.png": {Account: "cnacct", Container: "images", Key: "x.png"},
	} {
		got, err := ParseBlobRef(uri, publicSvc, chinaSvc)
		if err != nil || got != want {
			t.Errorf("ParseBlobRef(%q) = %+v, %v; want %+v", uri, got, err, want)
		}
		if d, err := DecodeFileURI(EncodeFileURI(uri)); err != nil || d != uri {
			t.Errorf("DecodeFileURI(EncodeFileURI(%q)) = %q, %v", uri, d, err)
		}
	}
	// The dfs host of an account no location names is as foreign as its
	// blob host; so is a dfs path that escapes.
	for _, uri := range []string{
		"abfss://images@other.dfs.core.windows.net/x.png",
		"https://other.dfs.core.windows.net/images/x.png",
		"abfss://images@acct.dfs.core.windows.net/../x.png",
		"abfss://images@acct.dfs.example.com/x.png",
		"abfss://acct.dfs.core.windows.net/images/x.png",
	} {
		if ref, err := ParseBlobRef(uri, publicSvc, chinaSvc); err == nil {
			t.Errorf("ParseBlobRef(%q) = %+v, want a refusal", uri, ref)
		}
	}
}

func TestRewriteResolvesDataLakeReferences(t *testing.T) {
	const uri = "abfss://images@acct.dfs.core.windows.net/a.png"
	data := json.RawMessage(`{"image":"` + uri + `","other":"abfss://images@other.dfs.core.windows.net/a.png"}`)
	got, err := Rewrite(data, 7, "https://h.example", Matcher([]blobmark.MediaLocation{located(publicSvc, 1, "images", "")}))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"image":` + jsonStr(res(uri)) + `,"other":"abfss://images@other.dfs.core.windows.net/a.png"}`
	if string(got) != want {
		t.Fatalf("Rewrite = %s\nwant      %s", got, want)
	}
	if !URIInTaskData(data, uri) {
		t.Fatal("the task's own abfss URI is not found in its data")
	}
}
