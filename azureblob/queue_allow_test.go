package azureblob_test

import (
	"context"
	"strings"
	"testing"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/internal/azuretest"
)

// TestQueueHostIdentitiesRefusedUnlessAllowed: the storage queue client
// applies the same allow-list as blob clients to every auth type that
// uses an identity attached to the server, on the queue service's own
// endpoint; since a queue is not a container, an account entry allows it
// only when it allows the whole account. Secret-based types are not gated.
func TestQueueHostIdentitiesRefusedUnlessAllowed(t *testing.T) {
	env := azuretest.Start(t)
	ctx := context.Background()
	queueEndpoint := env.QueueEndpoint(t)
	configs := map[string]func() azureblob.Config{
		"server_identity":   env.ServerIdentityConfig,
		"managed_identity":  func() azureblob.Config { return env.ManagedIdentityConfig("system") },
		"workload_identity": func() azureblob.Config { return env.WorkloadIdentityConfig(t) },
	}
	for name, cfgFor := range configs {
		t.Run(name, func(t *testing.T) {
			cfg := cfgFor()
			for _, allow := range [][]string{nil, {env.BlobEndpoint + "*"}, {queueEndpoint + "other"}, {"*"}, {azuretest.AccountName + "/*"}} {
				opts := env.Options()
				opts.ServerIdentityAllow = allow
				_, err := azureblob.NewConnector(opts).Queue(ctx, cfg, queueEndpoint+"events")
				if blobmark.ErrorCode(err) != blobmark.EINVALID || !strings.Contains(blobmark.ErrorMessage(err), name) ||
					!strings.Contains(blobmark.ErrorMessage(err), "queue events") {
					t.Fatalf("allow %q: err = %v, want a 400 naming the auth type and the queue", allow, err)
				}
			}
			for _, allow := range [][]string{{queueEndpoint + "*"}, {queueEndpoint + "ev*"}} {
				opts := env.Options()
				opts.ServerIdentityAllow = allow
				if _, err := azureblob.NewConnector(opts).Queue(ctx, cfg, queueEndpoint+"events"); err != nil {
					t.Fatalf("allow %q: queue refused: %v", allow, err)
				}
			}
		})
	}
	t.Run("secret-based types need no allow-list", func(t *testing.T) {
		opts := env.Options()
		opts.ServerIdentityAllow = nil
		conn := azureblob.NewConnector(opts)
		for _, cfg := range []azureblob.Config{env.AccountKeyConfig(), env.ServicePrincipalConfig()} {
			if _, err := conn.Queue(ctx, cfg, "events"); err != nil {
				t.Fatalf("%s refused: %v", cfg.AuthType, err)
			}
		}
	})
}
