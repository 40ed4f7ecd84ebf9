package azureblob

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/blobmark/blobmark"
)

// responseError builds the error the SDK returns for a storage answer, for
// the cases Azurite cannot produce (it does not check RBAC roles).
func responseError(status int, code string) error {
	req, _ := http.NewRequest(http.MethodGet, "https://acct.blob.core.windows.net/c/b?sig=SECRET", nil)
	resp := &http.Response{StatusCode: status, Header: http.Header{"X-Ms-Error-Code": {code}}, Request: req,
		Body: io.NopCloser(strings.NewReader("<Error><Code>" + code + "</Code></Error>"))}
	return runtime.NewResponseError(resp)
}

func TestTranslateNamesTheMissingRole(t *testing.T) {
	for op, role := range map[operation]string{opList: "Storage Blob Data Reader", opRead: "Storage Blob Data Reader",
		opWrite: "Storage Blob Data Contributor", opDelete: "Storage Blob Data Contributor", opDelegate: "Storage Blob Delegator",
		opTags: "blobs/tags/read"} {
		err := translate(responseError(403, "AuthorizationPermissionMismatch"), errContext{op: op, account: "acct", container: "c", authType: AuthManagedIdentity})
		msg := blobmark.ErrorMessage(err)
		if blobmark.ErrorCode(err) != blobmark.EFORBIDDEN || !strings.Contains(msg, role) || !strings.Contains(msg, "acct/c") {
			t.Errorf("%s: %v", op, err)
		}
	}
	cases := map[string]string{"ServerBusy": blobmark.EUNAVAILABLE, "InternalError": blobmark.EUNAVAILABLE, "BlobNotFound": blobmark.ENOTFOUND,
		"ContainerNotFound": blobmark.ENOTFOUND, "ConditionNotMet": blobmark.ECONFLICT}
	status := map[string]int{"ServerBusy": 503, "InternalError": 500, "BlobNotFound": 404, "ContainerNotFound": 404, "ConditionNotMet": 412}
	for code, want := range cases {
		err := translate(responseError(status[code], code), errContext{op: opRead, account: "acct", container: "c", key: "b", authType: AuthAccountKey})
		if got := blobmark.ErrorCode(err); got != want {
			t.Errorf("%s: code %s, want %s", code, got, want)
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: signature leaked", code)
		}
	}
}

// TestTranslateNamesTheTagPermission: reading index tags needs a
// permission that listing does not (t in a SAS); Azurite does not check
// it, so the answer Azure gives is built here.
func TestTranslateNamesTheTagPermission(t *testing.T) {
	err := translate(responseError(403, "AuthorizationPermissionMismatch"), errContext{op: opTags, account: "acct", container: "c", authType: AuthSASToken})
	if msg := blobmark.ErrorMessage(err); blobmark.ErrorCode(err) != blobmark.EFORBIDDEN || !strings.Contains(msg, "read blob index tags") ||
		!strings.Contains(msg, "t (tags)") || !strings.Contains(msg, "f (filter)") {
		t.Errorf("SAS: %v", err)
	}
	err = translate(responseError(403, "AuthorizationPermissionMismatch"), errContext{op: opTags, account: "acct", container: "c", authType: AuthServicePrincipal})
	if msg := blobmark.ErrorMessage(err); !strings.Contains(msg, "Storage Blob Data Owner") {
		t.Errorf("RBAC: %v", err)
	}
}

func TestEndpointsFromCloud(t *testing.T) {
	cases := []struct {
		cfg          Config
		url, account string
	}{
		{Config{AccountName: "acct"}, "https://acct.blob.core.windows.net/", "acct"},
		{Config{AccountName: "acct", Cloud: "china"}, "https://acct.blob.core.chinacloudapi.cn/", "acct"},
		{Config{AccountName: "acct", Cloud: "usgov"}, "https://acct.blob.core.usgovcloudapi.net/", "acct"},
		{Config{Endpoint: "http://127.0.0.1:10000/devstoreaccount1"}, "http://127.0.0.1:10000/devstoreaccount1/", "devstoreaccount1"},
		{Config{Endpoint: "https://files.example.com", AccountName: "acct"}, "https://files.example.com/", "acct"},
		{Config{AuthType: AuthSASToken, SASToken: "https://acct.blob.core.windows.net/cont?sv=1&sig=x"}, "https://acct.blob.core.windows.net/", "acct"},
	}
	for _, c := range cases {
		a, err := resolveAccount(c.cfg.Normalized())
		if err != nil || a.serviceURL != c.url || a.name != c.account {
			t.Errorf("%+v: got %+v, %v", c.cfg.Redacted(), a, err)
		}
	}
	if e := userEntraOptions(Config{Cloud: "usgov"}, Options{}); e.authority != "https://login.microsoftonline.us/" || e.noDiscovery {
		t.Errorf("usgov authority = %+v", e)
	}
	if e := userEntraOptions(Config{AuthorityHost: "https://login.example.org"}, Options{}); !e.noDiscovery {
		t.Error("instance discovery left on for a custom authority")
	}
	if got := escapeBlobName("a b/c#d?e%f/é"); got != "a%20b/c%23d%3Fe%25f/%C3%A9" {
		t.Errorf("escapeBlobName = %s", got)
	}
}
