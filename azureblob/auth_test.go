package azureblob_test

import (
	"bytes"
	"context"
	"io"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/internal/azuretest"
)

func TestMain(m *testing.M) { azuretest.Main(m) }

// awkwardName needs URL encoding everywhere: spaces, '#', '?', '%' and non-ASCII.
const awkwardName = "dir/with space #hash ?q 100% été 図.txt"

// exercise runs list, read (full and ranged), write, delete and, when the
// auth type can sign, a SAS URL fetched with a plain GET.
func exercise(t *testing.T, env *azuretest.Env, cfg azureblob.Config, wantKind azureblob.SASKind) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn := azureblob.NewConnector(env.Options())
	name := env.NewContainer(t)
	if cfg.AuthType == azureblob.AuthSASToken {
		cfg = env.SASTokenConfig(t, name)
	}
	c, err := conn.Container(ctx, cfg, name)
	if err != nil {
		t.Fatalf("Container: %v", err)
	}
	if ok, err := c.Exists(ctx); err != nil && cfg.AuthType != azureblob.AuthSASToken || err == nil && !ok {
		t.Fatalf("Exists = %v, %v", ok, err)
	}
	blobs := map[string]string{"top.txt": "top level", awkwardName: "0123456789", "dir/sub/deep.json": `{"a":1}`}
	for k, v := range blobs {
		if _, err := c.UploadBytes(ctx, k, []byte(v), "text/plain"); err != nil {
			t.Fatalf("Upload %q: %v", k, err)
		}
	}
	all := listNames(t, c, azureblob.ListOptions{Recursive: true, PageSize: 2})
	if want := sortedKeys(blobs); strings.Join(all, "|") != strings.Join(want, "|") {
		t.Fatalf("recursive list = %q, want %q", all, want)
	}
	if top := listNames(t, c, azureblob.ListOptions{}); strings.Join(top, "|") != "top.txt" {
		t.Fatalf("one-level list at root = %q, want only top.txt", top)
	}
	// One entry a page: the first page holds only the virtual directory
	// "dir/", which List must skip while following the marker past it.
	if top := listNames(t, c, azureblob.ListOptions{PageSize: 1}); strings.Join(top, "|") != "top.txt" {
		t.Fatalf("one-level list at root, one a page = %q, want only top.txt", top)
	}
	if lvl := listNames(t, c, azureblob.ListOptions{Prefix: "dir/"}); strings.Join(lvl, "|") != awkwardName {
		t.Fatalf("one-level list of dir/ = %q", lvl)
	}
	props, err := c.Properties(ctx, awkwardName)
	if err != nil || props.Size != 10 || props.ETag == "" {
		t.Fatalf("Properties = %+v, %v", props, err)
	}
	if got := download(t, c, awkwardName, 0, 0); got != "0123456789" {
		t.Fatalf("full download = %q", got)
	}
	if got := download(t, c, awkwardName, 3, 4); got != "3456" {
		t.Fatalf("ranged download = %q, want 3456", got)
	}

	url, kind, err := c.SignURL(ctx, awkwardName, 10*time.Minute)
	switch {
	case wantKind == "":
		if blobmark.ErrorCode(err) != blobmark.ENOTIMPLEMENTED {
			t.Fatalf("SignURL for %s: err %v, want ENOTIMPLEMENTED", cfg.AuthType, err)
		}
	case err != nil:
		t.Fatalf("SignURL: %v", err)
	default:
		if kind != wantKind {
			t.Fatalf("SAS kind %s, want %s", kind, wantKind)
		}
		if status, body := get(t, env, url); status != 200 || body != "0123456789" {
			t.Fatalf("GET SAS URL: %d %q", status, body)
		}
	}

	for k := range blobs {
		if err := c.Delete(ctx, k); err != nil {
			t.Fatalf("Delete %q: %v", k, err)
		}
	}
	if _, err := c.Properties(ctx, awkwardName); blobmark.ErrorCode(err) != blobmark.ENOTFOUND {
		t.Fatalf("Properties after delete: %v, want ENOTFOUND", err)
	}
}

func listNames(t *testing.T, c *azureblob.Container, o azureblob.ListOptions) []string {
	t.Helper()
	var names []string
	err := c.List(context.Background(), o, func(page []azureblob.BlobItem) error {
		if o.PageSize > 0 && len(page) > int(o.PageSize) {
			t.Errorf("page of %d blobs, asked for %d", len(page), o.PageSize)
		}
		if !o.Recursive && len(page) == 0 {
			t.Errorf("one-level list handed over an empty page")
		}
		for _, b := range page {
			names = append(names, b.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return names
}

func download(t *testing.T, c *azureblob.Container, key string, off, n int64) string {
	t.Helper()
	d, err := c.Download(context.Background(), key, off, n)
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	defer d.Body.Close()
	b, err := io.ReadAll(d.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func get(t *testing.T, env *azuretest.Env, url string) (int, string) {
	t.Helper()
	resp, err := env.HTTPClient.Get(url)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func sortedKeys(m map[string]string) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

func TestEveryAuthType(t *testing.T) {
	env := azuretest.Start(t)
	cases := []struct {
		name string
		cfg  func() azureblob.Config
		kind azureblob.SASKind
	}{
		{"account_key", env.AccountKeyConfig, azureblob.SASService},
		{"connection_string", env.ConnectionStringConfig, azureblob.SASService},
		{"sas_token", func() azureblob.Config { return azureblob.Config{AuthType: azureblob.AuthSASToken} }, ""},
		{"service_principal_secret", env.ServicePrincipalConfig, azureblob.SASUserDelegation},
		{"service_principal_certificate", func() azureblob.Config { return env.ServicePrincipalCertConfig(t) }, azureblob.SASUserDelegation},
		{"managed_identity_system", func() azureblob.Config { return env.ManagedIdentityConfig("system") }, azureblob.SASUserDelegation},
		{"managed_identity_client_id", func() azureblob.Config { return env.ManagedIdentityConfig("client_id") }, azureblob.SASUserDelegation},
		{"managed_identity_resource_id", func() azureblob.Config { return env.ManagedIdentityConfig("resource_id") }, azureblob.SASUserDelegation},
		{"managed_identity_object_id", func() azureblob.Config { return env.ManagedIdentityConfig("object_id") }, azureblob.SASUserDelegation},
		{"workload_identity", func() azureblob.Config { return env.WorkloadIdentityConfig(t) }, azureblob.SASUserDelegation},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { exercise(t, env, tc.cfg(), tc.kind) })
	}
}

func TestServerIdentityBranches(t *testing.T) {
	env := azuretest.Start(t)
	t.Run("environment", func(t *testing.T) {
		app := env.UseServerEnvironmentSP(t)
		before := env.Count("token:" + app.ClientID)
		exercise(t, env, env.ServerIdentityConfig(), azureblob.SASUserDelegation)
		if env.Count("token:"+app.ClientID) == before {
			t.Fatal("the environment app was not used")
		}
	})
	t.Run("workload_identity", func(t *testing.T) {
		cfg := env.UseServerWorkloadIdentity(t)
		before := env.Count("token:" + cfg.ClientID)
		exercise(t, env, env.ServerIdentityConfig(), azureblob.SASUserDelegation)
		if env.Count("token:"+cfg.ClientID) == before {
			t.Fatal("the workload identity app was not used")
		}
	})
	t.Run("managed_identity", func(t *testing.T) {
		env.UseServerManagedIdentity(t)
		before := env.Count("mi")
		exercise(t, env, env.ServerIdentityConfig(), azureblob.SASUserDelegation)
		if env.Count("mi") == before {
			t.Fatal("the managed identity endpoint was not used")
		}
	})
	t.Run("azure_cli", func(t *testing.T) {
		env.UseServerAzureCLI(t)
		before := env.Count("imds")
		exercise(t, env, env.ServerIdentityConfig(), azureblob.SASUserDelegation)
		if env.Count("imds") == before {
			t.Fatal("the chain did not try IMDS before the Azure CLI")
		}
	})
}

// TestHostIdentitiesRefusedUnlessAllowed checks that every auth type that
// authenticates as an identity attached to the server (server_identity,
// managed_identity, workload_identity) is gated by the operator's
// allow-list, while secret-based types are not.
func TestHostIdentitiesRefusedUnlessAllowed(t *testing.T) {
	env := azuretest.Start(t)
	configs := map[string]func() azureblob.Config{
		"server_identity":   env.ServerIdentityConfig,
		"managed_identity":  func() azureblob.Config { return env.ManagedIdentityConfig("system") },
		"workload_identity": func() azureblob.Config { return env.WorkloadIdentityConfig(t) },
	}
	for name, cfgFor := range configs {
		t.Run(name, func(t *testing.T) {
			cfg := cfgFor()
			opts := env.Options()
			opts.ServerIdentityAllow = []string{env.BlobEndpoint + "allowed-*"}
			conn := azureblob.NewConnector(opts)
			_, err := conn.Container(context.Background(), cfg, "other")
			if blobmark.ErrorCode(err) != blobmark.EINVALID || blobmark.ErrorField(err) != "endpoint" ||
				!strings.Contains(blobmark.ErrorMessage(err), "container other") || !strings.Contains(blobmark.ErrorMessage(err), name) {
				t.Fatalf("err = %v, want a 400 on endpoint naming the auth type and the container", err)
			}
			if _, err := conn.Container(context.Background(), cfg, "allowed-x"); err != nil {
				t.Fatalf("allowed container refused: %v", err)
			}
			for _, allow := range [][]string{nil, {azuretest.AccountName + "/*"}, {"*"}} {
				opts.ServerIdentityAllow = allow
				if _, err := azureblob.NewConnector(opts).Container(context.Background(), cfg, "any"); blobmark.ErrorCode(err) != blobmark.EINVALID {
					t.Fatalf("allow %q: err = %v, want a 400: the emulator is no account's own host", allow, err)
				}
			}
		})
	}
	t.Run("secret-based types need no allow-list", func(t *testing.T) {
		opts := env.Options()
		opts.ServerIdentityAllow = nil
		conn := azureblob.NewConnector(opts)
		for _, cfg := range []azureblob.Config{env.AccountKeyConfig(), env.ServicePrincipalConfig()} {
			if _, err := conn.Container(context.Background(), cfg, "any"); err != nil {
				t.Fatalf("%s refused: %v", cfg.AuthType, err)
			}
		}
	})
}

func TestAnonymousPublicContainer(t *testing.T) {
	env := azuretest.Start(t)
	ctx := context.Background()
	conn := azureblob.NewConnector(env.Options())
	name := env.NewPublicContainer(t)
	admin, err := conn.Container(ctx, env.AccountKeyConfig(), name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.UploadBytes(ctx, awkwardName, []byte("0123456789"), "text/plain"); err != nil {
		t.Fatal(err)
	}
	c, err := conn.Container(ctx, env.AnonymousConfig(), name)
	if err != nil {
		t.Fatal(err)
	}
	if names := listNames(t, c, azureblob.ListOptions{Recursive: true}); len(names) != 1 || names[0] != awkwardName {
		t.Fatalf("anonymous list = %q", names)
	}
	if got := download(t, c, awkwardName, 2, 2); got != "23" {
		t.Fatalf("anonymous ranged read = %q", got)
	}
	if status, body := get(t, env, c.BlobURL(awkwardName)); status != 200 || body != "0123456789" {
		t.Fatalf("plain GET of BlobURL: %d %q", status, body)
	}
	if _, _, err := c.SignURL(ctx, awkwardName, time.Minute); blobmark.ErrorCode(err) != blobmark.ENOTIMPLEMENTED {
		t.Fatalf("anonymous SignURL err = %v, want ENOTIMPLEMENTED", err)
	}
	if _, err := c.Upload(ctx, "x.txt", bytes.NewReader([]byte("x")), ""); blobmark.ErrorCode(err) == "" {
		t.Fatal("anonymous write succeeded")
	}
	if err := admin.Delete(ctx, awkwardName); err != nil {
		t.Fatal(err)
	}
}

func TestClientReusedPerConfig(t *testing.T) {
	env := azuretest.Start(t)
	conn := azureblob.NewConnector(env.Options())
	cfg := env.ServicePrincipalConfig()
	name := env.NewContainer(t)
	before := env.Count("token:" + cfg.ClientID)
	for i := 0; i < 5; i++ {
		c, err := conn.Container(context.Background(), cfg, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Exists(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := env.Count("token:"+cfg.ClientID) - before; n != 1 {
		t.Fatalf("%d token requests for 5 Container calls with one config, want 1", n)
	}
}
