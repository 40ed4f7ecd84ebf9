package azureblob

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/blobmark/blobmark"
)

// getenv is a seam over os.Getenv for the AZURE_* defaults of workload identity.
var getenv = os.Getenv

// account is where a config points: the service URL (always ending in "/")
// and the storage account name used to sign requests and SAS.
type account struct {
	serviceURL string
	name       string
}

// resolveAccount derives the service URL and account name of a normalized
// config: an explicit endpoint wins; otherwise account_name plus the cloud's
// blob suffix.
func resolveAccount(c Config) (account, error) {
	endpoint := c.Endpoint
	if c.AuthType == AuthSASToken && strings.HasPrefix(c.SASToken, "http") {
		base, _, err := splitSAS(c.SASToken)
		if err != nil {
			return account{}, err
		}
		endpoint = blobServiceOf(base)
	}
	if endpoint == "" {
		if c.AccountName == "" {
			return account{}, fmt.Errorf("account_name or endpoint is required")
		}
		return account{serviceURL: "https://" + c.AccountName + "." + cloudFor(c.Cloud).blobSuffix + "/", name: c.AccountName}, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return account{}, err
	}
	u.RawQuery, u.Fragment = "", ""
	name := c.AccountName
	if name == "" {
		if name, err = accountFromEndpoint(endpoint); err != nil {
			return account{}, err
		}
	}
	s := u.String()
	if !strings.HasSuffix(s, "/") {
		s += "/"
	}
	return account{serviceURL: s, name: name}, nil
}

// blobServiceOf returns the blob service URL of an account URL given in a
// Data Lake Storage Gen2 form: the dfs endpoint, or an abfs(s):// URI,
// whose container and path are dropped, as a storage names its container
// in its own field. Any other endpoint is returned as it is. The account
// stays the same, so the allow-list and the egress guard judge the blob
// host exactly as if the user had typed it.
func blobServiceOf(endpoint string) string {
	u, ok := blobmark.BlobURLOfDataLake(endpoint)
	if !ok {
		return endpoint
	}
	if scheme, _, _ := strings.Cut(endpoint, "://"); strings.HasPrefix(strings.ToLower(scheme), "abfs") {
		host, _, _ := strings.Cut(strings.TrimPrefix(u, "https://"), "/")
		return "https://" + host + "/"
	}
	return u
}

// endpointOf is where a normalized config's requests go: resolveAccount's
// answer, or a connection string's blob endpoint and account.
func endpointOf(c Config) (account, error) {
	if c.AuthType != AuthConnectionString {
		return resolveAccount(c)
	}
	cs, err := parseConnectionString(c.ConnectionString)
	if err != nil {
		return account{}, err
	}
	return account{serviceURL: cs.blobEndpoint, name: cs.accountName}, nil
}

// accountFromEndpoint reads the account name from an endpoint: the first path
// segment for IP-style URLs (Azurite's http://127.0.0.1:10000/devstoreaccount1),
// otherwise the first label of the host.
func accountFromEndpoint(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("endpoint is not a URL")
	}
	host := u.Hostname()
	if net.ParseIP(host) != nil || host == "localhost" {
		seg := strings.SplitN(strings.Trim(u.Path, "/"), "/", 2)[0]
		if seg == "" {
			return "", fmt.Errorf("endpoint %s does not name an account", u.Host)
		}
		return seg, nil
	}
	return strings.SplitN(host, ".", 2)[0], nil
}

// splitSAS separates a SAS given either as a query string (with or without
// the leading "?") or as a full SAS URL into the account service URL (empty
// for a bare token) and the token. A container in a SAS URL's path is
// dropped: the container is chosen per storage.
func splitSAS(s string) (base, token string, err error) {
	if strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") {
		u, err := url.Parse(s)
		if err != nil || u.RawQuery == "" {
			return "", "", fmt.Errorf("SAS URL has no token")
		}
		token = u.RawQuery
		path := strings.Trim(u.Path, "/")
		keep := ""
		if h := u.Hostname(); net.ParseIP(h) != nil || h == "localhost" {
			keep = strings.SplitN(path, "/", 2)[0] + "/"
		}
		base = u.Scheme + "://" + u.Host + "/" + strings.TrimPrefix(keep, "/")
	} else {
		token = strings.TrimPrefix(s, "?")
	}
	q, err := url.ParseQuery(token)
	if err != nil || q.Get("sig") == "" || q.Get("sv") == "" {
		return "", "", fmt.Errorf("not a SAS token")
	}
	return base, token, nil
}

// connectionString holds the parts of an Azure Storage connection string that
// matter for blobs.
type connectionString struct {
	accountName, accountKey, sas, blobEndpoint string
}

// devStoreKey is the published key of Azurite's well-known development
// account, which "UseDevelopmentStorage=true" stands for.
const devStoreKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

// parseConnectionString understands every connection-string form Azure and
// Azurite produce: AccountName/AccountKey with DefaultEndpointsProtocol and
// EndpointSuffix, an explicit BlobEndpoint, SharedAccessSignature, and
// UseDevelopmentStorage=true.
func parseConnectionString(s string) (connectionString, error) {
	kv := map[string]string{}
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return connectionString{}, fmt.Errorf("connection_string is malformed: every part must be Key=Value")
		}
		kv[strings.ToLower(k)] = v
	}
	if strings.EqualFold(kv["usedevelopmentstorage"], "true") {
		return connectionString{accountName: "devstoreaccount1", accountKey: devStoreKey, blobEndpoint: "http://127.0.0.1:10000/devstoreaccount1/"}, nil
	}
	cs := connectionString{accountName: kv["accountname"], accountKey: kv["accountkey"], sas: kv["sharedaccesssignature"], blobEndpoint: kv["blobendpoint"]}
	if cs.blobEndpoint == "" {
		if cs.accountName == "" {
			return connectionString{}, fmt.Errorf("connection_string needs AccountName or BlobEndpoint")
		}
		proto := kv["defaultendpointsprotocol"]
		if proto == "" {
			proto = "https"
		}
		suffix := kv["endpointsuffix"]
		if suffix == "" {
			suffix = strings.TrimPrefix(cloudFor("public").blobSuffix, "blob.")
		}
		cs.blobEndpoint = proto + "://" + cs.accountName + ".blob." + suffix + "/"
	}
	if cs.accountKey == "" && cs.sas == "" {
		return connectionString{}, fmt.Errorf("connection_string needs AccountKey or SharedAccessSignature")
	}
	if cs.accountKey != "" && !isBase64(cs.accountKey) {
		return connectionString{}, fmt.Errorf("connection_string AccountKey is not valid base64")
	}
	if cs.accountKey != "" && cs.accountName == "" {
		name, err := accountFromEndpoint(cs.blobEndpoint)
		if err != nil {
			return connectionString{}, fmt.Errorf("connection_string needs AccountName")
		}
		cs.accountName = name
	}
	if !strings.HasSuffix(cs.blobEndpoint, "/") {
		cs.blobEndpoint += "/"
	}
	return cs, nil
}

func isBase64(s string) bool {
	_, err := base64.StdEncoding.DecodeString(s)
	return err == nil && len(s) > 0
}

// checkCertificate verifies that a PEM client certificate contains a
// certificate and its private key, without echoing any of it.
func checkCertificate(pemText, password string) error {
	certs, key, err := azidentity.ParseCertificates([]byte(pemText), []byte(password))
	if err != nil {
		if password != "" {
			return fmt.Errorf("client_certificate could not be read (wrong client_certificate_password, or not PEM)")
		}
		return fmt.Errorf("client_certificate must be PEM text with the certificate and its private key")
	}
	if len(certs) == 0 || key == nil {
		return fmt.Errorf("client_certificate must contain both the certificate and its private key")
	}
	return nil
}
