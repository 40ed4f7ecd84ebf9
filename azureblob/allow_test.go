package azureblob

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/blobmark/blobmark"
)

// TestAllowListPinsTheExactEndpoint is the table of the one check between a
// storage's settings and the server's identity: an account entry admits
// only that account's own host in the storage's cloud, a URL entry only
// that scheme, host, port and path, a scoped entry only its organization.
func TestAllowListPinsTheExactEndpoint(t *testing.T) {
	mi := func(c Config) Config { c.AuthType = AuthManagedIdentity; return c }
	cases := []struct {
		name      string
		allow     []string
		cfg       Config
		container string
		ok        bool
	}{
		{"account form, account name", []string{"myacct/*"}, mi(Config{AccountName: "myacct"}), "images", true},
		{"account form, its own endpoint", []string{"myacct/*"}, mi(Config{Endpoint: "https://myacct.blob.core.windows.net/"}), "images", true},
		{"account form, own endpoint with the default port", []string{"myacct/*"}, mi(Config{Endpoint: "https://MyAcct.blob.core.windows.net:443"}), "images", true},
		{"account form, another port", []string{"myacct/*"}, mi(Config{Endpoint: "https://myacct.blob.core.windows.net:8443/"}), "images", false},
		{"account form, plain http", []string{"myacct/*"}, mi(Config{Endpoint: "http://myacct.blob.core.windows.net/"}), "images", false},
		{"account form, name typed but endpoint elsewhere", []string{"myacct/*"}, mi(Config{AccountName: "myacct", Endpoint: "https://attacker.example/"}), "images", false},
		{"account form, look-alike host", []string{"myacct/*"}, mi(Config{Endpoint: "https://myacct.blob.core.windows.net.attacker.example/"}), "images", false},
		{"account form, path-style address", []string{"myacct/*"}, mi(Config{Endpoint: "https://127.0.0.1:10000/myacct/"}), "images", false},
		{"account form, another account", []string{"myacct/*"}, mi(Config{AccountName: "other"}), "images", false},
		{"account form, the storage's cloud", []string{"myacct/*"}, mi(Config{AccountName: "myacct", Cloud: "china"}), "images", true},
		{"account form, china host under the public cloud", []string{"myacct/*"}, mi(Config{Endpoint: "https://myacct.blob.core.chinacloudapi.cn/"}), "images", false},
		{"account form, usgov host under usgov", []string{"myacct/*"}, mi(Config{Endpoint: "https://myacct.blob.core.usgovcloudapi.net/", Cloud: "usgov"}), "images", true},
		{"container glob", []string{"myacct/images"}, mi(Config{AccountName: "myacct"}), "images", true},
		{"container glob, another container", []string{"myacct/images"}, mi(Config{AccountName: "myacct"}), "other", false},
		{"account glob", []string{"team-*/*"}, mi(Config{AccountName: "teamone"}), "x-1", false},
		{"star is every account's own host", []string{"*"}, mi(Config{AccountName: "anyacct"}), "anything", true},
		{"star is no custom endpoint", []string{"*"}, mi(Config{Endpoint: "https://attacker.example/", AccountName: "anyacct"}), "anything", false},
		{"url form", []string{"https://pe.internal.example:8443/data-*"}, mi(Config{Endpoint: "https://pe.internal.example:8443/", AccountName: "myacct"}), "data-1", true},
		{"url form, another port", []string{"https://pe.internal.example:8443/data-*"}, mi(Config{Endpoint: "https://pe.internal.example/", AccountName: "myacct"}), "data-1", false},
		{"url form, http", []string{"https://pe.internal.example:8443/data-*"}, mi(Config{Endpoint: "http://pe.internal.example:8443/", AccountName: "myacct"}), "data-1", false},
		{"url form, another container", []string{"https://pe.internal.example:8443/data-*"}, mi(Config{Endpoint: "https://pe.internal.example:8443/", AccountName: "myacct"}), "logs", false},
		{"url form, another path", []string{"https://pe.internal.example:8443/data-*"}, mi(Config{Endpoint: "https://pe.internal.example:8443/x/", AccountName: "myacct"}), "data-1", false},
		{"url form, emulator path", []string{"https://127.0.0.1:10000/devstoreaccount1/*"}, mi(Config{Endpoint: "https://127.0.0.1:10000/devstoreaccount1"}), "cont1", true},
		{"url form, emulator another account", []string{"https://127.0.0.1:10000/devstoreaccount1/*"}, mi(Config{Endpoint: "https://127.0.0.1:10000/devstoreaccount2"}), "cont1", false},
		{"scoped, its organization", []string{"Acme=myacct/*"}, mi(Config{AccountName: "myacct", Organization: "Acme"}), "cont1", true},
		{"scoped, another organization", []string{"Acme=myacct/*"}, mi(Config{AccountName: "myacct", Organization: "Beta"}), "cont1", false},
		{"scoped, no organization", []string{"Acme=myacct/*"}, mi(Config{AccountName: "myacct"}), "cont1", false},
		{"scoped url form", []string{"Acme=https://pe.internal.example/cont1"}, mi(Config{Endpoint: "https://pe.internal.example", AccountName: "myacct", Organization: "Acme"}), "cont1", true},
		{"unscoped applies to every organization", []string{"myacct/*"}, mi(Config{AccountName: "myacct", Organization: "Beta"}), "cont1", true},
		{"empty list", nil, mi(Config{AccountName: "myacct"}), "cont1", false},
		{"server identity too", []string{"myacct/*"}, Config{AuthType: AuthServerIdentity, Endpoint: "https://attacker.example/", AccountName: "myacct"}, "cont1", false},
	}
	for _, c := range cases {
		_, err := NewConnector(Options{ServerIdentityAllow: c.allow, AllowPrivateNetwork: true}).Container(t.Context(), c.cfg, c.container)
		if c.ok && err != nil {
			t.Errorf("%s: refused: %v", c.name, err)
		}
		if !c.ok {
			field := "endpoint"
			if c.cfg.Endpoint == "" {
				field = "account_name"
			}
			if blobmark.ErrorCode(err) != blobmark.EINVALID || blobmark.ErrorField(err) != field || !strings.Contains(blobmark.ErrorMessage(err), "--server-identity-allow") {
				t.Errorf("%s: err %v, want a 400 on %s naming the option", c.name, err, field)
			}
		}
	}
}

// TestEveryAuthTypeIsDeclared: an auth type without a spec would have no
// answer to "does it speak for the server?", so every one has a spec, and
// the gate refuses exactly the host identities on an empty allow-list.
func TestEveryAuthTypeIsDeclared(t *testing.T) {
	t.Setenv("AZURE_CLIENT_ID", "c")
	t.Setenv("AZURE_TENANT_ID", "t")
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", "/token")
	host := map[AuthType]bool{AuthManagedIdentity: true, AuthWorkloadIdentity: true, AuthServerIdentity: true}
	if len(authTypeSpecs) != len(AuthTypes) {
		t.Fatalf("%d specs for %d auth types", len(authTypeSpecs), len(AuthTypes))
	}
	conn := NewConnector(Options{})
	for _, a := range AuthTypes {
		spec, ok := authTypeSpecs[a]
		if !ok || spec.hostIdentity != host[a] {
			t.Errorf("%s: spec %+v, declared %v", a, spec, ok)
		}
		cfg := Config{AuthType: a, AccountName: "myacct"}
		if a == AuthConnectionString {
			cfg = Config{AuthType: a, ConnectionString: "AccountName=myacct;AccountKey=a2V5"}
		}
		acct, err := conn.admit(cfg, func(acct account) (destination, string, bool, error) {
			d, err := destinationOf(acct.serviceURL, "", "blob")
			return d, "cont1", false, err
		})
		if host[a] != (err != nil) {
			t.Errorf("%s: admit = %+v, %v", a, acct, err)
		}
	}
}

func TestParseAllowList(t *testing.T) {
	for _, bad := range []string{"myacct", "https://host.example/", "=myacct/*", "https://u:p@host.example/c", "myacct/a/b",
		"[/x", "https://host.example/c?x=1", "myacct/[", "ftp://host/c"} {
		if err := ParseAllowList([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := ParseAllowList([]string{"*", "myacct/*", " Acme = myacct/images ", "https://127.0.0.1:10000/devstoreaccount1/*", "Acme=https://pe.example/c"}); err != nil {
		t.Fatal(err)
	}
}

// TestEndpointsNeverAtMetadataAddresses: whatever the auth type, an
// endpoint that is a metadata or (without the operator's consent) a private
// address is refused before a credential exists.
func TestEndpointsNeverAtMetadataAddresses(t *testing.T) {
	key := "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
	for _, c := range []struct {
		cfg   Config
		field string
	}{
		{Config{AuthType: AuthAccountKey, AccountName: "acct", AccountKey: key, Endpoint: "https://169.254.169.254/"}, "endpoint"},
		{Config{AuthType: AuthAnonymous, Endpoint: "http://[fd00:ec2::254]/acct"}, "endpoint"},
		{Config{AuthType: AuthSASToken, SASToken: "https://169.254.169.254/c?sv=2024&sig=x"}, "sas_token"},
		{Config{AuthType: AuthConnectionString, ConnectionString: "AccountName=acct;AccountKey=" + key + ";BlobEndpoint=http://169.254.169.254/acct"}, "connection_string"},
		{Config{AuthType: AuthServicePrincipal, AccountName: "acct", TenantID: "t", ClientID: "c", ClientSecret: "s", Endpoint: "https://10.0.0.4/"}, "endpoint"},
	} {
		for _, allowPrivate := range []bool{false, true} {
			_, err := NewConnector(Options{AllowPrivateNetwork: allowPrivate, ServerIdentityAllow: []string{"*"}}).Container(t.Context(), c.cfg, "cont1")
			private := strings.Contains(c.cfg.Endpoint, "10.0.0.4")
			if private && allowPrivate {
				if err != nil {
					t.Errorf("%s with private networks allowed: %v", c.cfg.AuthType, err)
				}
				continue
			}
			if blobmark.ErrorCode(err) != blobmark.EINVALID || blobmark.ErrorField(err) != c.field || !strings.Contains(blobmark.ErrorMessage(err), "not allowed") {
				t.Errorf("%s (private allowed %v): err %v, want a 400 on %s", c.cfg.AuthType, allowPrivate, err, c.field)
			}
		}
	}
}

// TestClientCacheIsBounded: a user who validates endless distinct
// connections cannot grow the server's client cache without bound.
func TestClientCacheIsBounded(t *testing.T) {
	conn := NewConnector(Options{})
	for i := range maxCachedAccounts + 10 {
		cfg := Config{AuthType: AuthAnonymous, AccountName: fmt.Sprintf("acct%d", i)}
		if _, err := conn.Container(t.Context(), cfg, "cont1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(conn.accs); n > maxCachedAccounts {
		t.Fatalf("%d cached clients", n)
	}
}

// TestEndlessAnswersAreCut: an endpoint a user typed that answers a
// listing with an endless body gets an error, not the server's memory.
func TestEndlessAnswersAreCut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		chunk := bytes.Repeat([]byte("<Blob><Name>x</Name></Blob>"), 4096)
		for range 2 * maxAnswerBytes / len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	c, err := NewConnector(Options{AllowPrivateNetwork: true}).Container(t.Context(), Config{AuthType: AuthAnonymous, Endpoint: srv.URL + "/acct"}, "cont1")
	if err != nil {
		t.Fatal(err)
	}
	err = c.List(t.Context(), ListOptions{}, func([]BlobItem) error { return nil })
	if blobmark.ErrorCode(err) != blobmark.EINVALID || blobmark.ErrorField(err) != "endpoint" || !strings.Contains(blobmark.ErrorMessage(err), "larger than") {
		t.Fatalf("an endless listing: %v", err)
	}
}
