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
// uses an identity attached to the server; since a queue is not a
// container, only an account-wide entry allows it. Secret-based types are
// not gated.
func TestQueueHostIdentitiesRefusedUnlessAllowed(t *testing.T) {
	env := azuretest.Start(t)
	ctx := context.Background()
	configs := map[string]azureblob.Config{
		"server_identity":   env.ServerIdentityConfig(),
		"managed_identity":  env.ManagedIdentityConfig("system"),
		"workload_identity": env.WorkloadIdentityConfig(t),
	}
	for name, cfg := range configs {
		t.Run(name, func(t *testing.T) {
			for _, allow := range [][]string{nil, {azuretest.AccountName + "/allowed-*"}, {azuretest.AccountName + "/events"},
				{"otheraccount/*"}} {
				opts := env.Options()
				opts.ServerIdentityAllow = allow
				_, err := azureblob.NewConnector(opts).Queue(ctx, cfg, "events")
				if blobmark.ErrorCode(err) != blobmark.EFORBIDDEN || !strings.Contains(blobmark.ErrorMessage(err), name) ||
					!strings.Contains(blobmark.ErrorMessage(err), azuretest.AccountName) {
					t.Fatalf("allow %q: err = %v, want EFORBIDDEN naming the auth type and the account", allow, err)
				}
			}
			for _, allow := range [][]string{{"*"}, {"*/*"}, {azuretest.AccountName + "/*"}, {"devstore*/*"}} {
				opts := env.Options()
				opts.ServerIdentityAllow = allow
				if _, err := azureblob.NewConnector(opts).Queue(ctx, cfg, "events"); err != nil {
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
