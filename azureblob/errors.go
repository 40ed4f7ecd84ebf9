package azureblob

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/egress"
)

// operation says what was being done when Azure failed, which decides the
// RBAC role an error message asks for.
type operation int

const (
	opList operation = iota
	opRead
	opWrite
	opDelete
	opDelegate
	opTags
)

// roleFor names the built-in Azure role that grants op.
func roleFor(op operation) string {
	switch op {
	case opWrite, opDelete:
		return "Storage Blob Data Contributor"
	case opDelegate:
		return "Storage Blob Delegator (or any Storage Blob Data role)"
	case opTags:
		return "Storage Blob Data Owner (or a custom role with the data actions blobs/tags/read and blobs/filter/action)"
	}
	return "Storage Blob Data Reader"
}

func (op operation) String() string {
	return [...]string{"list", "read", "write", "delete", "get a user delegation key", "read blob index tags"}[op]
}

// errContext is what translate needs to write an actionable message.
type errContext struct {
	op                      operation
	account, container, key string
	authType                AuthType
	endpoint                string
	// endpointField is the connection field that sets endpoint.
	endpointField string
	secrets       []string
}

func (e errContext) scope() string {
	if e.container == "" {
		return "storage account " + e.account
	}
	return "container " + e.account + "/" + e.container
}

// translate is the one place where Azure SDK, identity and network errors
// become *blobmark.Error values with a message a user can act on. The cause
// is kept in Err with every secret scrubbed from its text.
func translate(err error, ec errContext) error {
	if err == nil {
		return nil
	}
	var be *blobmark.Error
	if errors.As(err, &be) {
		return be
	}
	out := &blobmark.Error{Code: blobmark.EINTERNAL, Err: scrubbed{err: err, secrets: redactionSecrets(ec.secrets)}}
	defer func() { out.Message = redact(out.Message, ec.secrets) }()

	var ite *identityTimeoutError
	var te *tokenError
	var re *azcore.ResponseError
	var refused *egress.Error
	var tooLarge answerTooLarge
	switch {
	case errors.As(err, &tooLarge):
		field := cmp.Or(ec.endpointField, "endpoint")
		out.Code, out.Field = blobmark.EINVALID, field
		out.Message = field + ": " + tooLarge.Error()
		out.Fields = map[string][]string{field: {out.Message}}
	case errors.As(err, &refused):
		// The egress guard's no is about where the storage points, not
		// about Azure: a 400 on the field that names the place.
		field := cmp.Or(ec.endpointField, "endpoint")
		if errors.As(err, &te) || errors.As(err, &ite) {
			field = "authority_host"
		}
		out.Code, out.Field = blobmark.EINVALID, field
		out.Message = field + ": " + refused.Error()
		out.Fields = map[string][]string{field: {out.Message}}
	case errors.As(err, &ite):
		out.Code = blobmark.EUNAVAILABLE
		if ite.managed {
			out.Message = fmt.Sprintf("the managed identity endpoint did not answer within %s: is this running on Azure with an identity assigned (%s)?", ite.timeout, ite.identity)
		} else {
			out.Message = fmt.Sprintf("the identity provider did not answer within %s for %s: check authority_host and network access", ite.timeout, ite.identity)
		}
	case errors.As(err, &te):
		translateTokenError(te, out)
	case errors.As(err, &re):
		translateResponse(re, ec, out)
	case errors.Is(err, context.Canceled):
		out.Code = blobmark.EUNAVAILABLE
		out.Message = "the request was canceled"
	case errors.Is(err, context.DeadlineExceeded):
		out.Code = blobmark.EUNAVAILABLE
		out.Message = fmt.Sprintf("Azure Storage at %s did not answer in time", ec.endpoint)
	case isNetworkError(err):
		out.Code = blobmark.EUNAVAILABLE
		out.Message = fmt.Sprintf("could not reach Azure Storage at %s: %s", ec.endpoint, networkReason(err))
	default:
		out.Message = "unexpected Azure error"
	}
	return out
}

var azureMessageRE = regexp.MustCompile(`<Message>([^<\n]*)`)

// tagFilterRejected reports translated, the translation of err, on the
// storage field tag_filter when Azure refused the request as invalid: that
// is Azure's verdict on the expression, which it explains itself.
func tagFilterRejected(err, translated error) error {
	var re *azcore.ResponseError
	if blobmark.ErrorCode(translated) != blobmark.EINVALID || !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest {
		return translated
	}
	msg := "tag_filter was rejected by Azure Storage (" + re.ErrorCode + ")"
	if re.RawResponse != nil {
		if body, perr := runtime.Payload(re.RawResponse); perr == nil {
			if m := azureMessageRE.FindSubmatch(body); m != nil {
				msg += ": " + strings.TrimSpace(string(m[1]))
			}
		}
	}
	return &blobmark.Error{Code: blobmark.EINVALID, Field: "tag_filter", Message: msg,
		Fields: map[string][]string{"tag_filter": {msg}}, Err: translated}
}

// sasPermissionsFor says which SAS permissions op needs.
func sasPermissionsFor(op operation) string {
	if op == opTags {
		return "besides read+list: t (tags) for tag_keys, f (filter) for tag_filter"
	}
	return "read+list for import; create+write+delete for export"
}

// translateTokenError explains why no token could be obtained.
func translateTokenError(te *tokenError, out *blobmark.Error) {
	text := te.err.Error()
	var afe *azidentity.AuthenticationFailedError
	status := 0
	if errors.As(te.err, &afe) && afe.RawResponse != nil {
		status = afe.RawResponse.StatusCode
	}
	switch {
	case strings.Contains(text, "AADSTS7000222"):
		out.Code = blobmark.EUNAUTHORIZED
		out.Message = fmt.Sprintf("the client secret of %s has expired: create a new secret for the app registration and update client_secret", te.identity)
	case strings.Contains(text, "AADSTS7000215") || strings.Contains(text, "invalid_client") && !strings.Contains(text, "AADSTS700027"):
		out.Code = blobmark.EUNAUTHORIZED
		out.Message = fmt.Sprintf("the identity provider rejected the credentials of %s: check client_id and client_secret (or that the certificate is uploaded to the app registration)", te.identity)
	case strings.Contains(text, "AADSTS700027") || strings.Contains(text, "AADSTS700024") || strings.Contains(text, "AADSTS70021"):
		out.Code = blobmark.EUNAUTHORIZED
		out.Message = fmt.Sprintf("the identity provider rejected the client assertion of %s: check the certificate or the federated credential (issuer, subject, audience) of the app registration", te.identity)
	case strings.Contains(text, "AADSTS90002") || strings.Contains(text, "AADSTS700016"):
		out.Code = blobmark.EUNAUTHORIZED
		out.Message = fmt.Sprintf("tenant or application not found for %s: check tenant_id and client_id", te.identity)
	case strings.Contains(text, "no such file") || strings.Contains(text, "federated token file"):
		out.Code = blobmark.EINVALID
		out.Message = fmt.Sprintf("the federated token file of %s cannot be read: check federated_token_file (AZURE_FEDERATED_TOKEN_FILE) and the pod's service account token projection", te.identity)
	case isNetworkError(te.err):
		out.Code = blobmark.EUNAVAILABLE
		if te.managed {
			out.Message = fmt.Sprintf("could not reach the managed identity endpoint for %s (%s): is this running on Azure with an identity assigned?", te.identity, networkReason(te.err))
		} else {
			out.Message = fmt.Sprintf("could not reach the identity provider for %s: %s", te.identity, networkReason(te.err))
		}
	case te.managed && (status == http.StatusBadRequest || status == http.StatusNotFound || strings.Contains(text, "isn't assigned")):
		out.Code = blobmark.EUNAUTHORIZED
		out.Message = fmt.Sprintf("the managed identity endpoint refused a token for %s: assign that identity to this resource, or check the managed identity id", te.identity)
	case te.managed && (status == http.StatusUnauthorized || status == http.StatusForbidden):
		out.Code = blobmark.EUNAUTHORIZED
		out.Message = fmt.Sprintf("the managed identity endpoint refused the request for %s (status %d): check IDENTITY_ENDPOINT/IDENTITY_HEADER of the host", te.identity, status)
	case strings.Contains(text, "DefaultAzureCredential"):
		out.Code = blobmark.EUNAUTHORIZED
		out.Message = "the server has no usable Azure identity: set AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, configure workload identity, assign a managed identity, or log in with the Azure CLI"
	case status >= 500 || status == http.StatusTooManyRequests:
		out.Code = blobmark.EUNAVAILABLE
		out.Message = fmt.Sprintf("the identity provider failed for %s (status %d); try again later", te.identity, status)
	default:
		out.Code = blobmark.EUNAUTHORIZED
		out.Message = fmt.Sprintf("could not get a token for %s", te.identity)
	}
}

var authDetailRE = regexp.MustCompile(`<AuthenticationErrorDetail>([^<]*)</AuthenticationErrorDetail>`)

// translateResponse explains an error answer from the blob service.
func translateResponse(re *azcore.ResponseError, ec errContext, out *blobmark.Error) {
	detail := ""
	if re.RawResponse != nil {
		if body, err := runtime.Payload(re.RawResponse); err == nil {
			if m := authDetailRE.FindSubmatch(body); m != nil {
				detail = string(m[1])
			}
		}
	}
	keyed := ec.authType == AuthAccountKey || ec.authType == AuthConnectionString
	entra := ec.authType == AuthServicePrincipal || ec.authType == AuthManagedIdentity || ec.authType == AuthWorkloadIdentity || ec.authType == AuthServerIdentity
	switch code := re.ErrorCode; {
	case code == "AuthorizationPermissionMismatch" && entra:
		out.Code = blobmark.EFORBIDDEN
		out.Message = fmt.Sprintf("the identity may not %s in %s: assign it the role %q on the container, the storage account, or above", ec.op, ec.scope(), roleFor(ec.op))
	case code == "AuthorizationPermissionMismatch":
		out.Code = blobmark.EFORBIDDEN
		out.Message = fmt.Sprintf("the SAS token does not allow to %s in %s: issue one with the needed permissions (%s)", ec.op, ec.scope(), sasPermissionsFor(ec.op))
	case code == "AuthorizationResourceTypeMismatch" || code == "AuthorizationServiceMismatch":
		out.Code = blobmark.EFORBIDDEN
		out.Message = fmt.Sprintf("the SAS token does not cover this resource in %s: use a container-level or account-level blob SAS", ec.scope())
	case code == "AuthorizationProtocolMismatch":
		out.Code = blobmark.EFORBIDDEN
		out.Message = fmt.Sprintf("the SAS token does not allow the protocol of %s", ec.endpoint)
	case code == "AuthorizationSourceIPMismatch" || code == "AuthorizationFailure" && strings.Contains(detail, "IP"):
		out.Code = blobmark.EFORBIDDEN
		out.Message = fmt.Sprintf("the request's source address is not allowed for %s: check the SAS IP range or the account's firewall", ec.scope())
	case (code == "AuthenticationFailed" || code == "AuthorizationFailure" || code == "InvalidAuthenticationInfo") && keyed:
		out.Code = blobmark.EUNAUTHORIZED
		out.Message = fmt.Sprintf("Azure Storage rejected the account key for %s at %s: check account_name and account_key (the key may have been rotated)", ec.account, ec.endpoint)
	case (code == "AuthenticationFailed" || code == "AuthorizationFailure") && ec.authType == AuthSASToken:
		out.Code = blobmark.EUNAUTHORIZED
		out.Message = fmt.Sprintf("Azure Storage rejected the SAS token for %s: it may be expired, not yet valid, revoked, or for another account", ec.scope())
	case code == "AuthenticationFailed" && entra && strings.Contains(detail, "expired"):
		out.Code = blobmark.EUNAUTHORIZED
		out.Message = fmt.Sprintf("Azure Storage rejected the token of the identity as expired at %s: check the server clock", ec.endpoint)
	case code == "AuthenticationFailed" && entra && strings.Contains(detail, "audience"):
		out.Code = blobmark.EFORBIDDEN
		out.Message = fmt.Sprintf("Azure Storage rejected the identity's token for %s: it was not issued for Azure Storage (audience). Grant the identity a Storage Blob Data role (%s) on %s and check the authority", ec.scope(), roleFor(ec.op), ec.scope())
	case code == "AuthenticationFailed" && entra:
		out.Code = blobmark.EUNAUTHORIZED
		out.Message = fmt.Sprintf("Azure Storage rejected the identity's token at %s: %s", ec.endpoint, firstNonEmpty(detail, "check tenant_id and the authority"))
	case code == "AuthorizationFailure" || code == "NoAuthenticationInformation" || code == "PublicAccessNotPermitted":
		out.Code = blobmark.EFORBIDDEN
		if ec.authType == AuthAnonymous {
			out.Message = fmt.Sprintf("%s does not allow anonymous access: pick an auth_type with a credential", ec.scope())
		} else {
			out.Message = fmt.Sprintf("access to %s was refused; check the storage account's network rules and the credential", ec.scope())
		}
	case code == "ContainerNotFound":
		out.Code = blobmark.ENOTFOUND
		out.Message = fmt.Sprintf("container %s does not exist in storage account %s", ec.container, ec.account)
	case code == "BlobNotFound" || re.StatusCode == http.StatusNotFound && ec.key != "":
		out.Code = blobmark.ENOTFOUND
		out.Message = fmt.Sprintf("blob %q not found in %s", ec.key, ec.scope())
	case code == "ResourceNotFound" || re.StatusCode == http.StatusNotFound:
		out.Code = blobmark.ENOTFOUND
		out.Message = fmt.Sprintf("%s not found at %s: check account_name/endpoint", ec.scope(), ec.endpoint)
	case code == "AccountIsDisabled":
		out.Code = blobmark.EFORBIDDEN
		out.Message = fmt.Sprintf("storage account %s is disabled", ec.account)
	case code == "RequestBodyTooLarge" || re.StatusCode == http.StatusRequestEntityTooLarge:
		out.Code = blobmark.ETOOLARGE
		out.Message = "the blob is larger than Azure Storage accepts in one request"
	case directoryConflicts[code]:
		out.Code = blobmark.ECONFLICT
		out.Message = fmt.Sprintf("cannot %s %q in %s: it is a directory of the account's hierarchical namespace (Data Lake Storage Gen2), and blobmark only writes and deletes files; rename or remove the directory, or pick another prefix or key template (%s)",
			ec.op, ec.key, ec.scope(), code)
	case re.StatusCode == http.StatusConflict || re.StatusCode == http.StatusPreconditionFailed:
		out.Code = blobmark.ECONFLICT
		out.Message = fmt.Sprintf("Azure Storage reported a conflict in %s (%s)", ec.scope(), code)
	case re.StatusCode == http.StatusTooManyRequests || re.StatusCode >= 500:
		out.Code = blobmark.EUNAVAILABLE
		out.Message = fmt.Sprintf("Azure Storage at %s is busy or failing (%d %s); try again later", ec.endpoint, re.StatusCode, code)
	case re.StatusCode == http.StatusForbidden:
		out.Code = blobmark.EFORBIDDEN
		out.Message = fmt.Sprintf("Azure Storage refused to %s in %s (%s)", ec.op, ec.scope(), code)
	case re.StatusCode == http.StatusBadRequest:
		out.Code = blobmark.EINVALID
		out.Message = fmt.Sprintf("Azure Storage refused the request to %s in %s (%s)", ec.op, ec.scope(), code)
	default:
		out.Message = fmt.Sprintf("unexpected answer from Azure Storage (%d %s)", re.StatusCode, code)
	}
}

// directoryConflicts are the error codes with which an account with a
// hierarchical namespace refuses a blob operation on a name that is a
// directory: deleting a non-empty one, or writing a file over one.
var directoryConflicts = map[string]bool{
	"DirectoryIsNotEmpty": true, "DirectoryNotEmpty": true, "PathConflict": true, "ResourceTypeMismatch": true,
}

func responseCode(err error) string {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

func isNetworkError(err error) bool {
	var ne net.Error
	var oe *net.OpError
	var de *net.DNSError
	if errors.As(err, &oe) || errors.As(err, &de) || errors.As(err, &ne) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "connection refused") || strings.Contains(s, "no such host") ||
		strings.Contains(s, "connection reset") || strings.Contains(s, "i/o timeout") || strings.Contains(s, "EOF")
}

// networkReason is a short reason for a network error, without any URL
// (URLs may carry a SAS token).
func networkReason(err error) string {
	s := err.Error()
	for _, r := range []string{"connection refused", "no such host", "connection reset", "i/o timeout", "certificate", "EOF"} {
		if strings.Contains(s, r) {
			return r
		}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + " failed"
	}
	return "network error"
}

// scrubbed wraps a cause so that its text never shows a secret, even when a
// log prints the whole chain.
type scrubbed struct {
	err     error
	secrets []string
}

func (s scrubbed) Error() string { return redact(s.err.Error(), s.secrets) }
func (s scrubbed) Unwrap() error { return s.err }

var sigRE = regexp.MustCompile(`(?i)(sig=)[^&\s"']+`)

// redact removes every secret, in plain and URL-encoded form, and every SAS
// signature from s.
func redact(s string, secrets []string) string {
	for _, v := range redactionSecrets(secrets) {
		s = strings.ReplaceAll(s, v, redactedMarker)
	}
	return sigRE.ReplaceAllString(s, "${1}"+redactedMarker)
}

// redactionSecrets expands secrets with their URL-encoded forms and the
// parts of connection strings, longest first.
func redactionSecrets(secrets []string) []string {
	var out []string
	for _, v := range secrets {
		if len(v) < 4 {
			continue
		}
		out = append(out, v, url.QueryEscape(v), url.PathEscape(v))
		if cs, err := parseConnectionString(v); err == nil {
			if cs.accountKey != "" {
				out = append(out, cs.accountKey, url.QueryEscape(cs.accountKey))
			}
			if cs.sas != "" {
				out = append(out, cs.sas)
			}
		}
	}
	return out
}
