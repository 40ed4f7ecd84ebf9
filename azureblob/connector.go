package azureblob

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/egress"
)

// Options are the server-level settings of the connector, shared by every
// storage.
type Options struct {
	// Transport carries every request made on a user's behalf: blob and
	// queue services and the authorities of user-supplied service
	// principals. Nil means a transport that dials through an egress.Guard
	// (AllowPrivateNetwork) and the environment's proxy, which production
	// always uses; tests give one that also trusts their certificate and
	// maps their host names.
	Transport policy.Transporter
	// AllowPrivateNetwork lets storages reach loopback and private network
	// addresses (private endpoints, the emulator). The cloud metadata range
	// is refused regardless.
	AllowPrivateNetwork bool
	// IdentityTransport carries the requests of the server's own identity
	// (managed-identity endpoint, workload identity's authority, the
	// identity chain), whose endpoints come from the server's environment
	// only; nil means the SDK's default settings, with the environment's
	// proxy for everything but the managed-identity endpoint (see
	// IdentityProxy). Only it may reach the instance-metadata address that
	// managed identities use.
	IdentityTransport policy.Transporter
	// ServerIdentityAllow lists where the auth types that use an identity
	// attached to the server (server_identity, managed_identity,
	// workload_identity) may be used; see allow.go for the forms. Those
	// identities are shared by every project, so they are refused unless
	// the operator allows them. Entries that do not parse (ParseAllowList
	// reports them) allow nothing.
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
	// Retry is the SDK's retry schedule for each blob and queue request;
	// the zero value is the SDK's (three retries, pauses from 0.8 s
	// doubling). Tests that point storages at dead endpoints shorten the
	// pauses, keeping the retries.
	Retry policy.RetryOptions
}

// Connector hands out Azure clients, one per distinct connection, reused by
// every call: clients hold the token and delegation-key caches, so a new
// client per call would mean a token request per call. Build one per server.
type Connector struct {
	opts  Options
	guard *egress.Guard
	allow []allowEntry
	mu    sync.Mutex
	accs  map[string]*accountClient
}

// NewConnector returns a Connector for the server's Options.
func NewConnector(opts Options) *Connector {
	guard := &egress.Guard{AllowPrivate: opts.AllowPrivateNetwork}
	if opts.Transport == nil {
		opts.Transport = guard.Client()
	}
	opts.Transport = failFastDials{next: boundedAnswers{next: opts.Transport}}
	opts.IdentityTransport = identityTransportOr(opts.IdentityTransport)
	var allow []allowEntry
	for _, raw := range opts.ServerIdentityAllow {
		if e, err := parseAllowList([]string{raw}); err == nil {
			allow = append(allow, e...)
		}
	}
	return &Connector{opts: opts, guard: guard, allow: allow, accs: map[string]*accountClient{}}
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
	acct, err := c.admit(cfg, func(acct account) (destination, string, bool, error) {
		d, err := destinationOf(acct.serviceURL, cfg.Cloud, "blob")
		return d, container, false, err
	})
	if err != nil {
		return nil, err
	}
	acc, err := c.account(cfg, acct)
	if err != nil {
		return nil, err
	}
	return &Container{acc: acc, name: container, client: acc.service.NewContainerClient(container)}, nil
}

// admit is the gate every client passes before a credential exists: it
// resolves where cfg's requests would go, refuses an endpoint that is a
// literal address the egress guard never dials, and for a host identity
// requires the destination that target derives (a container's or a
// queue's) to be on the operator's allow-list. Names are checked again
// when dialled, after resolution.
func (c *Connector) admit(cfg Config, target func(account) (d destination, resource string, queue bool, err error)) (account, error) {
	acct, err := endpointOf(cfg)
	if err != nil {
		return account{}, endpointErr(cfg, err)
	}
	if u, err := url.Parse(acct.serviceURL); err != nil {
		return account{}, endpointErr(cfg, err)
	} else if err := c.guard.CheckHost(u.Hostname()); err != nil {
		return account{}, endpointErr(cfg, err)
	}
	if u, err := url.Parse(cfg.AuthorityHost); err == nil && cfg.AuthorityHost != "" {
		if err := c.guard.CheckHost(u.Hostname()); err != nil {
			msg := "authority_host: " + err.Error()
			return account{}, &blobmark.Error{Code: blobmark.EINVALID, Field: "authority_host", Message: msg, Fields: map[string][]string{"authority_host": {msg}}}
		}
	}
	spec, ok := authTypeSpecs[cfg.AuthType]
	if !ok {
		return account{}, blobmark.FieldErrorf("auth_type", "unknown auth_type %q; use one of %s", cfg.AuthType, authTypeList())
	}
	if spec.hostIdentity {
		d, resource, queue, err := target(acct)
		if err != nil {
			return account{}, endpointErr(cfg, err)
		}
		if err := admitHostIdentity(c.allow, cfg, d, resource, queue); err != nil {
			return account{}, err
		}
	}
	return acct, nil
}

// endpointField is the connection field that sets where cfg's requests go.
func endpointField(cfg Config) string {
	switch {
	case cfg.AuthType == AuthConnectionString:
		return "connection_string"
	case cfg.AuthType == AuthSASToken && strings.HasPrefix(cfg.SASToken, "http"):
		return "sas_token"
	case cfg.Endpoint == "":
		return "account_name"
	}
	return "endpoint"
}

// endpointErr is a 400 on the field that sets where cfg's requests go.
func endpointErr(cfg Config, err error) error {
	field := endpointField(cfg)
	msg := field + ": " + err.Error()
	return &blobmark.Error{Code: blobmark.EINVALID, Field: field, Message: msg, Fields: map[string][]string{field: {msg}}}
}

func (c *Connector) account(cfg Config, acct account) (*accountClient, error) {
	key := cfg.cacheKey()
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.accs[key]; ok {
		return a, nil
	}
	cred, err := newCredential(cfg, acct, c.opts)
	if err != nil {
		var fe *fieldErr
		if errors.As(err, &fe) {
			return nil, &blobmark.Error{Code: blobmark.EINVALID, Field: fe.field, Message: fe.Error(), Fields: map[string][]string{fe.field: {fe.Error()}}}
		}
		return nil, &blobmark.Error{Code: blobmark.EINVALID, Message: "the Azure credential could not be set up: " + redact(err.Error(), cfg.Secrets()), Err: err}
	}
	co := &service.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: c.opts.Transport, Retry: c.opts.Retry}}
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
	if len(c.accs) >= maxCachedAccounts {
		// Validates can name any number of accounts; starting over costs
		// the live storages one token and delegation key each.
		clear(c.accs)
	}
	c.accs[key] = a
	return a, nil
}

// maxCachedAccounts bounds the distinct connections whose clients are
// kept, far above the storages of any install.
const maxCachedAccounts = 4096

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
