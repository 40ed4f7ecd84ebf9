package sqlstore_test

import (
	"testing"
	"time"

	"github.com/blobmark/blobmark/internal/testclock"
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
			storetest.RunLabelStream(t, func(t *testing.T) (storetest.Store, storetest.Clock) {
				clock := testclock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
				return open(t, b.prepare(t, sqlstore.Config{Clock: clock.Now})), clock
			})
		})
	}
}
