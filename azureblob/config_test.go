package azureblob_test

import (
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/azureblob"
)

const key64 = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

func TestInferAuthType(t *testing.T) {
	cases := []struct {
		name string
		cfg  azureblob.Config
		want azureblob.AuthType
	}{
		{"explicit wins", azureblob.Config{AuthType: azureblob.AuthAnonymous, AccountKey: "k"}, azureblob.AuthAnonymous},
		{"connection string first", azureblob.Config{ConnectionString: "x", SASToken: "y", AccountKey: "k"}, azureblob.AuthConnectionString},
		{"sas before key", azureblob.Config{SASToken: "y", AccountKey: "k"}, azureblob.AuthSASToken},
		{"label studio classic", azureblob.Config{AccountName: "acct", AccountKey: "k"}, azureblob.AuthAccountKey},
		{"label studio enterprise", azureblob.Config{TenantID: "t", ClientID: "c", ClientSecret: "s"}, azureblob.AuthServicePrincipal},
		{"certificate", azureblob.Config{ClientCertificate: "pem"}, azureblob.AuthServicePrincipal},
		{"federated token file", azureblob.Config{FederatedTokenFile: "/var/run/token"}, azureblob.AuthWorkloadIdentity},
		{"managed identity by client id", azureblob.Config{ManagedIdentityClientID: "c"}, azureblob.AuthManagedIdentity},
		{"managed identity by resource id", azureblob.Config{ManagedIdentityResourceID: "/r"}, azureblob.AuthManagedIdentity},
		{"managed identity by object id", azureblob.Config{ManagedIdentityObjectID: "o"}, azureblob.AuthManagedIdentity},
		{"client id alone is ambiguous", azureblob.Config{AccountName: "acct", ClientID: "c"}, ""},
		{"account alone is ambiguous", azureblob.Config{AccountName: "acct"}, ""},
	}
	for _, c := range cases {
		if got := c.cfg.InferAuthType(); got != c.want {
			t.Errorf("%s: InferAuthType = %q, want %q", c.name, got, c.want)
		}
	}
}

func fieldsOf(err error) []string {
	var be *blobmark.Error
	if !errors.As(err, &be) {
		return nil
	}
	var f []string
	for k := range be.Fields {
		f = append(f, k)
	}
	sort.Strings(f)
	return f
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	t.Setenv("AZURE_CLIENT_ID", "c")
	t.Setenv("AZURE_TENANT_ID", "t")
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", "/var/run/secrets/azure/tokens/azure-identity-token")
	cases := []struct {
		name   string
		cfg    azureblob.Config
		fields string // "" means valid
	}{
		{"account key ok", azureblob.Config{AccountName: "acct", AccountKey: key64}, ""},
		{"account key via url in account_name", azureblob.Config{AccountName: "https://acct.blob.core.windows.net", AccountKey: key64}, ""},
		{"account key missing name, bad key, stray secret", azureblob.Config{AuthType: "account_key", AccountKey: "!!", ClientSecret: "s"}, "account_key,account_name,client_secret"},
		{"nothing", azureblob.Config{}, "auth_type"},
		{"unknown auth type", azureblob.Config{AuthType: "kerberos", AccountName: "acct"}, "auth_type"},
		{"sp needs tenant, client and a secret", azureblob.Config{AuthType: "service_principal", AccountName: "acct"}, "client_id,client_secret,tenant_id"},
		{"sp secret and certificate", azureblob.Config{AccountName: "acct", TenantID: "t", ClientID: "c", ClientSecret: "s", ClientCertificate: "pem"}, "client_certificate"},
		{"sp ok", azureblob.Config{AccountName: "acct", TenantID: "t", ClientID: "c", ClientSecret: "s", Cloud: "china"}, ""},
		{"bad cloud and authority", azureblob.Config{AuthType: "service_principal", AccountName: "acct", TenantID: "t", ClientID: "c", ClientSecret: "s", Cloud: "mars", AuthorityHost: "http://login"}, "authority_host,cloud"},
		{"mi two ids", azureblob.Config{AccountName: "acct", ManagedIdentityClientID: "c", ManagedIdentityObjectID: "o"}, "managed_identity_client_id,managed_identity_object_id"},
		{"mi system ok", azureblob.Config{AuthType: "managed_identity", AccountName: "acct"}, ""},
		{"sas bare token needs account", azureblob.Config{SASToken: "sv=2024&sig=abc"}, "account_name"},
		{"sas url ok", azureblob.Config{SASToken: "https://acct.blob.core.windows.net/c?sv=2024&sig=abc"}, ""},
		{"sas not a sas", azureblob.Config{AccountName: "acct", SASToken: "hello"}, "sas_token"},
		{"connection string ok", azureblob.Config{ConnectionString: "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + key64 + ";EndpointSuffix=core.windows.net"}, ""},
		{"connection string with stray account", azureblob.Config{ConnectionString: "UseDevelopmentStorage=true", AccountName: "acct"}, "account_name"},
		{"connection string garbage", azureblob.Config{ConnectionString: "garbage"}, "connection_string"},
		{"anonymous endpoint with query", azureblob.Config{AuthType: "anonymous", Endpoint: "https://acct.blob.core.windows.net/?x=1"}, "endpoint"},
		{"bad account name", azureblob.Config{AuthType: "anonymous", AccountName: "Bad_Name"}, "account_name"},
		{"workload identity from the server's environment", azureblob.Config{AuthType: "workload_identity", AccountName: "acct"}, ""},
		{"workload identity settings are the server's", azureblob.Config{AuthType: "workload_identity", AccountName: "acct", ClientID: "c", TenantID: "t", FederatedTokenFile: "/f", AuthorityHost: "https://login.example.org"}, "authority_host,client_id,federated_token_file,tenant_id"},
		{"server identity authority is the server's", azureblob.Config{AuthType: "server_identity", AccountName: "acct", AuthorityHost: "https://login.example.org"}, "authority_host"},
	}
	for _, c := range cases {
		err := c.cfg.Validate()
		got := strings.Join(fieldsOf(err), ",")
		if got != c.fields || (c.fields != "" && blobmark.ErrorCode(err) != blobmark.EINVALID) {
			t.Errorf("%s: Validate() fields %q (%v), want %q", c.name, got, err, c.fields)
		}
	}
}

func TestRedaction(t *testing.T) {
	cfg := azureblob.Config{AuthType: azureblob.AuthServicePrincipal, AccountName: "acct", TenantID: "t", ClientID: "c", ClientSecret: "top-secret-value"}
	if s := cfg.String(); strings.Contains(s, "top-secret-value") || !strings.Contains(s, "[redacted]") || !strings.Contains(s, "acct") {
		t.Fatalf("String() = %s", s)
	}
	if r := cfg.Redacted(); r.ClientSecret != "[redacted]" || r.ClientID != "c" {
		t.Fatalf("Redacted() = %+v", r)
	}
	if got := cfg.Secrets(); len(got) != 1 || got[0] != "top-secret-value" {
		t.Fatalf("Secrets() = %d values", len(got))
	}
}

// TestWorkloadIdentityNeedsTheServersOwn: without the AKS variables the
// server has no workload identity, and the storage is told so on auth_type.
func TestWorkloadIdentityNeedsTheServersOwn(t *testing.T) {
	for _, v := range []string{"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE"} {
		t.Setenv(v, "")
	}
	err := azureblob.Config{AuthType: "workload_identity", AccountName: "acct"}.Validate()
	if got := strings.Join(fieldsOf(err), ","); got != "auth_type" || !strings.Contains(blobmark.ErrorMessage(err), "AZURE_FEDERATED_TOKEN_FILE") {
		t.Fatalf("fields %q: %v", got, err)
	}
}
