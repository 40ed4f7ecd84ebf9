package azuretest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/blobmark/blobmark/azureblob"
)

// AccountKeyConfig connects with Azurite's well-known account key.
func (e *Env) AccountKeyConfig() azureblob.Config {
	return azureblob.Config{AuthType: azureblob.AuthAccountKey, AccountName: AccountName, AccountKey: AccountKey, Endpoint: e.BlobEndpoint}
}

// ConnectionStringConfig connects with a connection string naming the
// account key and the harness endpoint.
func (e *Env) ConnectionStringConfig() azureblob.Config {
	return azureblob.Config{AuthType: azureblob.AuthConnectionString, ConnectionString: "DefaultEndpointsProtocol=https;AccountName=" +
		AccountName + ";AccountKey=" + AccountKey + ";BlobEndpoint=" + e.BlobEndpoint + ";"}
}

// ContainerSAS returns a container-level SAS token (read, add, create,
// write, delete, list) valid for an hour, signed with the account key.
func (e *Env) ContainerSAS(tb testing.TB, containerName string) string {
	tb.Helper()
	key, _ := sasKey()
	qp, err := sas.BlobSignatureValues{
		Protocol: sas.ProtocolHTTPS, StartTime: time.Now().Add(-5 * time.Minute), ExpiryTime: time.Now().Add(time.Hour),
		Permissions:   to.Ptr(sas.ContainerPermissions{Read: true, Add: true, Create: true, Write: true, Delete: true, List: true}).String(),
		ContainerName: containerName,
	}.SignWithSharedKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return qp.Encode()
}

func sasKey() (*service.SharedKeyCredential, error) {
	return service.NewSharedKeyCredential(AccountName, AccountKey)
}

// SASTokenConfig connects with a container SAS for containerName.
func (e *Env) SASTokenConfig(tb testing.TB, containerName string) azureblob.Config {
	return azureblob.Config{AuthType: azureblob.AuthSASToken, Endpoint: e.BlobEndpoint, SASToken: e.ContainerSAS(tb, containerName)}
}

// AnonymousConfig connects without a credential (use a public container).
func (e *Env) AnonymousConfig() azureblob.Config {
	return azureblob.Config{AuthType: azureblob.AuthAnonymous, Endpoint: e.BlobEndpoint}
}

// RegisterApp makes an app registration known to the fake authority.
// Blank ids are filled in; the completed App is returned.
func (e *Env) RegisterApp(app App) App {
	if app.ClientID == "" {
		app.ClientID = NewGUID()
	}
	if app.ObjectID == "" {
		app.ObjectID = NewGUID()
	}
	if app.TenantID == "" {
		app.TenantID = e.TenantID
	}
	e.authority.register(app)
	return app
}

// ServicePrincipalConfigFor returns a service principal config for app
// (registering it), with its secret or certificate.
func (e *Env) ServicePrincipalConfigFor(app App, certPEM string) azureblob.Config {
	app = e.RegisterApp(app)
	return azureblob.Config{AuthType: azureblob.AuthServicePrincipal, Endpoint: e.BlobEndpoint, AuthorityHost: e.AuthorityHost,
		TenantID: app.TenantID, ClientID: app.ClientID, ClientSecret: app.Secret, ClientCertificate: certPEM}
}

// ServicePrincipalConfig returns a config for a fresh app with a client secret.
func (e *Env) ServicePrincipalConfig() azureblob.Config {
	return e.ServicePrincipalConfigFor(App{Secret: "secret-" + randomHex(12)}, "")
}

// ServicePrincipalCertConfig returns a config for a fresh app that
// authenticates with a client certificate.
func (e *Env) ServicePrincipalCertConfig(tb testing.TB) azureblob.Config {
	tb.Helper()
	cc, err := NewClientCertificate("blobmark-test")
	if err != nil {
		tb.Fatal(err)
	}
	return e.ServicePrincipalConfigFor(App{Certificate: cc.Cert}, cc.PEM)
}

// RegisterManagedIdentity makes a user-assigned identity known to the fake
// managed identity endpoint; blank ids are filled in.
func (e *Env) RegisterManagedIdentity(mi ManagedIdentity) ManagedIdentity {
	if mi.ClientID == "" {
		mi.ClientID = NewGUID()
	}
	if mi.ObjectID == "" {
		mi.ObjectID = NewGUID()
	}
	if mi.ResourceID == "" {
		mi.ResourceID = "/subscriptions/" + NewGUID() + "/resourcegroups/test/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id" + randomHex(4)
	}
	e.identity.mu.Lock()
	e.identity.users = append(e.identity.users, &mi)
	e.identity.mu.Unlock()
	return mi
}

// ManagedIdentityConfig returns a managed identity config. by is "system"
// for the system-assigned identity, or "client_id", "resource_id" or
// "object_id" for a fresh user-assigned identity named that way (fresh, so
// that the SDK's process-wide token cache never hides a request).
func (e *Env) ManagedIdentityConfig(by string) azureblob.Config {
	cfg := azureblob.Config{AuthType: azureblob.AuthManagedIdentity, Endpoint: e.BlobEndpoint}
	if by == "system" {
		return cfg
	}
	mi := e.RegisterManagedIdentity(ManagedIdentity{})
	switch by {
	case "client_id":
		cfg.ManagedIdentityClientID = mi.ClientID
	case "resource_id":
		cfg.ManagedIdentityResourceID = mi.ResourceID
	case "object_id":
		cfg.ManagedIdentityObjectID = mi.ObjectID
	default:
		panic("azuretest: unknown managed identity kind " + by)
	}
	return cfg
}

// WorkloadIdentityConfig gives the server a workload identity for a fresh
// app, as AKS does (AZURE_CLIENT_ID, AZURE_TENANT_ID and
// AZURE_FEDERATED_TOKEN_FILE, a file holding the federated token), for the
// rest of the test, and returns a storage config that uses it: the storage
// names only the endpoint, since a workload identity's settings come from
// the server alone.
func (e *Env) WorkloadIdentityConfig(tb testing.TB) azureblob.Config {
	tb.Helper()
	e.useWorkloadIdentity(tb)
	return azureblob.Config{AuthType: azureblob.AuthWorkloadIdentity, Endpoint: e.BlobEndpoint}
}

func (e *Env) useWorkloadIdentity(tb testing.TB) App {
	tb.Helper()
	app := e.RegisterApp(App{FederatedToken: MintToken(TokenClaims{Audience: "api://AzureADTokenExchange", TenantID: e.TenantID, ObjectID: "system:serviceaccount:default:blobmark"})})
	file := filepath.Join(tb.TempDir(), "azure-identity-token")
	if err := os.WriteFile(file, []byte(app.FederatedToken), 0o600); err != nil {
		tb.Fatal(err)
	}
	tb.Setenv("AZURE_TENANT_ID", app.TenantID)
	tb.Setenv("AZURE_CLIENT_ID", app.ClientID)
	tb.Setenv("AZURE_FEDERATED_TOKEN_FILE", file)
	return app
}

// ServerIdentityConfig returns a config that uses the server's own identity
// chain; pick the branch with one of the UseServer… helpers first.
func (e *Env) ServerIdentityConfig() azureblob.Config {
	return azureblob.Config{AuthType: azureblob.AuthServerIdentity, Endpoint: e.BlobEndpoint}
}

// UseServerEnvironmentSP sets AZURE_TENANT_ID, AZURE_CLIENT_ID and
// AZURE_CLIENT_SECRET for a fresh app, selecting the chain's environment branch.
func (e *Env) UseServerEnvironmentSP(t *testing.T) App {
	app := e.RegisterApp(App{Secret: "env-secret-" + randomHex(8)})
	t.Setenv("AZURE_TENANT_ID", app.TenantID)
	t.Setenv("AZURE_CLIENT_ID", app.ClientID)
	t.Setenv("AZURE_CLIENT_SECRET", app.Secret)
	return app
}

// UseServerWorkloadIdentity sets the AKS variables (AZURE_CLIENT_ID,
// AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE) for a fresh app, selecting the
// chain's workload identity branch, and returns that app.
func (e *Env) UseServerWorkloadIdentity(t *testing.T) App {
	return e.useWorkloadIdentity(t)
}

// UseServerManagedIdentity registers a fresh user-assigned identity and sets
// AZURE_CLIENT_ID to it, selecting the chain's managed identity branch (App
// Service protocol).
func (e *Env) UseServerManagedIdentity(t *testing.T) ManagedIdentity {
	mi := e.RegisterManagedIdentity(ManagedIdentity{})
	t.Setenv("AZURE_CLIENT_ID", mi.ClientID)
	return mi
}

// UseServerAzureCLI puts a fake `az` on PATH that prints a token, and
// removes the App Service identity so the chain's managed identity branch
// asks IMDS (the fake, which has no identity for this host) and falls through
// to the Azure CLI branch.
func (e *Env) UseServerAzureCLI(t *testing.T) {
	dir := t.TempDir()
	exp := time.Now().Add(time.Hour)
	out, _ := json.Marshal(map[string]any{
		"accessToken": MintToken(TokenClaims{Audience: "https://storage.azure.com", TenantID: e.TenantID, ObjectID: NewGUID(), Lifetime: time.Hour}),
		"expiresOn":   exp.Format("2006-01-02 15:04:05.000000"), "expires_on": exp.Unix(), "tenant": e.TenantID, "tokenType": "Bearer",
	})
	tokenFile := filepath.Join(dir, "token.json")
	if err := os.WriteFile(tokenFile, out, 0o600); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\necho \"$@\" >> " + filepath.Join(dir, "calls") + "\ncat " + tokenFile + "\n"
	if err := os.WriteFile(filepath.Join(dir, "az"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("IDENTITY_ENDPOINT", "")
	t.Setenv("IDENTITY_HEADER", "")
	e.identity.mu.Lock()
	e.identity.imdsSys = false
	e.identity.mu.Unlock()
}

// UnreachableIdentityEndpoint points IDENTITY_ENDPOINT at a loopback port
// nothing listens on, for the duration of the test.
func (e *Env) UnreachableIdentityEndpoint(t *testing.T) {
	t.Setenv("IDENTITY_ENDPOINT", "http://"+freeClosedPort()+"/msi/token")
}

// HangingIdentityEndpoint points IDENTITY_ENDPOINT, for the duration of the
// test, at an endpoint that accepts requests and never answers: a managed
// identity that is not there.
func (e *Env) HangingIdentityEndpoint(t *testing.T) {
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	t.Setenv("IDENTITY_ENDPOINT", srv.URL+"/msi/token")
}

// SetCORSRules replaces the blob-service CORS rules of the emulator's
// account, which every test of the package shares: tests that set them
// must not run in parallel with each other. Azure cannot be given an empty
// list through the SDK, so give at least one rule.
func (e *Env) SetCORSRules(tb testing.TB, rules ...*service.CORSRule) {
	tb.Helper()
	if _, err := e.admin.SetProperties(context.Background(), &service.SetPropertiesOptions{CORS: rules}); err != nil {
		tb.Fatalf("setting CORS rules: %v", err)
	}
}

// CORSRule is a blob-service CORS rule for origin and methods (comma
// separated) that allows and exposes every header.
func CORSRule(origin, methods string, maxAge int32) *service.CORSRule {
	all := "*"
	return &service.CORSRule{AllowedOrigins: &origin, AllowedMethods: &methods, AllowedHeaders: &all, ExposedHeaders: &all, MaxAgeInSeconds: &maxAge}
}

// CORSRules reads the blob-service CORS rules of the emulator's account.
func (e *Env) CORSRules(tb testing.TB) []*service.CORSRule {
	tb.Helper()
	p, err := e.admin.GetProperties(context.Background(), nil)
	if err != nil {
		tb.Fatalf("reading CORS rules: %v", err)
	}
	return p.CORS
}

// ReadOnlyAccountSAS returns an account SAS for the blob service that may
// read and list the service, containers and blobs, but change nothing:
// its holder reads the service's properties and may not set them.
func (e *Env) ReadOnlyAccountSAS(tb testing.TB) string {
	tb.Helper()
	key, _ := sasKey()
	qp, err := sas.AccountSignatureValues{
		Protocol: sas.ProtocolHTTPS, StartTime: time.Now().Add(-5 * time.Minute), ExpiryTime: time.Now().Add(time.Hour),
		Permissions:   to.Ptr(sas.AccountPermissions{Read: true, List: true}).String(),
		ResourceTypes: to.Ptr(sas.AccountResourceTypes{Service: true, Container: true, Object: true}).String(),
	}.SignWithSharedKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return qp.Encode()
}
