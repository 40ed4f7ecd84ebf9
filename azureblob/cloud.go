package azureblob

import (
	"sort"
	"strings"
)

// cloudEndpoints holds what differs between Azure clouds: the DNS suffix of
// blob endpoints and the Entra ID authority. This table is the only place in
// blobmark where those host names appear.
type cloudEndpoints struct {
	blobSuffix    string
	authorityHost string
}

var clouds = map[string]cloudEndpoints{
	"public": {blobSuffix: "blob.core.windows.net", authorityHost: "https://login.microsoftonline.com/"},
	"china":  {blobSuffix: "blob.core.chinacloudapi.cn", authorityHost: "https://login.chinacloudapi.cn/"},
	"usgov":  {blobSuffix: "blob.core.usgovcloudapi.net", authorityHost: "https://login.microsoftonline.us/"},
}

// cloudFor returns the endpoints of the named cloud, the public cloud for "".
func cloudFor(name string) cloudEndpoints {
	if c, ok := clouds[strings.ToLower(name)]; ok {
		return c
	}
	return clouds["public"]
}

// isKnownAuthority reports whether host is one of the clouds' own authorities,
// for which Entra instance discovery is safe to leave on.
func isKnownAuthority(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), "/")
	for _, c := range clouds {
		if strings.TrimSuffix(c.authorityHost, "/") == h {
			return true
		}
	}
	return false
}

func cloudList() string {
	names := make([]string, 0, len(clouds))
	for k := range clouds {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
