package azureblob

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/blobmark/blobmark"
)

// Options are the server-level settings of the connector, shared by every
// storage.
type Options struct {
	// Transport replaces the HTTP transport of every blob and identity client.
	// Nil in production; tests inject a client that trusts their certificate
	// and dials *.localhost to loopback.
	Transport policy.Transporter
	// ServerIdentityAllow lists where the auth types that use an identity
	// attached to the host (server_identity, managed_identity,
	// workload_identity) may be used, as "account/container", "account/*" or
	// "*". Those identities are shared by every project, so they are refused
	// unless the operator allows them.
	ServerIdentityAllow []string
	// IdentityTimeout bounds each token request (default 10s), so that a
	// misconfigured managed identity fails in seconds instead of hanging.
	IdentityTimeout time.Duration
	// OnTokenFetch, when set, is called for every token a client's pipeline
	// asks its credential for (the pipeline caches tokens, so this is about
	// once per token lifetime per client), for metrics.
	OnTokenFetch func()
	// OnDelegationKeyFetch, when set, is called for every user delegation
	// key requested from the service, for metrics.
	OnDelegationKeyFetch func()
}

// Connector hands out Azure clients, one per distinct connection, reused by
// every call: clients hold the token and delegation-key caches, so a new
// client per call would mean a token request per call. Build one per server.
type Connector struct {
	opts Options
	mu   sync.Mutex
	accs map[string]*accountClient
}

// NewConnector returns a Connector for the server's Options.
func NewConnector(opts Options) *Connector {
	return &Connector{opts: opts, accs: map[string]*accountClient{}}
}

// accountClient is the cached state of one distinct config.
type accountClient struct {
	cfg     Config
	cred    *credential
	service *service.Client
	udk     udkCache
	opts    Options
}

// Container returns the client for one container of the account cfg points
// at. The account-level client is cached by a hash of the normalized config,
// secrets included, so equal configs share it and a changed secret gets a new one.
func (c *Connector) Container(ctx context.Context, cfg Config, container string) (*Container, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := checkContainerName(container); err != nil {
		return nil, err
	}
	cfg = cfg.Normalized()
	acc, err := c.account(cfg)
	if err != nil {
		return nil, err
	}
	if usesHostIdentity(cfg.AuthType) && !serverIdentityAllowed(c.opts.ServerIdentityAllow, acc.cred.account.name, container) {
		return nil, &blobmark.Error{Code: blobmark.EFORBIDDEN, Field: "auth_type", Message: fmt.Sprintf(
			"auth_type %s uses an Azure identity attached to the server, which may not be used for %s/%s: the server operator must allow it (server identity allow-list entry %q or %q)",
			cfg.AuthType, acc.cred.account.name, container, acc.cred.account.name+"/"+container, acc.cred.account.name+"/*")}
	}
	return &Container{acc: acc, name: container, client: acc.service.NewContainerClient(container)}, nil
}

func (c *Connector) account(cfg Config) (*accountClient, error) {
	key := cfg.cacheKey()
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.accs[key]; ok {
		return a, nil
	}
	cred, err := newCredential(cfg, c.opts)
	if err != nil {
		var fe *fieldErr
		if errors.As(err, &fe) {
			return nil, &blobmark.Error{Code: blobmark.EINVALID, Field: fe.field, Message: fe.Error(), Fields: map[string][]string{fe.field: {fe.Error()}}}
		}
		return nil, &blobmark.Error{Code: blobmark.EINVALID, Message: "the Azure credential could not be set up: " + redact(err.Error(), cfg.Secrets()), Err: err}
	}
	co := &service.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: c.opts.Transport}}
	var sc *service.Client
	switch {
	case cred.token != nil:
		sc, err = service.NewClient(cred.account.serviceURL, cred.token, co)
	case cred.sharedKey != nil:
		sc, err = service.NewClientWithSharedKeyCredential(cred.account.serviceURL, cred.sharedKey, co)
	case cred.sasToken != "":
		sc, err = service.NewClientWithNoCredential(cred.account.serviceURL+"?"+cred.sasToken, co)
	default:
		sc, err = service.NewClientWithNoCredential(cred.account.serviceURL, co)
	}
	if err != nil {
		return nil, &blobmark.Error{Code: blobmark.EINVALID, Message: "the Azure client could not be set up: " + redact(err.Error(), cfg.Secrets()), Err: err}
	}
	a := &accountClient{cfg: cfg, cred: cred, service: sc, opts: c.opts}
	c.accs[key] = a
	return a, nil
}

// usesHostIdentity reports whether an auth type authenticates as an identity
// attached to the host (its managed identities, its workload identity, its
// default credential chain) rather than with a secret the storage's owner
// supplied. Any API user could name such an identity, so the operator's
// allow-list gates all three.
func usesHostIdentity(t AuthType) bool {
	return t == AuthServerIdentity || t == AuthManagedIdentity || t == AuthWorkloadIdentity
}

// serverIdentityAllowed matches account/container against the operator's
// allow-list patterns ("*", "account/*", "account/container").
func serverIdentityAllowed(patterns []string, accountName, container string) bool {
	target := accountName + "/" + container
	for _, p := range patterns {
		p = strings.TrimSpace(p)
		if p == "*" || p == "*/*" {
			return true
		}
		if ok, _ := path.Match(p, target); ok {
			return true
		}
	}
	return false
}

// checkContainerName applies Azure's container naming rules up front, so a
// typo gets a precise message rather than a 400 from the service.
func checkContainerName(name string) error {
	ok := len(name) >= 3 && len(name) <= 63 && !strings.Contains(name, "--") &&
		!strings.HasPrefix(name, "-") && !strings.HasSuffix(name, "-")
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			ok = false
		}
	}
	if name == "$root" || name == "$web" {
		ok = true
	}
	if !ok {
		return blobmark.FieldErrorf("container", "container %q is not a valid name: 3 to 63 lower-case letters, digits and single hyphens", name)
	}
	return nil
}

// escapeBlobName URL-encodes each path segment of a blob name, keeping the
// slashes, so names with spaces, '#', '?', '%' or non-ASCII letters survive
// in a URL.
func escapeBlobName(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}
