package azureblob_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/internal/azuretest"
)

func diagnose(t *testing.T, env *azuretest.Env, cfg azureblob.Config, name string, use azureblob.Use) (azureblob.Report, string) {
	t.Helper()
	r := azureblob.Diagnose(context.Background(), azureblob.NewConnector(env.Options()), cfg, name, "in/", use)
	var buf bytes.Buffer
	if err := r.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	return r, buf.String()
}

func TestDiagnose(t *testing.T) {
	env := azuretest.Start(t)
	ctx := context.Background()
	name := env.NewContainer(t)
	c, err := azureblob.NewConnector(env.Options()).Container(ctx, env.AccountKeyConfig(), name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.UploadBytes(ctx, "in/one.txt", []byte("1"), ""); err != nil {
		t.Fatal(err)
	}

	t.Run("account_key_target", func(t *testing.T) {
		r, table := diagnose(t, env, env.AccountKeyConfig(), name, azureblob.UseTarget)
		if !r.OK() || r.SASKind != azureblob.SASService || !strings.Contains(table, "write") || strings.Contains(table, "FAIL") {
			t.Fatalf("report not OK:\n%s", table)
		}
	})
	t.Run("service_principal_source", func(t *testing.T) {
		r, table := diagnose(t, env, env.ServicePrincipalConfig(), name, azureblob.UseSource)
		if !r.OK() || r.SASKind != azureblob.SASUserDelegation || !strings.Contains(table, "fetched in/one.txt") {
			t.Fatalf("report not OK:\n%s", table)
		}
	})
	t.Run("sas_token_cannot_sign", func(t *testing.T) {
		r, table := diagnose(t, env, env.SASTokenConfig(t, name), name, azureblob.UseSource)
		if !r.OK() || !strings.Contains(table, "streamed through the server") {
			t.Fatalf("report:\n%s", table)
		}
	})
	t.Run("wrong_key", func(t *testing.T) {
		cfg := env.AccountKeyConfig()
		cfg.AccountKey = "d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3"
		r, table := diagnose(t, env, cfg, name, azureblob.UseSource)
		if r.OK() || !strings.Contains(table, "authenticate") || !strings.Contains(table, "check account_name and account_key") {
			t.Fatalf("report:\n%s", table)
		}
	})
	t.Run("missing_role", func(t *testing.T) {
		cfg := env.ServicePrincipalConfigFor(azuretest.App{Secret: "s3cret-norole-2", Audience: "api://other"}, "")
		r, table := diagnose(t, env, cfg, name, azureblob.UseTarget)
		if r.OK() || !strings.Contains(table, "Storage Blob Data") {
			t.Fatalf("report:\n%s", table)
		}
	})
	t.Run("missing_container", func(t *testing.T) {
		r, table := diagnose(t, env, env.AccountKeyConfig(), "does-not-exist", azureblob.UseSource)
		if r.OK() || !strings.Contains(table, "does not exist") {
			t.Fatalf("report:\n%s", table)
		}
	})
	t.Run("invalid_config", func(t *testing.T) {
		r, table := diagnose(t, env, azureblob.Config{AccountName: "acct"}, name, azureblob.UseSource)
		if r.OK() || !strings.Contains(table, "auth_type is required") {
			t.Fatalf("report:\n%s", table)
		}
	})
}
