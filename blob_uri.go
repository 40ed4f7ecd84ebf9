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

// BlobURLOfDataLake returns the Blob service form of a Data Lake Storage
// Gen2 address, which names the same data through the account's dfs
// endpoint: https://account.dfs.<suffix>/<path> becomes
// https://account.blob.<suffix>/<path>, and Hadoop's
// abfss://<container>@account.dfs.<suffix>/<path> (or abfs://) becomes
// https://account.blob.<suffix>/<container>/<path>, the path kept as
// written. abfs:// is read as https too: a URI's scheme never makes
// blobmark fetch data in the clear. ok is false for anything else, which
// callers take as it is. Only the service label of the host changes, so
// the result names the same account as the input and deserves no more
// trust: callers check it exactly as they check any blob URL.
func BlobURLOfDataLake(s string) (blobURL string, ok bool) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return "", false
	}
	authority, path, _ := strings.Cut(rest, "/")
	switch strings.ToLower(scheme) {
	case "https", "http":
		host, ok := blobHostOfDataLake(authority)
		if !ok {
			return "", false
		}
		return scheme + "://" + host + "/" + path, true
	case "abfss", "abfs":
		container, host, ok := strings.Cut(authority, "@")
		if !ok || container == "" {
			return "", false
		}
		if host, ok = blobHostOfDataLake(host); !ok {
			return "", false
		}
		return "https://" + host + "/" + container + "/" + path, true
	}
	return "", false
}

// blobHostOfDataLake turns account.dfs.<suffix>[:port] into
// account.blob.<suffix>[:port], the naming every Azure cloud shares.
func blobHostOfDataLake(host string) (string, bool) {
	account, rest, ok := strings.Cut(host, ".")
	service, suffix, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || account == "" || suffix == "" || !strings.EqualFold(service, "dfs") {
		return "", false
	}
	return account + ".blob." + suffix, true
}
