package azureblob

import (
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// managedIdentityEndpointVars are the variables in which Azure platforms
// tell the server where their managed-identity endpoint is: App Service,
// Container Apps, Service Fabric and Arc (IDENTITY_ENDPOINT), Cloud Shell
// and Azure ML (MSI_ENDPOINT), Arc (IMDS_ENDPOINT).
var managedIdentityEndpointVars = []string{"IDENTITY_ENDPOINT", "MSI_ENDPOINT", "IMDS_ENDPOINT"}

// imdsHost is the Instance Metadata Service, the managed-identity endpoint
// of VMs and AKS nodes (AKS pod identity intercepts the same address).
const imdsHost = "169.254.169.254"

// IdentityProxy wraps proxy, an http.Transport's Proxy, so that requests to
// a managed-identity endpoint are never proxied: the endpoint lives on the
// machine or its link-local network, which a proxy cannot reach (or would
// answer with its own machine's identity), and the token it hands out must
// not cross a proxy. Requests to Entra ID (workload identity, service
// principals) keep proxy. The endpoint variables are read per request, as
// the SDK reads them when a credential is made.
func IdentityProxy(proxy func(*http.Request) (*url.URL, error)) func(*http.Request) (*url.URL, error) {
	return func(r *http.Request) (*url.URL, error) {
		if isManagedIdentityEndpoint(r.URL) {
			return nil, nil
		}
		return proxy(r)
	}
}

// isManagedIdentityEndpoint reports whether u is on the IMDS host or at the
// host and port of an endpoint the platform's variables name.
func isManagedIdentityEndpoint(u *url.URL) bool {
	if u.Hostname() == imdsHost {
		return true
	}
	for _, v := range managedIdentityEndpointVars {
		if e, err := url.Parse(os.Getenv(v)); err == nil && e.Host != "" && hostPort(e) == hostPort(u) {
			return true
		}
	}
	return false
}

// hostPort is u's "host:port", with the scheme's port when u has none.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return strings.ToLower(net.JoinHostPort(u.Hostname(), port))
}

// identityTransportOr returns t, or when it is nil the transport of the
// server's own identity: the SDK's default settings, with the proxy of
// the environment (HTTPS_PROXY, NO_PROXY) for Entra ID and none for the
// managed-identity endpoint. Its requests are not guarded: their
// endpoints come from the operator's environment, and IMDS is link-local
// by design.
func identityTransportOr(t policy.Transporter) policy.Transporter {
	if t != nil {
		return t
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = IdentityProxy(http.ProxyFromEnvironment)
	return &http.Client{Transport: tr}
}
