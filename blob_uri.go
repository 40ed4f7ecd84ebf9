package blobmark

import "strings"

// BlobURIScheme is the scheme of the blob references blobmark, like Label
// Studio, writes into task data: azure-blob://<container>/<key>. The URI
// names no storage account; the storage that serves it supplies one.
const BlobURIScheme = "azure-blob"

// blobURIPrefix is BlobURIScheme with its separator.
const blobURIPrefix = BlobURIScheme + "://"

// FormatBlobURI returns the azure-blob:// URI of a blob. The key is kept as
// is, not URL-encoded, as Label Studio writes it, so that existing task data
// and exports match and ParseBlobURI gives the key back exactly.
func FormatBlobURI(container, key string) string {
	return blobURIPrefix + container + "/" + key
}

// ParseBlobURI splits an azure-blob://<container>/<key> URI. Everything
// after the first slash following the container is the key, '?', '#' and
// '%' included, because blob names may contain them and the URI does not
// escape them. A URI of another scheme, or without a container or a key, is
// EINVALID. Whether the names are ones Azure allows is for the caller.
func ParseBlobURI(uri string) (container, key string, err error) {
	rest, ok := strings.CutPrefix(uri, blobURIPrefix)
	if !ok {
		return "", "", Errorf(EINVALID, "not an %s URI", blobURIPrefix)
	}
	container, key, _ = strings.Cut(rest, "/")
	if container == "" || key == "" {
		return "", "", Errorf(EINVALID, "an %s URI needs a container and a blob name", blobURIPrefix)
	}
	return container, key, nil
}
