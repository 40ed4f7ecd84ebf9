package azuretest

import (
	"os"
	"strconv"
	"sync"
	"testing"
)

// queueService is Azurite's queue service, started on first use by the
// tests that need it.
type queueService struct {
	once sync.Once
	a    *azurite
	err  error
}

func (q *queueService) stop() {
	if q.a != nil {
		q.a.stop()
		os.RemoveAll(q.a.dir)
	}
}

// QueueEndpoint starts Azurite's queue service (HTTPS, OAuth, the same
// certificate and accounts as the blob service) on first use and returns
// its product-style URL, https://devstoreaccount1.queue.localhost:PORT/,
// which HTTPClient dials on loopback.
func (e *Env) QueueEndpoint(tb testing.TB) string {
	tb.Helper()
	e.queue.once.Do(func() {
		e.queue.a, e.queue.err = startAzuriteService(e.srvCert, "queue")
	})
	if e.queue.err != nil {
		tb.Fatal(e.queue.err)
	}
	return "https://" + AccountName + ".queue.localhost:" + strconv.Itoa(e.queue.a.port) + "/"
}
