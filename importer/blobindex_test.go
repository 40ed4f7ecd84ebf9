package importer

import (
	"context"
	"testing"

	"github.com/blobmark/blobmark"
)

// TestBlobIndexOptionsAreValidated: each misuse of metadata_keys, tag_keys
// and tag_filter is refused on the field at fault, and the good settings
// pass.
func TestBlobIndexOptionsAreValidated(t *testing.T) {
	files := Options{Container: "c", UseBlobURLs: true}
	with := func(f func(o *Options)) Options { o := files; f(&o); return o }
	for name, c := range map[string]struct {
		o     Options
		field string
	}{
		"files mode, lists":       {with(func(o *Options) { o.MetadataKeys, o.TagKeys = []string{"camera"}, []string{"split"} }), ""},
		"all of them":             {with(func(o *Options) { o.MetadataKeys, o.TagKeys = []string{"*"}, []string{"*"} }), ""},
		"filter with tags":        {with(func(o *Options) { o.TagFilter, o.TagKeys = `"split" = 'train'`, []string{"*"} }), ""},
		"tasks mode, filter":      {Options{Container: "c", TagFilter: `"split" >= '2024'`}, ""},
		"tasks mode, metadata":    {Options{Container: "c", MetadataKeys: []string{"camera"}}, "metadata_keys"},
		"tasks mode, tags":        {Options{Container: "c", TagKeys: []string{"*"}}, "tag_keys"},
		"star and names":          {with(func(o *Options) { o.MetadataKeys = []string{"*", "camera"} }), "metadata_keys"},
		"blank name":              {with(func(o *Options) { o.TagKeys = []string{" "} }), "tag_keys"},
		"unclosed value":          {with(func(o *Options) { o.TagFilter = `"split" = 'train` }), "tag_filter"},
		"unclosed name":           {with(func(o *Options) { o.TagFilter = `"split = 'train'` }), "tag_filter"},
		"no comparison":           {with(func(o *Options) { o.TagFilter = `"split"` }), "tag_filter"},
		"filter and sync_deleted": {with(func(o *Options) { o.TagFilter, o.SyncDeleted = `"a" = 'b'`, true }), "sync_deleted"},
		"filter and sync_changed": {with(func(o *Options) { o.TagFilter, o.SyncChanged = `"a" = 'b'`, true }), "sync_changed"},
		"filter and metadata":     {with(func(o *Options) { o.TagFilter, o.MetadataKeys = `"a" = 'b'`, []string{"camera"} }), "metadata_keys"},
	} {
		t.Run(name, func(t *testing.T) {
			err := c.o.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var e *blobmark.Error
			if !asError(err, &e) || e.Code != blobmark.EINVALID || len(e.Fields[c.field]) == 0 || len(e.Fields) != 1 {
				t.Fatalf("Validate = %#v, want EINVALID on %s only", err, c.field)
			}
		})
	}
}

// TestFileTaskCopiesTheSelectedMetadataAndTags: named metadata are matched
// without regard to case (Azure's rule) and keep the configured name, a
// missing one is left out, "*" copies every tag, and a storage that selects
// nothing keeps Label Studio's data exactly.
func TestFileTaskCopiesTheSelectedMetadataAndTags(t *testing.T) {
	o := Object{Key: "img/a&b.jpg", Metadata: map[string]string{"camera": "c<1>", "other": "x"}, Tags: map[string]string{"split": "train", "n": "1"}}
	src := &Source{Container: "media", MetadataKeys: []string{"Camera", "absent"}, TagKeys: []string{"*"}}
	want := `{"$undefined$":"azure-blob://media/img/a&b.jpg","blob_metadata":{"Camera":"c<1>"},"blob_tags":{"n":"1","split":"train"}}`
	if got := string(src.fileTask(o).Data); got != want {
		t.Errorf("data = %s\nwant   %s", got, want)
	}
	src = &Source{Container: "media", TagKeys: []string{"camera"}}
	if got, want := string(src.fileTask(o).Data), `{"$undefined$":"azure-blob://media/img/a&b.jpg","blob_tags":{}}`; got != want {
		t.Errorf("data = %s, want %s", got, want)
	}
	src = &Source{Container: "media"}
	if got, want := string(src.fileTask(o).Data), string(FileTask("media", o.Key).Data); got != want {
		t.Errorf("without options, data = %s, want %s", got, want)
	}
	if req := src.listRequest(); req.Metadata || req.Tags || req.TagFilter != "" {
		t.Errorf("without options the listing asks for %+v", req)
	}
}

// TestEventsLeaveNewBlobsToTheListing: an event names a blob, not its
// metadata, tags or whether a tag filter matches it, so a storage that
// needs those creates no task from an event; the next sync does.
func TestEventsLeaveNewBlobsToTheListing(t *testing.T) {
	for _, o := range []Options{
		{UseBlobURLs: true, MetadataKeys: []string{"camera"}},
		{UseBlobURLs: true, TagFilter: `"split" = 'train'`},
	} {
		sink := newSink()
		p, err := ApplyEvents(context.Background(), source(t, 1, o), nil, sink, []BlobEvent{{Key: "a.jpg", ETag: "e", Size: 1}})
		if err != nil {
			t.Fatal(err)
		}
		if p.KeysSkipped != 1 || sink.check(t) != 0 {
			t.Errorf("%+v: progress %+v, %d tasks; want the event skipped", o, p, sink.check(t))
		}
	}
}
