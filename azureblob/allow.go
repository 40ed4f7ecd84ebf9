package azureblob

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"strings"

	"github.com/blobmark/blobmark"
)

// The server identity allow-list pins where an identity attached to the
// server (server_identity, managed_identity, workload_identity) may be
// used. Such an identity's bearer token is worth as much as the server
// itself, so the check compares the exact endpoint the token would go to
// (scheme, host, port and service path) with what the operator listed,
// for the storage's organization and container, before any credential
// exists. An entry is one of:
//
//	account/container-glob          that account's own blob host in the storage's cloud
//	                                (https://account.blob.core.windows.net/, …chinacloudapi.cn, …usgovcloudapi.net)
//	https://host[:port]/[path/]container-glob
//	                                exactly that endpoint: a private endpoint, a custom domain, the emulator
//	ORG=entry                       either form, for the organization titled ORG only
//
// "*" is short for "*/*": every account's own host, every container. Globs
// are path.Match patterns.

// allowEntry is one parsed allow-list entry.
type allowEntry struct {
	raw string
	// org is the organization title the entry is scoped to, "" for all.
	org string
	// account is the account-name glob of the account form, "" for the
	// URL form.
	account string
	// scheme, host (lower case), port (explicit) and base (the service
	// path, ending in "/") of the URL form.
	scheme, host, port, base string
	// container is the container (or queue) glob.
	container string
}

// ParseAllowList parses the operator's entries, reporting the first one
// that is malformed, so that a typo stops the server at start rather than
// refusing every storage later.
func ParseAllowList(entries []string) error {
	_, err := parseAllowList(entries)
	return err
}

func parseAllowList(entries []string) ([]allowEntry, error) {
	var out []allowEntry
	for _, raw := range entries {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		e, err := parseAllowEntry(raw)
		if err != nil {
			return nil, fmt.Errorf("server identity allow-list entry %q: %w", raw, err)
		}
		out = append(out, e)
	}
	return out, nil
}

func parseAllowEntry(raw string) (allowEntry, error) {
	e := allowEntry{raw: raw}
	rest := raw
	if i := strings.Index(raw, "="); i >= 0 && !strings.Contains(raw[:i], "/") {
		e.org, rest = strings.TrimSpace(raw[:i]), strings.TrimSpace(raw[i+1:])
		if e.org == "" {
			return e, fmt.Errorf("the organization before %q is empty", "=")
		}
	}
	if rest == "*" {
		rest = "*/*"
	}
	if strings.HasPrefix(rest, "https://") || strings.HasPrefix(rest, "http://") {
		u, err := url.Parse(rest)
		if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return e, fmt.Errorf("not a plain http(s) URL")
		}
		e.scheme, e.host, e.port = u.Scheme, strings.ToLower(u.Hostname()), effectivePort(u)
		dir, glob := path.Split(u.Path)
		if glob == "" {
			return e, fmt.Errorf("the URL must end with a container name or glob, such as %s", strings.TrimSuffix(rest, "/")+"/*")
		}
		e.base, e.container = dir, glob
	} else {
		account, glob, ok := strings.Cut(rest, "/")
		if !ok || account == "" || glob == "" || strings.Contains(glob, "/") {
			return e, fmt.Errorf("use account/container-glob or https://host[:port]/container-glob")
		}
		if _, err := path.Match(account, ""); err != nil {
			return e, fmt.Errorf("the account pattern is malformed")
		}
		e.account, e.container = account, glob
	}
	if _, err := path.Match(e.container, ""); err != nil {
		return e, fmt.Errorf("the container pattern is malformed")
	}
	return e, nil
}

// effectivePort is a URL's port, or its scheme's default.
func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "http" {
		return "80"
	}
	return "443"
}

// destination is where requests for one storage go: the service's scheme,
// host, port and path, and the account name the cloud's own host names.
type destination struct {
	scheme, host, port, base string
	// ownAccount is the account whose own host (in the storage's cloud,
	// for service, "blob" or "queue") this is, "" when it is no such host.
	ownAccount string
}

// destinationOf parses a service URL (as resolveAccount or queueURL give
// it) for the allow-list. cloud picks the suffix an account's own host has.
func destinationOf(serviceURL, cloudName, service string) (destination, error) {
	u, err := url.Parse(serviceURL)
	if err != nil || u.Host == "" {
		return destination{}, fmt.Errorf("endpoint is not a URL")
	}
	d := destination{scheme: u.Scheme, host: strings.ToLower(u.Hostname()), port: effectivePort(u), base: u.Path}
	if !strings.HasSuffix(d.base, "/") {
		d.base += "/"
	}
	suffix := "." + strings.Replace(cloudFor(cloudName).blobSuffix, "blob.", service+".", 1)
	if name, ok := strings.CutSuffix(d.host, suffix); ok && d.scheme == "https" && d.port == "443" && d.base == "/" &&
		accountNamePattern.MatchString(name) {
		d.ownAccount = name
	}
	return d, nil
}

// String is the destination as a URL, for messages.
func (d destination) String() string {
	return d.scheme + "://" + net.JoinHostPort(d.host, d.port) + d.base
}

// admits reports whether the entry lets organization org use a host
// identity for resource (a container or a queue) at d. queue asks for a
// queue, which account-form entries admit only when they allow the whole
// account: a queue is not a container.
func (e allowEntry) admits(org string, d destination, resource string, queue bool) bool {
	if e.org != "" && e.org != org {
		return false
	}
	if ok, _ := path.Match(e.container, resource); !ok {
		return false
	}
	if e.account != "" {
		if queue && e.container != "*" {
			return false
		}
		ok, _ := path.Match(e.account, d.ownAccount)
		return d.ownAccount != "" && ok
	}
	return e.scheme == d.scheme && e.host == d.host && e.port == d.port && e.base == d.base
}

// admitHostIdentity is the one check that stands between a storage's
// settings and the server's own identity: it refuses, with a 400 naming
// the field to change, every destination no entry admits for the
// organization. Callers run it before a credential is built.
func admitHostIdentity(entries []allowEntry, cfg Config, d destination, resource string, queue bool) error {
	for _, e := range entries {
		if e.admits(cfg.Organization, d, resource, queue) {
			return nil
		}
	}
	field := endpointField(cfg)
	what := "container " + resource
	if queue {
		what = "queue " + resource
	}
	msg := fmt.Sprintf("auth_type %s uses the server's own Azure identity, which the operator allows only for the endpoints and containers it lists; %s at %s is not listed",
		cfg.AuthType, what, d)
	if cfg.Organization != "" {
		msg += " for organization " + cfg.Organization
	}
	msg += ". Point " + field + " at an allowed account, or ask the operator to add it to --server-identity-allow"
	return &blobmark.Error{Code: blobmark.EINVALID, Field: field, Message: msg, Fields: map[string][]string{field: {msg}}}
}
