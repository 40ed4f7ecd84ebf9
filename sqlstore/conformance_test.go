package sqlstore_test

import (
	"testing"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/sqlstore"
	"github.com/blobmark/blobmark/storetest"
)

// TestConformance runs the shared store suite on every backend; subtest
// names say which one ran (TestConformance/sqlite/…, TestConformance/postgres/…).
func TestConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, func(t *testing.T) storetest.Store {
				return open(t, b.prepare(t, sqlstore.Config{}))
			})
			storetest.RunLabelStream(t, func(t *testing.T, clock blobmark.Clock) storetest.Store {
				return open(t, b.prepare(t, sqlstore.Config{Clock: clock}))
			})
		})
	}
}
