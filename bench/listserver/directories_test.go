package listserver

import (
	"context"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// listed is one entry of a listing as the Azure SDK parsed it.
type listed struct {
	name      string
	directory bool // ResourceType directory
	isFolder  bool // hdi_isfolder=true metadata
}

// listAll lists every page of a flat or hierarchical listing.
func listAll(t *testing.T, c *container.Client, prefix string, hierarchy, metadata bool) (blobs []listed, prefixes []string) {
	t.Helper()
	ctx := context.Background()
	add := func(items []*container.BlobItem) {
		for _, b := range items {
			l := listed{name: *b.Name, directory: b.Properties.ResourceType != nil && *b.Properties.ResourceType == "directory"}
			if v := b.Metadata["hdi_isfolder"]; v != nil && *v == "true" {
				l.isFolder = true
			}
			blobs = append(blobs, l)
		}
	}
	include := container.ListBlobsInclude{Metadata: metadata}
	if hierarchy {
		p := c.NewListBlobsHierarchyPager("/", &container.ListBlobsHierarchyOptions{Prefix: to.Ptr(prefix), MaxResults: to.Ptr(int32(3)), Include: include})
		for p.More() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			add(page.Segment.BlobItems)
			for _, bp := range page.Segment.BlobPrefixes {
				prefixes = append(prefixes, *bp.Name)
			}
		}
		return blobs, prefixes
	}
	p := c.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: to.Ptr(prefix), MaxResults: to.Ptr(int32(1000)), Include: include})
	for p.More() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		add(page.Segment.BlobItems)
	}
	return blobs, nil
}

func TestDirectoriesAreListedLikeAHierarchicalNamespace(t *testing.T) {
	srv := Start(25000, WithDirectories())
	defer srv.Close()
	c := mustAnon(t, srv.ContainerURL)

	// Flat: every directory once, in name order, before its first blob,
	// whatever the page boundaries; hdi_isfolder only when asked for.
	for _, metadata := range []bool{true, false} {
		blobs, _ := listAll(t, c, "", false, metadata)
		var dirs []string
		files := 0
		for i, b := range blobs {
			if i > 0 && blobs[i-1].name >= b.name {
				t.Fatalf("listing out of order at %s", b.name)
			}
			if !b.directory {
				files++
				continue
			}
			if b.isFolder != metadata {
				t.Fatalf("directory %s: hdi_isfolder %v with include metadata %v", b.name, b.isFolder, metadata)
			}
			dirs = append(dirs, b.name)
		}
		if want := []string{"img", "img/000", "img/001", "img/002"}; files != 25000 || !equal(dirs, want) {
			t.Fatalf("metadata %v: %d files, directories %v; want 25000 and %v", metadata, files, dirs, want)
		}
	}

	// Hierarchical: a directory is a blob at its parent's level, next to
	// the prefix of its contents.
	blobs, prefixes := listAll(t, c, "img/", true, true)
	var names []string
	for _, b := range blobs {
		if !b.directory || !b.isFolder {
			t.Fatalf("hierarchy under img/: %+v is not a directory", b)
		}
		names = append(names, b.name)
	}
	if want := []string{"img/000", "img/001", "img/002"}; !equal(names, want) || !equal(prefixes, []string{"img/000/", "img/001/", "img/002/"}) {
		t.Fatalf("hierarchy under img/: blobs %v, prefixes %v", names, prefixes)
	}

	// A prefix inside a directory does not list the directory itself.
	if blobs, _ := listAll(t, c, "img/001/", false, true); len(blobs) != 10000 || blobs[0].directory {
		t.Fatalf("under img/001/: %d entries, first %+v", len(blobs), blobs[0])
	}
}
