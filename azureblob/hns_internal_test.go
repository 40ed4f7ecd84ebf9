package azureblob

import (
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
