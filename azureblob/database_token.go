package azureblob

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// DatabaseScope is the Entra ID scope of Azure Database for PostgreSQL: a
// token for it is the password of an Entra ID database role.
const DatabaseScope = "https://ossrdbms-aad.database.windows.net/.default"

// databaseTokenMargin is how long before its expiry a database token is
// replaced, so a connection never starts with a token about to expire.
const databaseTokenMargin = 5 * time.Minute

// DatabaseTokenSource hands out access tokens for Azure Database for
// PostgreSQL, as passwords for new connections (sqlstore.Config.PasswordFunc).
// It keeps the current token and asks the identity for a new one only when
// the token is within five minutes of its expiry (or past the refresh time
// the identity suggests), so opening connections costs no token request.
type DatabaseTokenSource struct {
	cred     azcore.TokenCredential
	identity string
	onFetch  func()
	now      func() time.Time

	mu  sync.Mutex
	tok azcore.AccessToken
}

// NewDatabaseTokenSource returns a token source for the server's own
// identity: the user-assigned managed identity with managedIdentityClientID
// when it is set, else the server identity chain (environment service
// principal, workload identity, managed identity — AZURE_CLIENT_ID selects a
// user-assigned one —, Azure CLI). opts supplies the transport, the
// identity timeout and the token-fetch callback, as for storages.
func NewDatabaseTokenSource(opts Options, managedIdentityClientID string) (*DatabaseTokenSource, error) {
	s := &DatabaseTokenSource{onFetch: opts.OnTokenFetch, now: time.Now}
	opts.IdentityTransport = identityTransportOr(opts.IdentityTransport)
	var err error
	if managedIdentityClientID != "" {
		s.identity = "user-assigned managed identity with client id " + managedIdentityClientID
		s.cred, err = azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
			ClientOptions: azcore.ClientOptions{Transport: opts.IdentityTransport}, ID: azidentity.ClientID(managedIdentityClientID)})
	} else {
		entra := hostEntraOptions(opts)
		s.identity = "the server's own Azure identity"
		s.cred, err = azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
			ClientOptions: entra.client, DisableInstanceDiscovery: entra.noDiscovery})
	}
	if err != nil {
		return nil, fmt.Errorf("database identity: %w", err)
	}
	timeout := opts.IdentityTimeout
	if timeout <= 0 {
		timeout = defaultIdentityTimeout
	}
	s.cred = &boundedCredential{inner: s.cred, timeout: timeout, identity: s.identity, managed: true}
	return s, nil
}

// Password returns a valid token for DatabaseScope, fetching a new one only
// when the current one is due for renewal. If renewal fails while the
// current token is still valid for a minute, the current one is returned.
func (s *DatabaseTokenSource) Password(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.tok.Token != "" && !s.due(now) {
		return s.tok.Token, nil
	}
	if s.onFetch != nil {
		s.onFetch()
	}
	tok, err := s.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{DatabaseScope}})
	if err != nil {
		if s.tok.Token != "" && now.Add(time.Minute).Before(s.tok.ExpiresOn) {
			return s.tok.Token, nil
		}
		return "", err
	}
	s.tok = tok
	return tok.Token, nil
}

// due reports whether the current token should be replaced.
func (s *DatabaseTokenSource) due(now time.Time) bool {
	if !s.tok.RefreshOn.IsZero() && !now.Before(s.tok.RefreshOn) {
		return true
	}
	return !now.Add(databaseTokenMargin).Before(s.tok.ExpiresOn)
}
