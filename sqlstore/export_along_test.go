package sqlstore_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"regexp"
	"testing"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/sqlstore"
)

// TestSnapshotConvertsAlongItsJSON: the conversions requested with a
// snapshot are written by the snapshot's own job, from the JSON as it is
// written, and equal what converting the stored JSON gives; their
// conversion jobs then find them done and leave them as they are.
func TestSnapshotConvertsAlongItsJSON(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := open(t, b.prepare(t, sqlstore.Config{}))
			p := &blobmark.Project{Title: "boxes", LabelConfig: `<View><Image name="image" value="$image"/>
				<RectangleLabels name="box" toName="image"><Label value="Dog"/><Label value="Cat"/></RectangleLabels></View>`}
			if err := db.CreateProject(ctx, p); err != nil {
				t.Fatal(err)
			}
			box := json.RawMessage(`[{"id":"r","from_name":"box","to_name":"image","type":"rectanglelabels","original_width":200,
				"original_height":100,"value":{"x":10,"y":20,"width":50,"height":50,"rectanglelabels":["Dog"]}}]`)
			if _, err := db.ImportTasks(ctx, p.ID, []*blobmark.TaskImport{
				{Data: json.RawMessage(`{"image":"azure-blob://c/a.jpg"}`), Annotations: []*blobmark.Annotation{{Result: box}}},
				{Data: json.RawMessage(`{"image":"azure-blob://c/b.jpg"}`)},
			}); err != nil {
				t.Fatal(err)
			}
			x := &blobmark.ExportSnapshot{ProjectID: p.ID, Filter: blobmark.ExportFilter{AllTasks: true},
				Converted: []blobmark.ConvertedFormat{{ExportType: "COCO"}, {ExportType: "YOLO"}}}
			if err := db.CreateExportSnapshot(ctx, x); err != nil {
				t.Fatal(err)
			}
			if err := db.RunExportSnapshot(ctx, x.ID); err != nil {
				t.Fatal(err)
			}
			got, err := db.FindExportSnapshotByID(ctx, x.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != blobmark.ExportCompleted || len(got.Converted) != 2 {
				t.Fatalf("snapshot %s with %+v", got.Status, got.Converted)
			}
			for _, c := range got.Converted {
				if c.Status != blobmark.ExportCompleted {
					t.Errorf("%s: %s (%s), want converted along with the JSON", c.ExportType, c.Status, c.Traceback)
					continue
				}
				along := readOutput(t, db, x.ID, c.ExportType)
				var fromStored bytes.Buffer
				if err := db.ConvertExportOutput(ctx, x.ID, c.ExportType, &fromStored); err != nil {
					t.Fatal(err)
				}
				if want := zipEntries(t, fromStored.Bytes()); !equalEntries(zipEntries(t, along), want) || len(want) == 0 {
					t.Errorf("%s converted along differs from the stored JSON's conversion:\n%v\nwant\n%v", c.ExportType, zipEntries(t, along), want)
				}
				if err := db.RunExportConversion(ctx, x.ID, c.ExportType); err != nil {
					t.Fatal(err)
				}
				if again := readOutput(t, db, x.ID, c.ExportType); !bytes.Equal(again, along) {
					t.Errorf("%s: its conversion job rewrote an output already converted", c.ExportType)
				}
			}
		})
	}
}

func readOutput(t *testing.T, db *sqlstore.DB, id int64, exportType string) []byte {
	t.Helper()
	r, err := db.OpenExportOutput(t.Context(), id, exportType)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// conversionTime is the one value of a conversion that depends on when it
// ran (COCO's info.date_created).
var conversionTime = regexp.MustCompile(`"date_created":"[^"]*"`)

// zipEntries maps the files of a zip to their contents, conversionTime
// blanked.
func zipEntries(t *testing.T, raw []byte) map[string]string {
	t.Helper()
	z, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatalf("not a zip: %v", err)
	}
	entries := map[string]string{}
	for _, f := range z.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		entries[f.Name] = conversionTime.ReplaceAllString(string(b), `"date_created":""`)
	}
	return entries
}

func equalEntries(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
