package azureblob

import (
	"strings"

	"github.com/blobmark/blobmark"
)

// URIScheme is the scheme of blob references stored in task data, as Label
// Studio writes them: azure-blob://container/key.
const URIScheme = "azure-blob"

// FormatURI returns the azure-blob:// URI of a blob. The key is kept as is
// (not URL-encoded), as Label Studio does, so that ParseURI gives it back
// exactly.
func FormatURI(container, key string) string {
	return URIScheme + "://" + container + "/" + key
}

// ParseURI splits an azure-blob://container/key URI. Everything after the
// first slash following the container is the key, including '?', '#' and
// '%' characters, because blob names may contain them.
func ParseURI(uri string) (container, key string, err error) {
	rest, ok := strings.CutPrefix(uri, URIScheme+"://")
	if !ok {
		return "", "", blobmark.Errorf(blobmark.EINVALID, "not an %s:// URI", URIScheme)
	}
	container, key, _ = strings.Cut(rest, "/")
	if container == "" || key == "" {
		return "", "", blobmark.Errorf(blobmark.EINVALID, "an %s:// URI needs a container and a blob name", URIScheme)
	}
	return container, key, nil
}
