package jobs_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/egress"
	"github.com/blobmark/blobmark/internal/azuretest"
)

// TestProxyCarriesWebhookDeliveries checks that deliveries go through the
// proxy, and that one to a refused address fails before reaching it.
func TestProxyCarriesWebhookDeliveries(t *testing.T) {
	db := openStore(t, t.TempDir())
	t.Cleanup(func() { db.Close() })
	proxy := azuretest.StartProxy(t)
	hook := newReceiver(t, nil)
	p := webhookProject(t, db, "proxied")
	createWebhook(t, db, p, hook.URL, nil)
	refused := createWebhook(t, db, p, "http://169.254.169.254/hook", nil)
	startWebhookJobsVia(t, db, (&egress.Guard{AllowPrivate: true,
		Proxy: func(*url.URL) (*url.URL, error) { return proxy.URL, nil }}).Transport())

	if _, err := db.ImportTasks(context.Background(), p, []*blobmark.TaskImport{{Data: json.RawMessage(`{"text":"a"}`)}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the delivery", func() bool { return len(hook.got()) == 1 })
	waitFor(t, "the refused delivery's record", func() bool {
		log, _ := db.FindWebhookDeliveries(context.Background(), refused.ID, 10)
		return len(log) > 0 && strings.Contains(log[0].Error, "not allowed")
	})
	if n := proxy.Count(hook.Listener.Addr().String()); n != 1 || proxy.Total() != 1 {
		t.Fatalf("proxy saw %d tunnels to the receiver and %d requests in all, want 1 and 1", n, proxy.Total())
	}
}
