package azureblob

import (
	"errors"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/blobmark/blobmark"
)

func TestDirectoryKnownByMetadataOrResourceType(t *testing.T) {
	for _, tc := range []struct {
		name     string
		props    *container.BlobProperties
		metadata map[string]*string
		want     bool
	}{
		{"hdi_isfolder", &container.BlobProperties{}, map[string]*string{"hdi_isfolder": to.Ptr("true")}, true},
		{"hdi_isfolder in another case", nil, map[string]*string{"Hdi_IsFolder": to.Ptr("True")}, true},
		{"ResourceType directory", &container.BlobProperties{ResourceType: to.Ptr("directory")}, nil, true},
		{"ResourceType file", &container.BlobProperties{ResourceType: to.Ptr("file")}, nil, false},
		{"hdi_isfolder false", nil, map[string]*string{"hdi_isfolder": to.Ptr("false")}, false},
		{"other metadata", nil, map[string]*string{"owner": to.Ptr("true")}, false},
		{"plain blob", &container.BlobProperties{}, nil, false},
	} {
		if got := isDirectory(tc.props, tc.metadata); got != tc.want {
			t.Errorf("%s: isDirectory = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestDirectoryConflictsSayWhatToDo(t *testing.T) {
	for _, code := range []string{"DirectoryIsNotEmpty", "DirectoryNotEmpty", "PathConflict", "ResourceTypeMismatch"} {
		err := translate(responseError(409, code), errContext{op: opDelete, account: "acct", container: "c", key: "out/12", authType: AuthAccountKey})
		msg := blobmark.ErrorMessage(err)
		if blobmark.ErrorCode(err) != blobmark.ECONFLICT || !strings.Contains(msg, `"out/12"`) || !strings.Contains(msg, "directory") ||
			!strings.Contains(msg, "acct/c") {
			t.Errorf("%s: %v", code, err)
		}
	}
}

func TestDataLakeEndpointsResolveToTheBlobService(t *testing.T) {
	for _, tc := range []struct {
		name         string
		cfg          Config
		url, account string
	}{
		{"dfs endpoint", Config{Endpoint: "https://acct.dfs.core.windows.net/"}, "https://acct.blob.core.windows.net/", "acct"},
		{"dfs endpoint without slash", Config{Endpoint: "https://acct.dfs.core.windows.net"}, "https://acct.blob.core.windows.net/", "acct"},
		{"dfs URL as account_name", Config{AccountName: "https://acct.dfs.core.windows.net"}, "https://acct.blob.core.windows.net/", "acct"},
		{"china dfs", Config{Endpoint: "https://acct.dfs.core.chinacloudapi.cn/", Cloud: "china"}, "https://acct.blob.core.chinacloudapi.cn/", "acct"},
		{"usgov dfs", Config{Endpoint: "https://acct.dfs.core.usgovcloudapi.net/", Cloud: "usgov"}, "https://acct.blob.core.usgovcloudapi.net/", "acct"},
		{"abfss", Config{Endpoint: "abfss://lake@acct.dfs.core.windows.net/raw/images"}, "https://acct.blob.core.windows.net/", "acct"},
		{"abfs as account_name", Config{AccountName: "abfs://lake@acct.dfs.core.windows.net/"}, "https://acct.blob.core.windows.net/", "acct"},
		{"dfs SAS URL", Config{AuthType: AuthSASToken, SASToken: "https://acct.dfs.core.windows.net/lake?sv=1&sig=x"}, "https://acct.blob.core.windows.net/", "acct"},
	} {
		cfg := tc.cfg.Normalized()
		if cfg.AuthType == "" {
			cfg.AuthType = AuthAnonymous
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: Validate: %v", tc.name, err)
			continue
		}
		a, err := resolveAccount(cfg)
		if err != nil || a.serviceURL != tc.url || a.name != tc.account {
			t.Errorf("%s: got %+v, %v; want %s of %s", tc.name, a, err, tc.url, tc.account)
			continue
		}
		// The allow-list sees the account's own blob host: an entry for the
		// account admits it, one for another account does not.
		d, err := destinationOf(a.serviceURL, cfg.Cloud, "blob")
		if err != nil || d.ownAccount != "acct" {
			t.Errorf("%s: destination %+v, %v", tc.name, d, err)
		}
		for entry, want := range map[string]bool{"acct/*": true, "other/*": false, "https://acct.dfs.core.windows.net/*": false} {
			entries, err := parseAllowList([]string{entry})
			if err != nil {
				t.Fatal(err)
			}
			cfg := Config{AuthType: AuthServerIdentity, Endpoint: cfg.Endpoint}
			if got := admitHostIdentity(entries, cfg, d, "lake", false) == nil; got != want {
				t.Errorf("%s: entry %s admits %v, want %v", tc.name, entry, got, want)
			}
		}
	}
}

func TestMalformedDataLakeEndpointNamesTheField(t *testing.T) {
	for _, endpoint := range []string{"abfss://acct.dfs.core.windows.net/", "abfss://@acct.dfs.core.windows.net/"} {
		err := Config{AuthType: AuthAnonymous, Endpoint: endpoint}.Validate()
		var e *blobmark.Error
		if !errors.As(err, &e) || e.Code != blobmark.EINVALID || e.Field != "endpoint" || !strings.Contains(e.Message, "abfss://container@") {
			t.Errorf("endpoint %q: %v", endpoint, err)
		}
	}
}
