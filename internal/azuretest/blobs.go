package azuretest

import (
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
)

// PutIndexedBlob uploads content as key of containerName with blob
// metadata and index tags, which the connector's own upload never sets.
func (e *Env) PutIndexedBlob(tb testing.TB, containerName, key, content string, metadata, tags map[string]string) {
	tb.Helper()
	md := make(map[string]*string, len(metadata))
	for k, v := range metadata {
		md[k] = to.Ptr(v)
	}
	_, err := e.admin.NewContainerClient(containerName).NewBlockBlobClient(key).UploadBuffer(tb.Context(), []byte(content),
		&blockblob.UploadBufferOptions{Metadata: md, Tags: tags})
	if err != nil {
		tb.Fatalf("upload %s: %v", key, err)
	}
}
