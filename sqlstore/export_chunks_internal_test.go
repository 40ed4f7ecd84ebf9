package sqlstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/json"
	"fmt"
	"io"
	"testing"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/internal/pgtest"
)

// TestExportChunksCompressed: a snapshot's JSON, several chunks long, is
// stored compressed and reads back as the project's export with the MD5
// of what it reads; an output stored before compression (none named)
// still reads as it is, and one of a compression this version does not
// know is an error rather than bytes it cannot decode.
func TestExportChunksCompressed(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(t *testing.T) Config
	}{
		{"sqlite", func(t *testing.T) Config { return Config{DataDir: t.TempDir()} }},
		{"postgres", func(t *testing.T) Config { return Config{DatabaseURL: pgtest.Schema(t, "chunks")} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, err := Open(ctx, tc.cfg(t))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			p := &blobmark.Project{Title: "p"}
			if err := db.CreateProject(ctx, p); err != nil {
				t.Fatal(err)
			}
			tasks := make([]*blobmark.TaskImport, 3000)
			for i := range tasks {
				tasks[i] = &blobmark.TaskImport{Data: json.RawMessage(fmt.Sprintf(`{"text":"task %d of a project whose export spans chunks"}`, i))}
			}
			if _, err := db.ImportTasks(ctx, p.ID, tasks); err != nil {
				t.Fatal(err)
			}
			var want bytes.Buffer
			if err := db.ExportProject(ctx, p.ID, blobmark.ExportJSON, blobmark.ExportFilter{AllTasks: true}, &want); err != nil {
				t.Fatal(err)
			}
			if want.Len() <= exportChunkSize {
				t.Fatalf("the export is %d bytes, too small to span chunks", want.Len())
			}
			x := &blobmark.ExportSnapshot{ProjectID: p.ID, Filter: blobmark.ExportFilter{AllTasks: true}}
			if err := db.CreateExportSnapshot(ctx, x); err != nil {
				t.Fatal(err)
			}
			if err := db.RunExportSnapshot(ctx, x.ID); err != nil {
				t.Fatal(err)
			}
			for _, read := range []func(io.Reader) ([]byte, error){io.ReadAll, copyAll} {
				if got := readExportOutput(t, db, x.ID, read); !bytes.Equal(got, want.Bytes()) {
					t.Fatalf("stored output (%d bytes) differs from the export (%d bytes)", len(got), want.Len())
				}
			}
			if s, err := db.FindExportSnapshotByID(ctx, x.ID); err != nil || s.MD5 != fmt.Sprintf("%x", md5.Sum(want.Bytes())) {
				t.Fatalf("md5 %v, %v", s, err)
			}
			var outputID, chunks, stored int64
			var compression string
			if err := db.queryRow(ctx, `SELECT o.id, o.compression, COUNT(*), SUM(LENGTH(c.data)) FROM export_outputs o
				JOIN export_output_chunks c ON c.output_id = o.id WHERE o.snapshot_id = ? GROUP BY o.id, o.compression`, x.ID).
				Scan(&outputID, &compression, &chunks, &stored); err != nil {
				t.Fatal(err)
			}
			if compression != chunkCompression || chunks != int64(want.Len()+exportChunkSize-1)/exportChunkSize || stored > int64(want.Len())/4 {
				t.Fatalf("%d bytes stored in %d chunks (%q) for %d bytes of output", stored, chunks, compression, want.Len())
			}

			// The same output as it was stored before compression.
			setChunks := func(compression string) {
				t.Helper()
				if err := db.inTx(ctx, "store chunks as they are", func(tx *Tx) error {
					if _, err := tx.exec(ctx, "UPDATE export_outputs SET compression = ? WHERE id = ?", compression, outputID); err != nil {
						return err
					}
					if _, err := tx.exec(ctx, "DELETE FROM export_output_chunks WHERE output_id = ?", outputID); err != nil {
						return err
					}
					for seq, rest := 0, want.Bytes(); len(rest) > 0; seq++ {
						n := min(len(rest), exportChunkSize)
						if _, err := tx.exec(ctx, "INSERT INTO export_output_chunks (output_id, seq, data) VALUES (?, ?, ?)",
							outputID, seq, rest[:n]); err != nil {
							return err
						}
						rest = rest[n:]
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			setChunks("")
			if got := readExportOutput(t, db, x.ID, copyAll); !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("output stored uncompressed reads %d bytes, want the %d stored", len(got), want.Len())
			}
			setChunks("zstd")
			if _, err := db.OpenExportOutput(ctx, x.ID, blobmark.ExportJSON); blobmark.ErrorCode(err) != blobmark.EINTERNAL {
				t.Fatalf("output of an unknown compression opened: %v", err)
			}
		})
	}
}

// readExportOutput reads a snapshot's JSON output with read.
func readExportOutput(t *testing.T, db *DB, id int64, read func(io.Reader) ([]byte, error)) []byte {
	t.Helper()
	r, err := db.OpenExportOutput(context.Background(), id, blobmark.ExportJSON)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := read(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// copyAll reads r through io.Copy, which reads a chunkReader through its
// WriteTo, as a download does.
func copyAll(r io.Reader) ([]byte, error) {
	var b bytes.Buffer
	_, err := io.Copy(&b, r)
	return b.Bytes(), err
}
