package azureblob_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/internal/azuretest"
)

func TestIdentityProxyBypassesManagedIdentityEndpoints(t *testing.T) {
	proxy, _ := url.Parse("http://proxy.example:3128")
	t.Setenv("IDENTITY_ENDPOINT", "http://identity.example:8081/msi/token")
	t.Setenv("MSI_ENDPOINT", "http://msi.example/token")
	choose := azureblob.IdentityProxy(http.ProxyURL(proxy))
	for target, want := range map[string]*url.URL{
		"http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01": nil,
		"http://identity.example:8081/msi/token?api-version=2019-08-01":                nil,
		"http://msi.example/token":                                   nil,
		"https://login.microsoftonline.com/tenant/oauth2/v2.0/token": proxy,
	} {
		u, _ := url.Parse(target)
		if got, err := choose(&http.Request{URL: u}); err != nil || got != want {
			t.Errorf("%s: proxy %v (%v), want %v", target, got, err, want)
		}
	}
}

// proxiedOptions are the test connector options with a proxy for every
// request the environment would proxy: the guarded transport of storages
// and the server identity's transport.
func proxiedOptions(env *azuretest.Env, proxy *azuretest.Proxy) azureblob.Options {
	opts := env.Options()
	opts.Transport = env.ProxiedClient(func(*url.URL) (*url.URL, error) { return proxy.URL, nil })
	opts.IdentityTransport = env.IdentityClient(azureblob.IdentityProxy(http.ProxyURL(proxy.URL)))
	return opts
}

// listThrough lists a fresh container with cfg through a connector made
// with opts, failing the test if that fails.
func listThrough(t *testing.T, env *azuretest.Env, opts azureblob.Options, cfg azureblob.Config) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := azureblob.NewConnector(opts).Container(ctx, cfg, env.NewContainer(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.List(ctx, azureblob.ListOptions{Recursive: true}, func([]azureblob.BlobItem) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

func hostOf(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func TestProxyCarriesAzureButNeverManagedIdentity(t *testing.T) {
	env := azuretest.Start(t)
	blob := "127.0.0.1:" + strings.Split(hostOf(t, env.BlobEndpoint), ":")[1]

	t.Run("managed_identity", func(t *testing.T) {
		proxy := azuretest.StartProxy(t)
		// A named endpoint, as App Service gives: Go never proxies loopback
		// addresses, so only a name shows that the bypass is ours.
		mi := hostOf(t, env.IdentityEndpoint)
		named := "identity.localhost:" + strings.Split(mi, ":")[1]
		t.Setenv("IDENTITY_ENDPOINT", strings.Replace(env.IdentityEndpoint, mi, named, 1))
		before := env.Count("mi")
		listThrough(t, env, proxiedOptions(env, proxy), env.ManagedIdentityConfig("client_id"))
		if env.Count("mi") == before {
			t.Fatal("the managed identity endpoint was not asked for a token")
		}
		if n := proxy.Count(named) + proxy.Count(mi); n != 0 {
			t.Fatalf("the managed identity request went through the proxy %d times", n)
		}
		if proxy.Count(blob) == 0 {
			t.Fatalf("no blob request went through the proxy")
		}
	})
	t.Run("workload_identity", func(t *testing.T) {
		proxy := azuretest.StartProxy(t)
		listThrough(t, env, proxiedOptions(env, proxy), env.WorkloadIdentityConfig(t))
		if proxy.Count(hostOf(t, env.AuthorityHost)) == 0 {
			t.Fatal("no Entra ID request went through the proxy")
		}
		if proxy.Count(blob) == 0 {
			t.Fatalf("no blob request went through the proxy")
		}
	})
}
