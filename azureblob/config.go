package azureblob

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/blobmark/blobmark"
)

// AuthType names one way of authenticating to Azure Blob Storage. It is
// explicit in every stored connection so that the credential in use never
// depends on which fields happen to be filled in.
type AuthType string

// The auth types a Config can name (blobmark's names, typed). Each one is
// built in exactly one place, newCredential.
const (
	AuthAccountKey       AuthType = blobmark.AuthAccountKey
	AuthSASToken         AuthType = blobmark.AuthSASToken
	AuthConnectionString AuthType = blobmark.AuthConnectionString
	AuthServicePrincipal AuthType = blobmark.AuthServicePrincipal
	AuthManagedIdentity  AuthType = blobmark.AuthManagedIdentity
	AuthWorkloadIdentity AuthType = blobmark.AuthWorkloadIdentity
	AuthServerIdentity   AuthType = blobmark.AuthServerIdentity
	AuthAnonymous        AuthType = blobmark.AuthAnonymous
)

// AuthTypes lists every supported auth type, in the order the API documents them.
var AuthTypes = []AuthType{
	AuthAccountKey, AuthSASToken, AuthConnectionString, AuthServicePrincipal,
	AuthManagedIdentity, AuthWorkloadIdentity, AuthServerIdentity, AuthAnonymous,
}

// Config describes one connection to a storage account. Its JSON form is the
// storage API's connection fields, next to Label Studio's account_name,
// account_key, tenant_id, client_id and client_secret.
//
// When AuthType is blank it is inferred by InferAuthType; the rule is
// documented there and table-tested.
type Config struct {
	AuthType                  AuthType `json:"auth_type,omitempty"`
	AccountName               string   `json:"account_name,omitempty"`
	AccountKey                string   `json:"account_key,omitempty"`
	SASToken                  string   `json:"sas_token,omitempty"`
	ConnectionString          string   `json:"connection_string,omitempty"`
	Endpoint                  string   `json:"endpoint,omitempty"`
	Cloud                     string   `json:"cloud,omitempty"`
	AuthorityHost             string   `json:"authority_host,omitempty"`
	TenantID                  string   `json:"tenant_id,omitempty"`
	ClientID                  string   `json:"client_id,omitempty"`
	ClientSecret              string   `json:"client_secret,omitempty"`
	ClientCertificate         string   `json:"client_certificate,omitempty"`
	ClientCertificatePassword string   `json:"client_certificate_password,omitempty"`
	ManagedIdentityClientID   string   `json:"managed_identity_client_id,omitempty"`
	ManagedIdentityResourceID string   `json:"managed_identity_resource_id,omitempty"`
	ManagedIdentityObjectID   string   `json:"managed_identity_object_id,omitempty"`
	FederatedTokenFile        string   `json:"federated_token_file,omitempty"`
	// Organization is the title of the organization on whose behalf the
	// connection is used. It is not a connection field: the storage's
	// project decides it, and it scopes the operator's server identity
	// allow-list ("" matches unscoped entries only).
	Organization string `json:"-"`
}

// configFields maps each connection field of blobmark.ConnectionSchema
// but auth_type to its Config struct field, by the json tags, so that the
// schema drives every loop over fields (TestConfigMatchesTheSchema keeps
// the two equal).
var configFields = func() map[string]int {
	m := map[string]int{}
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "-" && name != "auth_type" {
			m[name] = i
		}
	}
	return m
}()

// field returns the Config field of a connection field other than
// auth_type, nil when Config has none.
func (c *Config) field(name string) *string {
	i, ok := configFields[name]
	if !ok {
		return nil
	}
	return reflect.ValueOf(c).Elem().Field(i).Addr().Interface().(*string)
}

// Secrets returns the non-empty secret values of c, so tests and log filters
// can check that none of them leaks.
func (c Config) Secrets() []string {
	var out []string
	for _, f := range blobmark.ConnectionSchema {
		if v := c.field(f.Name); f.Secret && v != nil && *v != "" {
			out = append(out, *v)
		}
	}
	return out
}

// Redacted returns a copy of c with every secret replaced by a marker, safe to
// log or return to a client.
func (c Config) Redacted() Config {
	for _, f := range blobmark.ConnectionSchema {
		if p := c.field(f.Name); f.Secret && p != nil && *p != "" {
			*p = redactedMarker
		}
	}
	return c
}

const redactedMarker = blobmark.Redacted

// String renders c with secrets redacted, so fmt's %v and %+v never print one.
func (c Config) String() string {
	b, _ := json.Marshal(c.Redacted())
	return "azureblob.Config" + string(b)
}

// GoString makes %#v redact secrets too.
func (c Config) GoString() string { return c.String() }

// LogValue implements slog.LogValuer so that logging a Config never writes a
// secret.
func (c Config) LogValue() slog.Value {
	r := c.Redacted()
	attrs := []slog.Attr{slog.String("auth_type", string(r.AuthType))}
	for _, f := range blobmark.ConnectionSchema {
		if p := r.field(f.Name); p != nil && *p != "" {
			attrs = append(attrs, slog.String(f.Name, *p))
		}
	}
	return slog.GroupValue(attrs...)
}

// InferAuthType returns the auth type a Config with a blank auth_type stands
// for, by blobmark.InferAuthType's rule. Conflicts (say account_key and
// client_secret together) are reported by Validate, not resolved here.
func (c Config) InferAuthType() AuthType {
	return AuthType(blobmark.InferAuthType(func(name string) string {
		if name == "auth_type" {
			return string(c.AuthType)
		}
		if p := c.field(name); p != nil {
			return *p
		}
		return ""
	}))
}

// Normalized returns c with the auth type inferred, surrounding blanks
// trimmed, a URL given as account_name moved to endpoint (Label Studio
// accepts that), a Data Lake Storage Gen2 form of the endpoint turned into
// the account's blob service URL, and the cloud name lower-cased.
func (c Config) Normalized() Config {
	for _, f := range blobmark.ConnectionSchema {
		if p := c.field(f.Name); p != nil && !f.Verbatim {
			*p = strings.TrimSpace(*p)
		}
	}
	if strings.Contains(c.AccountName, "://") { // account names are letters and digits only
		if c.Endpoint == "" {
			c.Endpoint = c.AccountName
		}
		c.AccountName = ""
	}
	c.Endpoint = blobServiceOf(c.Endpoint)
	c.Cloud = strings.ToLower(c.Cloud)
	c.AuthType = c.InferAuthType()
	return c
}

// authTypeSpec is what the connector must know of an auth type besides
// how to build its credential and the fields it may use (declared in
// blobmark.ConnectionSchema). Every auth type has one, so that a new type
// cannot be added without deciding whether it speaks for the server
// (TestEveryAuthTypeIsDeclared).
type authTypeSpec struct {
	// hostIdentity marks a type that authenticates as an identity attached
	// to the server (its managed identities, its workload identity, its
	// default credential chain) rather than with a secret the storage's
	// owner supplied. Any API user could name such an identity, so the
	// operator's allow-list pins where it may be used, and its Entra ID
	// settings come from the server's environment only.
	hostIdentity bool
}

var authTypeSpecs = map[AuthType]authTypeSpec{
	AuthAccountKey:       {},
	AuthSASToken:         {},
	AuthConnectionString: {},
	AuthServicePrincipal: {},
	AuthManagedIdentity:  {hostIdentity: blobmark.UsesHostIdentity(blobmark.AuthManagedIdentity)},
	AuthWorkloadIdentity: {hostIdentity: blobmark.UsesHostIdentity(blobmark.AuthWorkloadIdentity)},
	AuthServerIdentity:   {hostIdentity: blobmark.UsesHostIdentity(blobmark.AuthServerIdentity)},
	AuthAnonymous:        {},
}

// serverOnlyFields are the Entra ID settings a host identity takes from the
// server's environment; a storage naming them is refused with this reason
// rather than having them ignored.
var serverOnlyFields = map[string]string{
	"authority_host":       "AZURE_AUTHORITY_HOST",
	"tenant_id":            "AZURE_TENANT_ID",
	"client_id":            "AZURE_CLIENT_ID",
	"federated_token_file": "AZURE_FEDERATED_TOKEN_FILE",
}

var accountNamePattern = regexp.MustCompile(`^[a-z0-9]{3,24}$`)

// Validate checks c (after Normalized) and reports every problem at once as
// an EINVALID *blobmark.Error whose Fields name each offending field. Values
// of secret fields never appear in the messages.
func (c Config) Validate() error {
	c = c.Normalized()
	problems := map[string][]string{}
	add := func(field, format string, args ...any) {
		problems[field] = append(problems[field], fmt.Sprintf(format, args...))
	}

	spec, known := authTypeSpecs[c.AuthType]
	switch {
	case c.AuthType == "":
		add("auth_type", "auth_type is required: no field identifies a credential; use one of %s", authTypeList())
	case !known:
		add("auth_type", "unknown auth_type %q; use one of %s", c.AuthType, authTypeList())
	}
	if known {
		for _, f := range blobmark.ConnectionSchema {
			p := c.field(f.Name)
			if p == nil || *p == "" || slices.Contains(f.AuthTypes, string(c.AuthType)) {
				continue
			}
			if env := serverOnlyFields[f.Name]; spec.hostIdentity && env != "" {
				add(f.Name, "%s cannot be set for auth_type %s: the server's own identity takes it only from the server's configuration (%s); remove it", f.Name, c.AuthType, env)
			} else {
				add(f.Name, "%s is not used by auth_type %s; remove it", f.Name, c.AuthType)
			}
		}
	}

	if c.Cloud != "" {
		if _, ok := clouds[c.Cloud]; !ok {
			add("cloud", "unknown cloud %q; use one of %s", c.Cloud, cloudList())
		}
	}
	if c.Endpoint != "" {
		if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			add("endpoint", "endpoint must be an http(s) URL such as https://myaccount.blob.core.windows.net/ (or, for Data Lake Storage Gen2, https://myaccount.dfs.core.windows.net/ or abfss://container@myaccount.dfs.core.windows.net/)")
		} else if u.RawQuery != "" {
			add("endpoint", "endpoint must not carry a query string; put a SAS token in sas_token")
		}
	}
	if c.AuthorityHost != "" {
		if u, err := url.Parse(c.AuthorityHost); err != nil || u.Scheme != "https" || u.Host == "" {
			add("authority_host", "authority_host must be an https URL such as https://login.microsoftonline.com/")
		}
	}
	if c.AccountName != "" && !accountNamePattern.MatchString(c.AccountName) {
		add("account_name", "account_name must be 3 to 24 lower-case letters and digits")
	}
	needAccount := func() {
		if c.AccountName == "" && c.Endpoint == "" {
			add("account_name", "account_name (or endpoint) is required for auth_type %s", c.AuthType)
		}
	}

	switch c.AuthType {
	case AuthAccountKey:
		needAccount()
		if c.AccountKey == "" {
			add("account_key", "account_key is required for auth_type account_key")
		} else if !isBase64(c.AccountKey) {
			add("account_key", "account_key is not a valid base64 storage account key")
		}
		if c.AccountName == "" && c.Endpoint != "" {
			if _, err := accountFromEndpoint(c.Endpoint); err != nil {
				add("account_name", "account_name is required: it cannot be read from the endpoint")
			}
		}
	case AuthSASToken:
		if c.SASToken == "" {
			add("sas_token", "sas_token is required for auth_type sas_token")
		} else if _, _, err := splitSAS(c.SASToken); err != nil {
			add("sas_token", "sas_token must be a SAS query string (sv=…&sig=…) or a full SAS URL")
		} else if !strings.HasPrefix(c.SASToken, "http") {
			needAccount()
		}
	case AuthConnectionString:
		if c.ConnectionString == "" {
			add("connection_string", "connection_string is required for auth_type connection_string")
		} else if _, err := parseConnectionString(c.ConnectionString); err != nil {
			add("connection_string", "%s", err.Error())
		}
	case AuthServicePrincipal:
		needAccount()
		if c.TenantID == "" {
			add("tenant_id", "tenant_id is required for auth_type service_principal")
		}
		if c.ClientID == "" {
			add("client_id", "client_id is required for auth_type service_principal")
		}
		switch {
		case c.ClientSecret == "" && c.ClientCertificate == "":
			add("client_secret", "client_secret or client_certificate is required for auth_type service_principal")
		case c.ClientSecret != "" && c.ClientCertificate != "":
			add("client_certificate", "give client_secret or client_certificate, not both")
		case c.ClientCertificate != "":
			if err := checkCertificate(c.ClientCertificate, c.ClientCertificatePassword); err != nil {
				add("client_certificate", "%s", err.Error())
			}
		}
		if c.ClientCertificatePassword != "" && c.ClientCertificate == "" {
			add("client_certificate_password", "client_certificate_password is only used with client_certificate")
		}
	case AuthManagedIdentity:
		needAccount()
		n := 0
		for _, v := range []string{c.ManagedIdentityClientID, c.ManagedIdentityResourceID, c.ManagedIdentityObjectID} {
			if v != "" {
				n++
			}
		}
		if n > 1 {
			for _, f := range []string{"managed_identity_client_id", "managed_identity_resource_id", "managed_identity_object_id"} {
				if *c.field(f) != "" {
					add(f, "give at most one of managed_identity_client_id, managed_identity_resource_id, managed_identity_object_id")
				}
			}
		}
	case AuthWorkloadIdentity:
		needAccount()
		var missing []string
		for _, env := range []string{"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE"} {
			if getenv(env) == "" {
				missing = append(missing, env)
			}
		}
		if len(missing) > 0 {
			add("auth_type", "auth_type workload_identity needs the server's workload identity, and the server has none: %s not set in its environment (AKS sets them for a pod whose service account is federated)", strings.Join(missing, ", "))
		}
	case AuthServerIdentity, AuthAnonymous:
		needAccount()
	}

	if len(problems) == 0 {
		return nil
	}
	names := make([]string, 0, len(problems))
	for k := range problems {
		names = append(names, k)
	}
	sort.Strings(names)
	msg := "invalid Azure connection: " + strings.Join(names, ", ")
	field := ""
	if len(names) == 1 {
		field = names[0]
		msg = problems[field][0]
	}
	return &blobmark.Error{Code: blobmark.EINVALID, Message: msg, Field: field, Fields: problems}
}

// cacheKey identifies a normalized config, secrets included, so that two
// projects with the same connection share one client. It is a hash: it is
// never logged and reveals nothing.
func (c Config) cacheKey() string {
	b, _ := json.Marshal(c.Normalized())
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func authTypeList() string {
	s := make([]string, len(AuthTypes))
	for i, a := range AuthTypes {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}
