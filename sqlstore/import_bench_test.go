package sqlstore_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/sqlstore"
)

// BenchmarkImportTasks imports 10,000 tasks per iteration through the store
// and, as the yardstick, the same rows through bare batched INSERTs of the
// same size; it reports the store's share of the bare speed as "ratio".
func BenchmarkImportTasks(b *testing.B) {
	const n = 10000
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			cfg := be.prepare(b, sqlstore.Config{})
			db, err := sqlstore.Open(b.Context(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			imports := make([]*blobmark.TaskImport, n)
			for i := range imports {
				imports[i] = &blobmark.TaskImport{Data: json.RawMessage(fmt.Sprintf(`{"image":"azure-blob://container/images/%08d.jpg"}`, i))}
			}
			var store, bare time.Duration
			round := 0
			for b.Loop() {
				p := &blobmark.Project{Title: "bench"}
				if err := db.CreateProject(b.Context(), p); err != nil {
					b.Fatal(err)
				}
				viaStore := func() {
					start := time.Now()
					if _, err := db.ImportTasks(b.Context(), p.ID, imports); err != nil {
						b.Fatal(err)
					}
					store += time.Since(start)
				}
				viaBare := func() {
					start := time.Now()
					bareInsert(b, db, p.ID, imports)
					bare += time.Since(start)
				}
				// Alternate which goes first, so neither always meets the
				// larger table.
				if round++; round%2 == 0 {
					viaStore()
					viaBare()
				} else {
					viaBare()
					viaStore()
				}
			}
			b.ReportMetric(bare.Seconds()/store.Seconds(), "ratio")
		})
	}
}

// bareInsert is the physical limit: the same rows, the same schema, the same
// statement size, in one transaction, with nothing else.
func bareInsert(b *testing.B, db *sqlstore.DB, projectID int64, imports []*blobmark.TaskImport) {
	cols := []string{"project_id", "inner_id", "data", "meta", "is_labeled", "total_annotations", "cancelled_annotations", "total_predictions", "created_at", "updated_at"}
	per := 10000 / len(cols)
	tx, err := db.SQL().BeginTx(b.Context(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	now := time.Now().UTC()
	tuple := "(" + strings.Repeat("?, ", len(cols)-1) + "?)"
	for start := 0; start < len(imports); start += per {
		end := min(start+per, len(imports))
		q := "INSERT INTO tasks (" + strings.Join(cols, ", ") + ") VALUES " + strings.Repeat(tuple+", ", end-start-1) + tuple
		args := make([]any, 0, (end-start)*len(cols))
		for i := start; i < end; i++ {
			args = append(args, projectID, int64(1_000_000+i), string(imports[i].Data), "{}", false, 0, 0, 0, now, now)
		}
		if _, err := tx.ExecContext(b.Context(), db.Rebind(q), args...); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}
