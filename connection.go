package blobmark

import (
	"slices"
	"strings"
)

// Connection holds a storage's Azure connection fields by their API names
// (auth_type, account_name, endpoint, cloud, tenant_id, client_id, …). The
// domain treats the values as opaque: the Azure connector gives them
// meaning. Which fields exist is declared once, in ConnectionSchema.
type Connection map[string]string

// ConnectionField declares one connection field of a storage.
type ConnectionField struct {
	// Name is the field's name in the storage API, the Azure connector's
	// configuration and the web form.
	Name string
	// Secret fields are write-only in the API, sealed at rest, redacted in
	// logs, and bound to the destination they were entered for.
	Secret bool
	// Destination fields decide where a credential is sent: changing one
	// makes every stored secret be asked for again.
	Destination bool
	// Verbatim fields keep surrounding blanks (PEM text, passwords); others
	// are trimmed.
	Verbatim bool
	// AuthTypes are the auth types a storage may set the field for. The
	// field auth_type, which names one of them, lists none, and neither
	// does a field that only the server's configuration may set.
	AuthTypes []string
}

// The auth types a connection can name, as the storage API spells them.
const (
	AuthAccountKey       = "account_key"
	AuthSASToken         = "sas_token"
	AuthConnectionString = "connection_string"
	AuthServicePrincipal = "service_principal"
	AuthManagedIdentity  = "managed_identity"
	AuthWorkloadIdentity = "workload_identity"
	AuthServerIdentity   = "server_identity"
	AuthAnonymous        = "anonymous"
)

// endpointAuthTypes are the auth types whose service endpoint is set by
// account_name, endpoint and cloud (a connection string carries its own).
var endpointAuthTypes = []string{AuthAccountKey, AuthSASToken, AuthServicePrincipal, AuthManagedIdentity,
	AuthWorkloadIdentity, AuthServerIdentity, AuthAnonymous}

// ConnectionSchema is the one declaration of a storage's connection fields,
// in the order the API documents them. The storage API's field lists,
// write-only handling and PATCH merging, the connector's validation,
// redaction and conflict rules, the web form and the documentation are
// derived from it or checked against it.
//
// The identities attached to the server (managed, workload, server
// identity) set no Entra ID field: those come from the server's own
// configuration only.
var ConnectionSchema = []ConnectionField{
	{Name: "auth_type", Destination: true},
	{Name: "account_name", Destination: true, AuthTypes: endpointAuthTypes},
	{Name: "endpoint", Destination: true, AuthTypes: endpointAuthTypes},
	{Name: "cloud", Destination: true, AuthTypes: endpointAuthTypes},
	{Name: "authority_host", Destination: true, AuthTypes: []string{AuthServicePrincipal}},
	{Name: "tenant_id", Destination: true, AuthTypes: []string{AuthServicePrincipal}},
	{Name: "client_id", AuthTypes: []string{AuthServicePrincipal}},
	{Name: "managed_identity_client_id", AuthTypes: []string{AuthManagedIdentity}},
	{Name: "managed_identity_resource_id", AuthTypes: []string{AuthManagedIdentity}},
	{Name: "managed_identity_object_id", AuthTypes: []string{AuthManagedIdentity}},
	{Name: "federated_token_file"},
	{Name: "account_key", Secret: true, AuthTypes: []string{AuthAccountKey}},
	{Name: "sas_token", Secret: true, AuthTypes: []string{AuthSASToken}},
	{Name: "connection_string", Secret: true, AuthTypes: []string{AuthConnectionString}},
	{Name: "client_secret", Secret: true, AuthTypes: []string{AuthServicePrincipal}},
	{Name: "client_certificate", Secret: true, Verbatim: true, AuthTypes: []string{AuthServicePrincipal}},
	{Name: "client_certificate_password", Secret: true, Verbatim: true, AuthTypes: []string{AuthServicePrincipal}},
}

// ConnectionFields are the non-secret connection fields a storage body may
// carry besides the storage's own fields, and SecretConnectionFields the
// secret ones; both are ConnectionSchema's names, in its order.
var ConnectionFields, SecretConnectionFields = connectionNames()

func connectionNames() (plain, secret []string) {
	for _, f := range ConnectionSchema {
		if f.Secret {
			secret = append(secret, f.Name)
		} else {
			plain = append(plain, f.Name)
		}
	}
	return plain, secret
}

// hostIdentityAuthTypes authenticate as an identity attached to the server
// (its managed identities, its workload identity, its default credential
// chain) rather than with a secret the storage's owner supplied. Any API
// user could name such an identity, so the operator's allow-list pins where
// it may be used, its Entra ID settings come from the server's environment
// only, and only administrators may set such a storage up.
var hostIdentityAuthTypes = []string{AuthManagedIdentity, AuthWorkloadIdentity, AuthServerIdentity}

// UsesHostIdentity reports whether an auth type speaks for the server.
func UsesHostIdentity(authType string) bool { return slices.Contains(hostIdentityAuthTypes, authType) }

// InferAuthType returns the auth type of a connection whose fields get
// returns. A blank auth_type is how Label Studio's clients create storages,
// so the rule lives here, once; first match wins:
//
//  1. auth_type set → it, lower-cased
//  2. connection_string set → connection_string
//  3. sas_token set → sas_token
//  4. account_key set → account_key (Label Studio's classic storage)
//  5. client_secret or client_certificate set → service_principal (Label Studio Enterprise's)
//  6. federated_token_file set → workload_identity
//  7. any managed_identity_* id set → managed_identity
//  8. otherwise "": nothing names a credential, and validation asks for
//     auth_type, because guessing between anonymous and the server's
//     identity would be unsafe.
func InferAuthType(get func(field string) string) string {
	has := func(fields ...string) bool {
		for _, f := range fields {
			if strings.TrimSpace(get(f)) != "" {
				return true
			}
		}
		return false
	}
	switch {
	case has("auth_type"):
		return strings.ToLower(strings.TrimSpace(get("auth_type")))
	case has("connection_string"):
		return AuthConnectionString
	case has("sas_token"):
		return AuthSASToken
	case has("account_key"):
		return AuthAccountKey
	case has("client_secret", "client_certificate"):
		return AuthServicePrincipal
	case has("federated_token_file"):
		return AuthWorkloadIdentity
	case has("managed_identity_client_id", "managed_identity_resource_id", "managed_identity_object_id"):
		return AuthManagedIdentity
	}
	return ""
}

// AuthType is the connection's auth type, inferred as InferAuthType does.
func (c Connection) AuthType() string { return InferAuthType(func(f string) string { return c[f] }) }
