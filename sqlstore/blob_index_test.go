package sqlstore_test

import (
	"slices"
	"testing"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/sqlstore"
)

// TestSourceStorageBlobIndexSettings: metadata_keys, tag_keys and
// tag_filter round-trip through create, update and both reads on every
// backend, and a storage that never set them reads back none.
func TestSourceStorageBlobIndexSettings(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			db := open(t, b.prepare(t, sqlstore.Config{}))
			s := newStorage(t, db)
			got, err := db.FindSourceStorageByID(t.Context(), s.ID)
			if err != nil || got.MetadataKeys != nil || got.TagKeys != nil || got.TagFilter != "" {
				t.Fatalf("new storage: %+v, %v", got, err)
			}
			got.MetadataKeys, got.TagKeys, got.TagFilter = []string{"camera", "Site"}, []string{"*"}, `"split" = 'train'`
			if err := db.UpdateSourceStorage(t.Context(), got); err != nil {
				t.Fatal(err)
			}
			list, err := db.FindSourceStoragesWithSecrets(t.Context(), s.ProjectID)
			if err != nil || len(list) != 1 {
				t.Fatalf("list: %v, %v", list, err)
			}
			if r := list[0]; !slices.Equal(r.MetadataKeys, []string{"camera", "Site"}) || !slices.Equal(r.TagKeys, []string{"*"}) ||
				r.TagFilter != `"split" = 'train'` {
				t.Fatalf("read back %q %q %q", r.MetadataKeys, r.TagKeys, r.TagFilter)
			}
			created := &blobmark.SourceStorage{ProjectID: s.ProjectID, Type: "azure", Container: "c", TagKeys: []string{"split"}}
			if err := db.CreateSourceStorage(t.Context(), created); err != nil {
				t.Fatal(err)
			}
			if r, err := db.FindSourceStorageByID(t.Context(), created.ID); err != nil || !slices.Equal(r.TagKeys, []string{"split"}) || r.MetadataKeys != nil {
				t.Fatalf("created: %+v, %v", r, err)
			}
		})
	}
}
