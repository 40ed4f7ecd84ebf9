package azureblob_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/bench/listserver"
	"github.com/blobmark/blobmark/internal/azuretest"
)

// listserverContainer connects to a synthetic container of n blobs.
func listserverContainer(t *testing.T, n int) (*azureblob.Container, *listserver.Server) {
	t.Helper()
	srv := listserver.Start(n)
	t.Cleanup(srv.Close)
	cfg := azureblob.Config{AuthType: azureblob.AuthAccountKey, AccountName: azuretest.AccountName, AccountKey: azuretest.AccountKey,
		Endpoint: srv.URL + "/" + listserver.DefaultAccount + "/"}
	c, err := azureblob.NewConnector(azureblob.Options{AllowPrivateNetwork: true}).Container(t.Context(), cfg, listserver.DefaultContainer)
	if err != nil {
		t.Fatal(err)
	}
	return c, srv
}

// TestListByTagFilterPagesByMarker: a tag filter lists through Filter
// Blobs, following the markers to the last page, with each blob's matched
// tags. The synthetic server answers it as Azure's REST reference shows,
// which Azurite's paging does not.
func TestListByTagFilterPagesByMarker(t *testing.T) {
	c, srv := listserverContainer(t, 11)
	var names []string
	err := c.List(t.Context(), azureblob.ListOptions{TagFilter: `"parity" = 'odd'`, PageSize: 2, Recursive: true}, func(page []azureblob.BlobItem) error {
		for _, b := range page {
			if b.Tags["parity"] != "odd" {
				t.Errorf("%s has tags %v", b.Name, b.Tags)
			}
			names = append(names, b.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{listserver.Name(1), listserver.Name(3), listserver.Name(5), listserver.Name(7), listserver.Name(9)}
	if !slices.Equal(names, want) || srv.Handler.ListCalls() != 3 {
		t.Fatalf("listed %v in %d requests, want %v in 3", names, srv.Handler.ListCalls(), want)
	}
}

// TestTagFilterRefusedByAzureNamesTheField: Azure's 400 for an expression
// it cannot parse is an EINVALID error on tag_filter with Azure's reason.
func TestTagFilterRefusedByAzureNamesTheField(t *testing.T) {
	c, _ := listserverContainer(t, 3)
	err := c.List(t.Context(), azureblob.ListOptions{TagFilter: `"parity" = 'odd' OR "x" = 'y'`}, func([]azureblob.BlobItem) error { return nil })
	var e *blobmark.Error
	if !errors.As(err, &e) || e.Code != blobmark.EINVALID || e.Field != "tag_filter" || len(e.Fields["tag_filter"]) != 1 {
		t.Fatalf("error = %#v, want EINVALID on tag_filter", err)
	}
	wantError(t, err, blobmark.EINVALID, "tag_filter", "InvalidQueryParameterValue", "Error parsing query")
}
