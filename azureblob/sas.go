package azureblob

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/blobmark/blobmark"
)

// SASKind says how a SAS URL was signed.
type SASKind string

// The SAS kinds SignURL mints.
const (
	// SASService is signed with the account key.
	SASService SASKind = "service"
	// SASUserDelegation is signed with a user delegation key obtained with an
	// Entra ID token; no account key is involved.
	SASUserDelegation SASKind = "user_delegation"
)

const (
	// sasClockSkew backdates the start of every SAS so that a client whose
	// clock is slightly ahead of Azure's can use it at once.
	sasClockSkew = 5 * time.Minute
	// maxDelegationKeyLife is Azure's limit on a user delegation key.
	maxDelegationKeyLife = 7 * 24 * time.Hour
	// delegationKeyLife is how long a delegation key is asked for when the
	// requested SAS lifetimes are short: one key request serves a day of SAS.
	delegationKeyLife = 24 * time.Hour
	// delegationKeyMargin renews a cached key before it ends, so that a SAS
	// never outlives the key that signed it.
	delegationKeyMargin = 5 * time.Minute
)

// SignURL returns a read-only, single-blob SAS URL for key that expires
// after ttl. It is HTTPS-only unless the endpoint itself is plain http.
// Account keys give a service SAS; every Entra ID credential gives a user
// delegation SAS signed with a cached delegation key. sas_token and anonymous
// connections have nothing to sign with: they get ENOTIMPLEMENTED, and media
// must go through the proxy.
func (c *Container) SignURL(ctx context.Context, key string, ttl time.Duration) (string, SASKind, error) {
	if key == "" {
		return "", "", blobmark.Errorf(blobmark.EINVALID, "a blob name is required to sign a URL")
	}
	if ttl <= 0 {
		return "", "", blobmark.Errorf(blobmark.EINVALID, "the SAS lifetime must be positive")
	}
	now := time.Now().UTC()
	values := sas.BlobSignatureValues{
		Protocol:      sas.ProtocolHTTPS,
		StartTime:     now.Add(-sasClockSkew),
		ExpiryTime:    now.Add(ttl),
		Permissions:   to.Ptr(sas.BlobPermissions{Read: true}).String(),
		ContainerName: c.name,
		BlobName:      key,
	}
	if strings.HasPrefix(c.acc.cred.account.serviceURL, "http://") {
		values.Protocol = sas.ProtocolHTTPSandHTTP
	}
	cred := c.acc.cred
	switch {
	case cred.sharedKey != nil:
		qp, err := values.SignWithSharedKey(cred.sharedKey)
		if err != nil {
			return "", "", &blobmark.Error{Code: blobmark.EINTERNAL, Message: "could not sign a service SAS", Err: err}
		}
		return c.BlobURL(key) + "?" + qp.Encode(), SASService, nil
	case cred.token != nil:
		if ttl > maxDelegationKeyLife-delegationKeyMargin {
			return "", "", blobmark.Errorf(blobmark.EINVALID, "a user delegation SAS cannot last longer than 7 days")
		}
		udc, err := c.acc.udk.get(ctx, c.acc, now, ttl)
		if err != nil {
			return "", "", translate(err, errContext{op: opDelegate, account: cred.account.name, authType: c.acc.cfg.AuthType,
				endpoint: cred.account.serviceURL, secrets: c.acc.cfg.Secrets()})
		}
		qp, err := values.SignWithUserDelegation(udc)
		if err != nil {
			return "", "", &blobmark.Error{Code: blobmark.EINTERNAL, Message: "could not sign a user delegation SAS", Err: err}
		}
		return c.BlobURL(key) + "?" + qp.Encode(), SASUserDelegation, nil
	}
	return "", "", &blobmark.Error{Code: blobmark.ENOTIMPLEMENTED, Message: fmt.Sprintf(
		"auth_type %s has no key to sign a SAS URL with: media is streamed through the server instead", c.acc.cfg.AuthType)}
}

// udkCache holds the account's current user delegation key. One key serves
// every SAS whose expiry falls before the key's; the key is renewed when a
// SAS would outlive it, and requests for a new key are not duplicated.
type udkCache struct {
	mu      sync.Mutex
	cred    *service.UserDelegationCredential
	expires time.Time
}

func (u *udkCache) get(ctx context.Context, acc *accountClient, now time.Time, ttl time.Duration) (*service.UserDelegationCredential, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.cred != nil && now.Add(ttl).Add(delegationKeyMargin).Before(u.expires) {
		return u.cred, nil
	}
	life := delegationKeyLife
	if need := ttl + 2*delegationKeyMargin; need > life {
		life = need
	}
	if life > maxDelegationKeyLife {
		life = maxDelegationKeyLife
	}
	start := now.Add(-sasClockSkew)
	expiry := now.Add(life)
	if expiry.Sub(start) > maxDelegationKeyLife {
		// Azure counts the 7 days from the request time; keep the whole key
		// window inside them as well.
		start = expiry.Add(-maxDelegationKeyLife)
	}
	info := service.KeyInfo{Start: to.Ptr(start.Format(sas.TimeFormat)), Expiry: to.Ptr(expiry.Format(sas.TimeFormat))}
	if acc.opts.OnDelegationKeyFetch != nil {
		acc.opts.OnDelegationKeyFetch()
	}
	cred, err := acc.service.GetUserDelegationCredential(ctx, info, nil)
	if err != nil {
		return nil, err
	}
	u.cred, u.expires = cred, expiry
	return cred, nil
}
