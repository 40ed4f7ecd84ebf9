package azureblob

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/blobmark/blobmark/egress"
)

// credential is what one Config authenticates with: exactly one of a token
// credential (every Entra ID type), a shared key, or a SAS token; anonymous
// when all are empty.
type credential struct {
	token     azcore.TokenCredential
	sharedKey *service.SharedKeyCredential
	sasToken  string
	account   account
	// identity describes the token source in error messages (never a secret).
	identity string
}

// newCredential is the one function that turns a validated, normalized
// Config into a credential. Every auth type is decided here and nowhere else.
//
// acct is where the credential will be used, as admitted by the connector's
// egress and allow-list checks; host identities get their Entra ID settings
// (authority, client, tenant, token file) from the server's environment
// only, never from c.
func newCredential(c Config, acct account, opts Options) (*credential, error) {
	cred := &credential{account: acct}
	host := authTypeSpecs[c.AuthType].hostIdentity
	var entra entra
	var watch *refusalWatch
	if host {
		entra = hostEntraOptions(opts)
	} else {
		entra = userEntraOptions(c, opts)
		watch = &refusalWatch{next: opts.Transport}
		entra.client.Transport = watch
	}
	var err error

	switch c.AuthType {
	case AuthAccountKey:
		cred.sharedKey, err = service.NewSharedKeyCredential(acct.name, c.AccountKey)
	case AuthSASToken:
		_, cred.sasToken, err = splitSAS(c.SASToken)
	case AuthConnectionString:
		var cs connectionString
		if cs, err = parseConnectionString(c.ConnectionString); err != nil {
			break
		}
		if cs.accountKey != "" {
			cred.sharedKey, err = service.NewSharedKeyCredential(cs.accountName, cs.accountKey)
		} else {
			cred.sasToken = strings.TrimPrefix(cs.sas, "?")
		}
	case AuthServicePrincipal:
		if c.ClientCertificate != "" {
			certs, key, perr := azidentity.ParseCertificates([]byte(c.ClientCertificate), []byte(c.ClientCertificatePassword))
			if perr != nil {
				return nil, &fieldErr{field: "client_certificate", err: errors.New("client_certificate could not be read")}
			}
			cred.identity = fmt.Sprintf("service principal %s (certificate) in tenant %s at %s", c.ClientID, c.TenantID, entra.authority)
			cred.token, err = azidentity.NewClientCertificateCredential(c.TenantID, c.ClientID, certs, key, &azidentity.ClientCertificateCredentialOptions{
				ClientOptions: entra.client, DisableInstanceDiscovery: entra.noDiscovery, SendCertificateChain: true})
		} else {
			cred.identity = fmt.Sprintf("service principal %s in tenant %s at %s", c.ClientID, c.TenantID, entra.authority)
			cred.token, err = azidentity.NewClientSecretCredential(c.TenantID, c.ClientID, c.ClientSecret, &azidentity.ClientSecretCredentialOptions{
				ClientOptions: entra.client, DisableInstanceDiscovery: entra.noDiscovery})
		}
	case AuthManagedIdentity:
		o := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: azcore.ClientOptions{Transport: opts.IdentityTransport}}
		cred.identity = "system-assigned managed identity"
		switch {
		case c.ManagedIdentityClientID != "":
			o.ID = azidentity.ClientID(c.ManagedIdentityClientID)
			cred.identity = "user-assigned managed identity with client id " + c.ManagedIdentityClientID
		case c.ManagedIdentityResourceID != "":
			o.ID = azidentity.ResourceID(c.ManagedIdentityResourceID)
			cred.identity = "user-assigned managed identity " + c.ManagedIdentityResourceID
		case c.ManagedIdentityObjectID != "":
			o.ID = azidentity.ObjectID(c.ManagedIdentityObjectID)
			cred.identity = "user-assigned managed identity with object id " + c.ManagedIdentityObjectID
		}
		cred.token, err = azidentity.NewManagedIdentityCredential(o)
	case AuthWorkloadIdentity:
		clientID, tenantID, file := getenv("AZURE_CLIENT_ID"), getenv("AZURE_TENANT_ID"), getenv("AZURE_FEDERATED_TOKEN_FILE")
		cred.identity = fmt.Sprintf("workload identity %s in tenant %s at %s", clientID, tenantID, entra.authority)
		cred.token, err = azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions: entra.client, DisableInstanceDiscovery: entra.noDiscovery,
			ClientID: clientID, TenantID: tenantID, TokenFilePath: file})
	case AuthServerIdentity:
		cred.identity = "the server's own Azure identity (environment, workload identity, managed identity or Azure CLI)"
		cred.token, err = azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
			ClientOptions: entra.client, DisableInstanceDiscovery: entra.noDiscovery})
	case AuthAnonymous:
	default:
		return nil, &fieldErr{field: "auth_type", err: fmt.Errorf("unknown auth_type %q", c.AuthType)}
	}
	if err != nil {
		return nil, err
	}
	if cred.token != nil {
		timeout := opts.IdentityTimeout
		if timeout <= 0 {
			timeout = defaultIdentityTimeout
		}
		cred.token = &boundedCredential{inner: cred.token, timeout: timeout, identity: cred.identity, managed: host && c.AuthType != AuthWorkloadIdentity,
			onFetch: opts.OnTokenFetch, refusals: watch, storageOnly: host}
	}
	return cred, nil
}

// fieldErr marks a construction failure caused by one config field.
type fieldErr struct {
	field string
	err   error
}

func (e *fieldErr) Error() string { return e.field + ": " + e.err.Error() }
func (e *fieldErr) Unwrap() error { return e.err }

// entra bundles the Entra ID settings shared by the service principal,
// workload identity and server identity credentials.
type entra struct {
	client      azcore.ClientOptions
	authority   string
	noDiscovery bool
}

// userEntraOptions are the Entra ID settings of a service principal the
// storage's owner supplied: authority_host if set, else the named cloud's,
// else AZURE_AUTHORITY_HOST (the operator's default cloud), else the public
// cloud. Its requests go through the user-directed transport, so an
// authority_host on a private or metadata address is refused like any
// endpoint.
func userEntraOptions(c Config, opts Options) entra {
	authority := cloudFor("public").authorityHost
	switch {
	case c.AuthorityHost != "":
		authority = c.AuthorityHost
	case c.Cloud != "":
		authority = cloudFor(c.Cloud).authorityHost
	case os.Getenv("AZURE_AUTHORITY_HOST") != "":
		authority = os.Getenv("AZURE_AUTHORITY_HOST")
	}
	return newEntra(authority, opts.Transport)
}

// hostEntraOptions are the Entra ID settings of the server's own identity:
// AZURE_AUTHORITY_HOST (the SDK's own setting) if the operator set it, else
// the public cloud's authority. No storage field, not even cloud, can move
// them, so the identity's assertion or secret only goes where the
// operator's environment says.
func hostEntraOptions(opts Options) entra {
	authority := os.Getenv("AZURE_AUTHORITY_HOST")
	if authority == "" {
		authority = cloudFor("public").authorityHost
	}
	return newEntra(authority, opts.IdentityTransport)
}

// newEntra disables instance discovery for any authority that is not one
// of the clouds' own, because discovery would ask the public cloud about it
// and no environment variable can turn that off.
func newEntra(authority string, transport policy.Transporter) entra {
	if !strings.HasSuffix(authority, "/") {
		authority += "/"
	}
	e := entra{authority: authority, client: azcore.ClientOptions{Transport: transport}}
	e.client.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: authority, Services: map[cloud.ServiceName]cloud.ServiceConfiguration{}}
	e.noDiscovery = !isKnownAuthority(authority)
	return e
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

const defaultIdentityTimeout = 10 * time.Second

// boundedCredential gives every token request a deadline. The SDK retries an
// unreachable managed-identity endpoint for a long time (IMDS: six retries
// with growing delays), which would hang an import or a media request; a
// bounded failure with a clear message is more useful.
type boundedCredential struct {
	inner    azcore.TokenCredential
	timeout  time.Duration
	identity string
	managed  bool
	onFetch  func()
	// refusals, when set, watches the credential's own requests: a token
	// request the egress guard refused fails with that refusal.
	refusals *refusalWatch
	// storageOnly limits a host identity to Azure Storage tokens.
	storageOnly bool
}

// storageScope is the scope of every token blobmark asks for Azure Storage
// (blobs, queues, user delegation keys).
const storageScope = "https://storage.azure.com/.default"

// GetToken implements azcore.TokenCredential.
func (b *boundedCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if b.storageOnly && !slices.Equal(o.Scopes, []string{storageScope}) {
		// The SDK takes a 401's resource_id challenge as the scope to ask
		// for next: a storage host must not make the server's identity
		// fetch a token for another service.
		return azcore.AccessToken{}, &tokenError{identity: b.identity, managed: b.managed,
			err: fmt.Errorf("the storage endpoint asked for a token for %q; the server's identity only gets tokens for Azure Storage", strings.Join(o.Scopes, " "))}
	}
	if b.onFetch != nil {
		b.onFetch()
	}
	cx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	tok, err := b.inner.GetToken(cx, o)
	if err != nil && b.refusals != nil {
		if refused := b.refusals.last.Swap(nil); refused != nil {
			return tok, &tokenError{identity: b.identity, err: refused}
		}
	}
	if err != nil {
		if ctx.Err() == nil && cx.Err() != nil {
			return tok, &identityTimeoutError{identity: b.identity, timeout: b.timeout, managed: b.managed, err: err}
		}
		return tok, &tokenError{identity: b.identity, managed: b.managed, err: err}
	}
	return tok, nil
}

// identityTimeoutError reports an identity endpoint that did not answer in time.
type identityTimeoutError struct {
	identity string
	timeout  time.Duration
	managed  bool
	err      error
}

func (e *identityTimeoutError) Error() string {
	return fmt.Sprintf("getting a token for %s took longer than %s: %v", e.identity, e.timeout, e.err)
}
func (e *identityTimeoutError) Unwrap() error { return e.err }

// tokenError marks a failure to get a token, as opposed to a storage failure,
// and remembers whose token it was.
type tokenError struct {
	identity string
	managed  bool
	err      error
}

func (e *tokenError) Error() string {
	return "getting a token for " + e.identity + ": " + e.err.Error()
}
func (e *tokenError) Unwrap() error { return e.err }

// refusalWatch remembers the last egress refusal among the requests it
// carries. The identity library reports a failed token request in its own
// words, without the cause; a refused authority should say it was refused.
type refusalWatch struct {
	next policy.Transporter
	last atomic.Pointer[egress.Error]
}

// Do implements policy.Transporter.
func (w *refusalWatch) Do(r *http.Request) (*http.Response, error) {
	resp, err := w.next.Do(r)
	var refused *egress.Error
	if errors.As(err, &refused) {
		w.last.Store(refused)
	}
	return resp, err
}
