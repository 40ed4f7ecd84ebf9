package azureblob

import (
	"context"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// countingCredential counts the tokens asked of it.
type countingCredential struct{ calls int }

func (c *countingCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.calls++
	return azcore.AccessToken{Token: "t"}, nil
}

// TestHostIdentityOnlyGetsStorageTokens: a storage host that answers with
// a resource_id challenge cannot make the server's identity fetch a token
// for Resource Manager, Key Vault or Graph; a user's service principal is
// the user's own business.
func TestHostIdentityOnlyGetsStorageTokens(t *testing.T) {
	inner := &countingCredential{}
	host := &boundedCredential{inner: inner, timeout: 1e9, identity: "the server", storageOnly: true}
	for _, scope := range []string{"https://management.azure.com/.default", "https://vault.azure.net/.default", "https://graph.microsoft.com/.default"} {
		if _, err := host.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{scope}}); err == nil || !strings.Contains(err.Error(), "only gets tokens for Azure Storage") {
			t.Errorf("%s: %v", scope, err)
		}
	}
	if inner.calls != 0 {
		t.Fatalf("%d tokens fetched for other services", inner.calls)
	}
	if _, err := host.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{storageScope}}); err != nil || inner.calls != 1 {
		t.Fatalf("storage token: %v, %d calls", err, inner.calls)
	}
	user := &boundedCredential{inner: inner, timeout: 1e9, identity: "a user's principal"}
	if _, err := user.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}}); err != nil {
		t.Fatal(err)
	}
}

// TestQueueURLKeepsTheStoragesChannel: a queue URL may not downgrade the
// storage's scheme, nor send a real account's credential to a loopback
// port.
func TestQueueURLKeepsTheStoragesChannel(t *testing.T) {
	real := account{serviceURL: "https://acct.blob.core.windows.net/", name: "acct"}
	emulator := account{serviceURL: "https://127.0.0.1:10000/acct/", name: "acct"}
	for _, c := range []struct {
		acct  account
		queue string
		ok    bool
	}{
		{real, "events", true},
		{real, "https://acct.queue.core.windows.net/events", true},
		{real, "http://acct.queue.core.windows.net/events", false},
		{real, "https://127.0.0.1:10001/acct/events", false},
		{real, "https://other.queue.core.windows.net/events", false},
		{emulator, "https://127.0.0.1:10001/acct/events", true},
		{emulator, "http://127.0.0.1:10001/acct/events", false},
		{emulator, "https://127.0.0.1:10001/other/events", false},
	} {
		if _, err := queueURL(c.acct, c.queue); (err == nil) != c.ok {
			t.Errorf("%s with %s: %v", c.queue, c.acct.serviceURL, err)
		}
	}
}
