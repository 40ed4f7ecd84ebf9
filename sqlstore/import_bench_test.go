package sqlstore_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/sqlstore"
)

// BenchmarkImportTasks imports 10,000 tasks per iteration through the store
// and, as the yardstick, the same rows through BareInsertTasks; it reports
// the store's share of the bare speed as "ratio" (1 = no overhead).
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
			data := make([]string, n)
			for i := range imports {
				data[i] = string(imports[i].Data)
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
					if err := db.BareInsertTasks(b.Context(), p.ID, 1_000_000, data); err != nil {
						b.Fatal(err)
					}
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
