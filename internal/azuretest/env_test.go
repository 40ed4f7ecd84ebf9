package azuretest

import (
	"strings"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

func TestTransportStaysOnLoopback(t *testing.T) {
	env := Start(t)
	if _, err := env.HTTPClient.Get("https://login.microsoftonline.com/common/discovery/instance"); err == nil || !strings.Contains(err.Error(), "refuses non-loopback") {
		t.Fatalf("request to a real Azure host: err = %v, want a refusal", err)
	}
	// IMDS is rewritten to the fake, which asks for the Metadata header like the real one.
	resp, err := env.HTTPClient.Get("http://169.254.169.254/metadata/identity/oauth2/token?resource=https://storage.azure.com")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 || env.Count("imds") == 0 {
		t.Fatalf("IMDS without Metadata header: %d, imds count %d", resp.StatusCode, env.Count("imds"))
	}
	// The product-style Azurite host resolves through the *.localhost dialer.
	resp, err = env.HTTPClient.Get(env.BlobEndpoint + "?comp=list")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 { // no credential: Azurite answers, and refuses
		t.Fatalf("anonymous account listing: %d, want 403", resp.StatusCode)
	}
}

func TestMintedTokenShape(t *testing.T) {
	tok := MintToken(TokenClaims{Audience: "https://storage.azure.com", TenantID: "t1", ObjectID: "o1"})
	h, c, _, _, err := decodeJWT(tok)
	if err != nil || h["alg"] != "HS256" {
		t.Fatalf("header %v, %v", h, err)
	}
	for _, k := range []string{"iat", "nbf", "exp", "oid", "tid"} {
		if c[k] == nil {
			t.Errorf("claim %s missing", k)
		}
	}
	if c["iss"] != "https://sts.windows.net/t1/" {
		t.Errorf("iss = %v: Azurite only accepts sts.windows.net issuers", c["iss"])
	}
}
