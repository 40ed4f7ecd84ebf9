package azuretest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/blobmark/blobmark/azureblob"
)

// AccountName and AccountKey are Azurite's well-known development account.
const (
	AccountName = "devstoreaccount1"
	AccountKey  = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// Env is the running test environment, shared by all tests of one test binary.
type Env struct {
	// BlobEndpoint is the product-style service URL
	// (https://devstoreaccount1.blob.localhost:PORT/); user delegation SAS
	// only work with this form.
	BlobEndpoint string
	// IPEndpoint is the same service as https://127.0.0.1:PORT/devstoreaccount1/.
	IPEndpoint string
	// AuthorityHost is the fake Entra ID authority (https).
	AuthorityHost string
	// IdentityEndpoint and IdentityHeader are the App Service managed identity
	// settings, also exported as IDENTITY_ENDPOINT and IDENTITY_HEADER.
	IdentityEndpoint, IdentityHeader string
	// TenantID is the tenant the fakes issue tokens for.
	TenantID string
	// HTTPClient trusts the harness certificate, maps *.localhost to loopback,
	// rewrites IMDS to the fake, and refuses any other destination.
	HTTPClient *http.Client
	// CertPEM is the server certificate, for clients outside Go's process (SSL_CERT_FILE).
	CertPEM []byte

	azurite   *azurite
	queue     queueService
	srvCert   *serverCert
	authority *fakeAuthority
	identity  *fakeIdentity
	servers   []*httptest.Server
	counts    *counters
	admin     *service.Client
	blobPort  string
	// identityAddr is the fake managed-identity endpoint's "ip:port".
	identityAddr string
}

var (
	shared    *Env
	startErr  error
	startOnce sync.Once
	inMain    bool
)

// Main runs the tests of a package and stops the environment afterwards
// (if a test started it). Call it from TestMain.
func Main(m *testing.M) {
	inMain = true
	code := m.Run()
	if shared != nil {
		shared.stop()
	}
	os.Exit(code)
}

// Start returns the shared environment, starting it on first use (Azurite
// takes a few seconds). It fails the test if Azurite is not installed.
func Start(tb testing.TB) *Env {
	tb.Helper()
	if !inMain {
		tb.Fatal("azuretest: call azuretest.Main(m) from TestMain so the environment is shut down")
	}
	startOnce.Do(func() { shared, startErr = start() })
	if startErr != nil {
		tb.Fatal(startErr)
	}
	return shared
}

// Environment variables that would make the SDK pick an identity from the
// machine running the tests; they are cleared so tests only see the fakes.
var ambientAzureVars = []string{
	"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
	"AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE",
	"AZURE_TOKEN_CREDENTIALS", "MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT",
}

func start() (*Env, error) {
	cert, err := newServerCert()
	if err != nil {
		return nil, err
	}
	e := &Env{counts: &counters{n: map[string]int64{}}, CertPEM: cert.certPEM, TenantID: NewGUID(), IdentityHeader: randomHex(16)}
	e.srvCert = cert

	e.identity = &fakeIdentity{header: e.IdentityHeader, tenantID: e.TenantID, counts: e.counts,
		// Short-lived system tokens: the SDK caches managed identity tokens per
		// process and treats tokens with under 5 minutes left as expired, so
		// every test really asks the endpoint for the system identity.
		system: &ManagedIdentity{ObjectID: NewGUID(), TokenLifetime: 4 * 60 * 1e9}}
	mi := httptest.NewServer(e.identity.handler())
	e.servers = append(e.servers, mi)
	e.IdentityEndpoint = mi.URL + "/msi/token"

	e.authority = &fakeAuthority{counts: e.counts, apps: map[string]*App{}}
	auth := httptest.NewUnstartedServer(e.authority.handler())
	auth.TLS = tlsConfig(cert)
	auth.StartTLS()
	e.servers = append(e.servers, auth)
	e.authority.base = auth.URL
	e.AuthorityHost = auth.URL + "/"

	e.azurite, err = startAzurite(cert)
	if err != nil {
		e.stop()
		return nil, err
	}
	port := strconv.Itoa(e.azurite.port)
	e.BlobEndpoint = "https://" + AccountName + ".blob.localhost:" + port + "/"
	e.IPEndpoint = "https://127.0.0.1:" + port + "/" + AccountName + "/"
	e.blobPort = port
	e.identityAddr = mi.Listener.Addr().String()
	e.HTTPClient = newHTTPClient(cert, e.identityAddr, e.counts, port, nil)

	for _, v := range ambientAzureVars {
		os.Unsetenv(v)
	}
	os.Setenv("IDENTITY_ENDPOINT", e.IdentityEndpoint)
	os.Setenv("IDENTITY_HEADER", e.IdentityHeader)
	os.Setenv("AZURE_AUTHORITY_HOST", e.AuthorityHost)

	key, _ := service.NewSharedKeyCredential(AccountName, AccountKey)
	e.admin, err = service.NewClientWithSharedKeyCredential(e.BlobEndpoint, key,
		&service.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: e.HTTPClient}})
	if err != nil {
		e.stop()
		return nil, err
	}
	return e, nil
}

func (e *Env) stop() {
	e.queue.stop()
	if e.azurite != nil {
		e.azurite.stop()
		os.RemoveAll(e.azurite.dir)
	}
	for _, s := range e.servers {
		s.Close()
	}
}

// Options returns connector options for tests: user-directed requests
// through GuardedClient (private networks allowed, as the tests' servers
// are on loopback), the server's identity through the harness client, the
// server identity allowed on the emulator's blob endpoints (AllowEntries),
// a short identity timeout, and the SDK's retries with pauses of
// milliseconds instead of seconds, so that tests of storages whose endpoint
// is down (every request retried) wait on the outcome, not on the pauses.
func (e *Env) Options() azureblob.Options {
	return azureblob.Options{Transport: e.GuardedClient(true, nil), AllowPrivateNetwork: true, IdentityTransport: e.HTTPClient,
		ServerIdentityAllow: e.AllowEntries(), IdentityTimeout: 5e9,
		Retry: policy.RetryOptions{RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 100 * time.Millisecond}}
}

// AllowEntries are the server identity allow-list entries of the emulator:
// every container on both forms of its blob endpoint (BlobEndpoint and
// IPEndpoint). The emulator is no cloud account's own host, so only URL
// entries name it, as they name a private endpoint.
func (e *Env) AllowEntries() []string {
	return []string{e.BlobEndpoint + "*", e.IPEndpoint + "*"}
}

// Count returns how many requests an endpoint has received: "blob" (Azurite),
// "udk" (user delegation key requests), "token" and "discovery" (authority),
// "token:<client id>" (per app), "mi" (App Service identity), "imds".
func (e *Env) Count(name string) int64 { return e.counts.get(name) }

// NewContainer creates a private container with a fresh name, deleted when
// the test ends.
func (e *Env) NewContainer(tb testing.TB) string {
	return e.newContainer(tb, nil)
}

// NewPublicContainer creates a container whose blobs and listing are
// readable anonymously.
func (e *Env) NewPublicContainer(tb testing.TB) string {
	a := container.PublicAccessTypeContainer
	return e.newContainer(tb, &a)
}

func (e *Env) newContainer(tb testing.TB, access *container.PublicAccessType) string {
	tb.Helper()
	name := "t" + randomHex(10)
	if _, err := e.admin.CreateContainer(context.Background(), name, &service.CreateContainerOptions{Access: access}); err != nil {
		tb.Fatalf("creating container: %v", err)
	}
	tb.Cleanup(func() { _, _ = e.admin.DeleteContainer(context.Background(), name, nil) })
	return name
}

// NewGUID returns a random GUID, the shape of Entra ids.
func NewGUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// freeClosedPort returns a loopback address nothing listens on, for
// "unreachable endpoint" tests.
func freeClosedPort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:9"
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
