package azureblob_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/internal/azuretest"
)

// listFails lists a fresh container with cfg and returns the error.
func listFails(t *testing.T, env *azuretest.Env, opts azureblob.Options, cfg azureblob.Config) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := azureblob.NewConnector(opts).Container(ctx, cfg, env.NewContainer(t))
	if err != nil {
		return err
	}
	return c.List(ctx, azureblob.ListOptions{Recursive: true}, func([]azureblob.BlobItem) error { return nil })
}

func wantError(t *testing.T, err error, code string, fragments ...string) {
	t.Helper()
	if blobmark.ErrorCode(err) != code {
		t.Fatalf("error %v: code %q, want %q", err, blobmark.ErrorCode(err), code)
	}
	msg := blobmark.ErrorMessage(err)
	for _, f := range fragments {
		if !strings.Contains(msg, f) {
			t.Fatalf("message %q does not mention %q", msg, f)
		}
	}
}

func TestFailuresHaveSpecificMessages(t *testing.T) {
	env := azuretest.Start(t)
	opts := env.Options()

	t.Run("wrong_account_key", func(t *testing.T) {
		cfg := env.AccountKeyConfig()
		cfg.AccountKey = "d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3"
		wantError(t, listFails(t, env, opts, cfg), blobmark.EUNAUTHORIZED, "rejected the account key", "account_key")
	})
	t.Run("wrong_client_secret", func(t *testing.T) {
		cfg := env.ServicePrincipalConfig()
		cfg.ClientSecret = "not-the-secret"
		wantError(t, listFails(t, env, opts, cfg), blobmark.EUNAUTHORIZED, "rejected the credentials", cfg.ClientID)
	})
	t.Run("expired_client_secret", func(t *testing.T) {
		cfg := env.ServicePrincipalConfigFor(azuretest.App{Secret: "old-secret", SecretExpired: true}, "")
		wantError(t, listFails(t, env, opts, cfg), blobmark.EUNAUTHORIZED, "has expired", "client_secret")
	})
	t.Run("expired_token", func(t *testing.T) {
		cfg := env.ServicePrincipalConfigFor(azuretest.App{Secret: "s3cret-expiring", TokenLifetime: -time.Minute}, "")
		wantError(t, listFails(t, env, opts, cfg), blobmark.EUNAUTHORIZED, "expired")
	})
	t.Run("missing_role", func(t *testing.T) {
		// Azurite does not check roles; a token for another resource is the
		// closest it gets to "authenticated but not allowed".
		cfg := env.ServicePrincipalConfigFor(azuretest.App{Secret: "s3cret-norole", Audience: "api://some-other-api"}, "")
		wantError(t, listFails(t, env, opts, cfg), blobmark.EFORBIDDEN, "Storage Blob Data Reader", "devstoreaccount1/")
	})
	t.Run("unknown_tenant", func(t *testing.T) {
		cfg := env.ServicePrincipalConfig()
		cfg.TenantID = azuretest.NewGUID()
		wantError(t, listFails(t, env, opts, cfg), blobmark.EUNAUTHORIZED, "tenant_id")
	})
	t.Run("unassigned_managed_identity", func(t *testing.T) {
		cfg := env.ManagedIdentityConfig("system")
		cfg.ManagedIdentityClientID = azuretest.NewGUID()
		wantError(t, listFails(t, env, opts, cfg), blobmark.EUNAUTHORIZED, "refused a token", cfg.ManagedIdentityClientID)
	})
	t.Run("unreachable_managed_identity_endpoint", func(t *testing.T) {
		env.UnreachableIdentityEndpoint(t)
		o := opts
		o.IdentityTimeout = 2 * time.Second
		wantError(t, listFails(t, env, o, env.ManagedIdentityConfig("client_id")), blobmark.EUNAVAILABLE, "managed identity")
	})
	t.Run("silent_managed_identity_endpoint", func(t *testing.T) {
		env.HangingIdentityEndpoint(t)
		o := opts
		o.IdentityTimeout = time.Second
		wantError(t, listFails(t, env, o, env.ManagedIdentityConfig("client_id")), blobmark.EUNAVAILABLE, "did not answer within 1s", "identity assigned")
	})
	t.Run("missing_federated_token_file", func(t *testing.T) {
		cfg := env.WorkloadIdentityConfig(t)
		cfg.FederatedTokenFile += ".missing"
		wantError(t, listFails(t, env, opts, cfg), blobmark.EINVALID, "federated_token_file")
	})
	t.Run("unreachable_blob_endpoint", func(t *testing.T) {
		cfg := env.AccountKeyConfig()
		cfg.Endpoint = "https://devstoreaccount1.blob.localhost:1/"
		wantError(t, listFails(t, env, opts, cfg), blobmark.EUNAVAILABLE, "could not reach", "localhost:1")
	})
	t.Run("missing_container", func(t *testing.T) {
		c, err := azureblob.NewConnector(opts).Container(context.Background(), env.AccountKeyConfig(), "no-such-container")
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := c.Exists(context.Background()); ok || err != nil {
			t.Fatalf("Exists = %v, %v; want false, nil", ok, err)
		}
		err = c.List(context.Background(), azureblob.ListOptions{}, func([]azureblob.BlobItem) error { return nil })
		wantError(t, err, blobmark.ENOTFOUND, "no-such-container")
	})
}

func TestTamperedAndExpiredSASRejected(t *testing.T) {
	env := azuretest.Start(t)
	ctx := context.Background()
	conn := azureblob.NewConnector(env.Options())
	name := env.NewContainer(t)
	for _, cfg := range []azureblob.Config{env.AccountKeyConfig(), env.ServicePrincipalConfig()} {
		t.Run(string(cfg.AuthType), func(t *testing.T) {
			c, err := conn.Container(ctx, cfg, name)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.UploadBytes(ctx, "a.txt", []byte("hello"), ""); err != nil {
				t.Fatal(err)
			}
			url, _, err := c.SignURL(ctx, "a.txt", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if status, _ := get(t, env, url); status != 200 {
				t.Fatalf("valid SAS: %d", status)
			}
			for what, bad := range map[string]string{
				"signature":  strings.Replace(url, "sig=", "sig=A", 1),
				"permission": strings.Replace(url, "sp=r", "sp=rw", 1),
				"blob":       strings.Replace(url, "/a.txt?", "/b.txt?", 1),
			} {
				if status, _ := get(t, env, bad); status != 403 {
					t.Errorf("SAS with tampered %s: %d, want 403", what, status)
				}
			}
			short, _, err := c.SignURL(ctx, "a.txt", time.Second)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Second)
			if status, _ := get(t, env, short); status != 403 {
				t.Fatalf("expired SAS: %d, want 403", status)
			}
		})
	}
}
