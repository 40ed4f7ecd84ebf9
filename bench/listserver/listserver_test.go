package listserver

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/blobmark/blobmark/lswire"
)

func TestNamesSortInIndexOrder(t *testing.T) {
	if Name(1) != "img/000/0000001.jpg" || Name(1234567) != "img/123/1234567.jpg" {
		t.Fatalf("Name(1) = %s, Name(1234567) = %s", Name(1), Name(1234567))
	}
	idx := []int{0, 1, 9, 10, 9999, 10000, 10001, 99999, 100000, 999999, 1000000, MaxNames - 1}
	names := make([]string, len(idx))
	for i, v := range idx {
		names[i] = Name(v)
	}
	if !sort.StringsAreSorted(names) {
		t.Fatalf("names are not in index order: %v", names)
	}
}

// sharedKeyClient builds a container client the way blobmark does for an
// account-key storage; the server accepts any signature.
func sharedKeyClient(t *testing.T, url string) *container.Client {
	t.Helper()
	cred, err := azblob.NewSharedKeyCredential(DefaultAccount, base64.StdEncoding.EncodeToString([]byte("not-a-real-key")))
	if err != nil {
		t.Fatal(err)
	}
	c, err := container.NewClientWithSharedKeyCredential(url, cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAzureSDKListsEveryNameInPages(t *testing.T) {
	const n = 12345
	srv := Start(n)
	defer srv.Close()
	ctx := context.Background()

	for name, c := range map[string]*container.Client{
		"shared key": sharedKeyClient(t, srv.ContainerURL),
		"anonymous":  mustAnon(t, srv.ContainerURL),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := c.GetProperties(ctx, nil); err != nil {
				t.Fatalf("GetProperties: %v", err)
			}
			before := srv.Handler.ListCalls()
			pager := c.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{MaxResults: to.Ptr(int32(1000))})
			got, pages := 0, 0
			for pager.More() {
				page, err := pager.NextPage(ctx)
				if err != nil {
					t.Fatalf("NextPage: %v", err)
				}
				pages++
				for _, b := range page.Segment.BlobItems {
					if *b.Name != Name(got) {
						t.Fatalf("blob %d = %s, want %s", got, *b.Name, Name(got))
					}
					if *b.Properties.ContentLength != DefaultBlobSize || b.Properties.ETag == nil || b.Properties.LastModified == nil {
						t.Fatalf("blob %d properties = %+v", got, b.Properties)
					}
					got++
				}
			}
			if got != n || pages != 13 || srv.Handler.ListCalls()-before != 13 {
				t.Fatalf("listed %d names in %d pages (%d calls), want %d in 13", got, pages, srv.Handler.ListCalls()-before, n)
			}
		})
	}
}

func mustAnon(t *testing.T, url string) *container.Client {
	t.Helper()
	c, err := container.NewClientWithNoCredential(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPrefixAndDelimiter(t *testing.T) {
	srv := Start(35000, WithContainer("media"), WithBlobSize(7))
	defer srv.Close()
	c := mustAnon(t, srv.ContainerURL)
	ctx := context.Background()

	// A prefix selects a contiguous range, found without scanning from the start.
	pager := c.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: to.Ptr("img/002/"), MaxResults: to.Ptr(int32(3000))})
	var names []string
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range page.Segment.BlobItems {
			names = append(names, *b.Name)
		}
	}
	if len(names) != 10000 || names[0] != Name(20000) || names[9999] != Name(29999) {
		t.Fatalf("prefix img/002/: %d names, first %v", len(names), names[:1])
	}

	// With a delimiter the virtual directories come back as prefixes.
	hp := c.NewListBlobsHierarchyPager("/", &container.ListBlobsHierarchyOptions{Prefix: to.Ptr("img/"), MaxResults: to.Ptr(int32(2))})
	var prefixes []string
	blobs := 0
	for hp.More() {
		page, err := hp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Segment.BlobPrefixes {
			prefixes = append(prefixes, *p.Name)
		}
		blobs += len(page.Segment.BlobItems)
	}
	if want := []string{"img/000/", "img/001/", "img/002/", "img/003/"}; blobs != 0 || !equal(prefixes, want) {
		t.Fatalf("hierarchy: prefixes %v, %d blobs; want %v", prefixes, blobs, want)
	}

	// Another container or account does not exist.
	if _, err := mustAnon(t, srv.URL+"/"+DefaultAccount+"/other").GetProperties(ctx, nil); err == nil {
		t.Error("GetProperties of an unknown container succeeded")
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestMillionNamesAreGeneratedNotStored lists a million names over plain
// HTTP (the SDK's XML decoding would dominate the run) and checks count and
// order; the handler itself is built without allocating per name.
func TestMillionNamesAreGeneratedNotStored(t *testing.T) {
	if testing.Short() {
		t.Skip("lists a million names")
	}
	const n = 1_000_000
	if allocs := testing.AllocsPerRun(10, func() { _ = NewHandler(n) }); allocs > 2 {
		t.Fatalf("NewHandler(%d) makes %v allocations, want O(1)", n, allocs)
	}
	srv := Start(n)
	defer srv.Close()
	next, marker, calls := 0, "", 0
	open, closing := []byte("<Blob><Name>"), []byte("</Name>")
	for {
		calls++
		resp, err := http.Get(srv.ContainerURL + "?restype=container&comp=list&maxresults=5000&marker=" + marker)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("page %d: %d %v", calls, resp.StatusCode, err)
		}
		for rest := body; ; {
			i := bytes.Index(rest, open)
			if i < 0 {
				break
			}
			rest = rest[i+len(open):]
			j := bytes.Index(rest, closing)
			if string(rest[:j]) != Name(next) {
				t.Fatalf("name %d = %s, want %s", next, rest[:j], Name(next))
			}
			next++
			rest = rest[j:]
		}
		s, e := bytes.Index(body, []byte("<NextMarker>")), bytes.Index(body, []byte("</NextMarker>"))
		marker = string(body[s+len("<NextMarker>") : e])
		if marker == "" {
			break
		}
		if _, err := strconv.Atoi(marker); err != nil {
			t.Fatalf("marker %q", marker)
		}
	}
	if next != n || calls != n/5000 {
		t.Fatalf("listed %d names in %d pages, want %d in %d", next, calls, n, n/5000)
	}
}

func TestRejectsBadRequests(t *testing.T) {
	srv := Start(10)
	defer srv.Close()
	for _, q := range []string{"?restype=container&comp=list&marker=x", "?restype=container&comp=list&maxresults=0", "?comp=list"} {
		resp, err := http.Get(srv.ContainerURL + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("x-ms-error-code") == "" {
			t.Errorf("%s: %d %q, want 400 with an error code", q, resp.StatusCode, resp.Header.Get("x-ms-error-code"))
		}
	}
}

func TestAzureSDKDownloadsAOneTaskFile(t *testing.T) {
	srv := Start(100, WithBlobSize(200))
	defer srv.Close()
	ctx := context.Background()
	c := sharedKeyClient(t, srv.ContainerURL)
	listed, resp, body := listAndDownload(t, c, 42)
	var task struct{ Text string }
	if err := json.Unmarshal(body, &task); err != nil || task.Text != Name(42) || len(body) != 200 {
		t.Fatalf("body %q (%d bytes): %v", body, len(body), err)
	}
	if *resp.ContentLength != *listed.Properties.ContentLength || strings.Trim(string(*resp.ETag), `"`) != strings.Trim(string(*listed.Properties.ETag), `"`) {
		t.Errorf("download length %d, etag %s; listed %d, %s", *resp.ContentLength, *resp.ETag, *listed.Properties.ContentLength, *listed.Properties.ETag)
	}
	for _, missing := range []string{"img/000/0000100.jpg", "img/000/42.jpg", "nope"} {
		if _, err := c.NewBlobClient(missing).DownloadStream(ctx, nil); err == nil || !strings.Contains(err.Error(), "BlobNotFound") {
			t.Errorf("download of %s: %v, want BlobNotFound", missing, err)
		}
	}
	if srv.Handler.GetCalls() != 1 {
		t.Errorf("get calls = %d, want 1", srv.Handler.GetCalls())
	}
}

// TestTasksPerBlob: each blob is a JSON Lines file of its tasks, as long as
// the listing says, which blobmark's own parser reads as that many tasks.
func TestTasksPerBlob(t *testing.T) {
	srv := Start(10, WithTasksPerBlob(120))
	defer srv.Close()
	listed, _, body := listAndDownload(t, sharedKeyClient(t, srv.ContainerURL), 7)
	if size := *listed.Properties.ContentLength; int64(len(body)) != size {
		t.Fatalf("body of %d bytes, listed as %d", len(body), size)
	}
	tasks, err := lswire.ParseTaskFile(Name(7), bytes.NewReader(body))
	if err != nil || len(tasks) != 120 {
		t.Fatalf("parsed %d tasks: %v", len(tasks), err)
	}
	if got, want := string(tasks[119].Data), `{"text":"img/000/0000007.jpg 00119"}`; got != want {
		t.Fatalf("last task %s, want %s", got, want)
	}
}

// listAndDownload lists the first page of c and downloads blob i: its
// listed item, the download's response and its body.
func listAndDownload(t *testing.T, c *container.Client, i int) (*container.BlobItem, azblob.DownloadStreamResponse, []byte) {
	t.Helper()
	ctx := context.Background()
	page, err := c.NewListBlobsFlatPager(nil).NextPage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.NewBlobClient(Name(i)).DownloadStream(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return page.Segment.BlobItems[i], resp, body
}
