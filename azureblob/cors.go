package azureblob

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/blobmark/blobmark"
)

// A presigned URL sends the browser straight to the storage account, so
// the account's blob-service CORS rules decide whether the labeling page,
// at blobmark's origin, may read the media: the editor fetches it with
// GET and HEAD, asks for ranges of audio and video, and reads the range
// headers of the answer. Azure applies to each request the first rule
// whose origins and methods match it, and keeps five rules at most.

// maxCORSRules is how many CORS rules Azure keeps per service.
const maxCORSRules = 5

// What presigned media needs from the rule that applies to the origin.
var (
	corsMethods        = []string{"GET", "HEAD"}
	corsRequestHeaders = []string{"Range"}
	corsExposedHeaders = []string{"Content-Range", "Content-Length", "Accept-Ranges"}
)

// corsRole is the built-in role that may change an account's service
// properties, CORS rules included; the Storage Blob Data roles that let
// blobmark read and write blobs do not reach them.
const corsRole = "Storage Account Contributor"

// mediaCORSRule is the one rule blobmark adds for origin: that origin
// only, the methods media needs, any request header and every response
// header, and preflights cached for an hour.
func mediaCORSRule(origin string) *service.CORSRule {
	return &service.CORSRule{AllowedOrigins: to.Ptr(origin), AllowedMethods: to.Ptr(strings.Join(corsMethods, ",")),
		AllowedHeaders: to.Ptr("*"), ExposedHeaders: to.Ptr("*"), MaxAgeInSeconds: to.Ptr(int32(3600))}
}

// corsCommand is the Azure CLI command that adds rule to account, for
// someone who may change the account when blobmark's credential may not.
func corsCommand(account string, rule *service.CORSRule) string {
	return fmt.Sprintf("az storage cors add --services b --methods %s --origins %s --allowed-headers '%s' --exposed-headers '%s' --max-age %d --account-name %s",
		strings.ReplaceAll(*rule.AllowedMethods, ",", " "), *rule.AllowedOrigins, *rule.AllowedHeaders, *rule.ExposedHeaders, *rule.MaxAgeInSeconds, account)
}

// judgeCORS says what the rules Azure would apply to origin's media
// requests lack, and the verdict: missing when no rule applies to them at
// all, partial when one does but lacks something.
func judgeCORS(rules []*service.CORSRule, origin string) (status string, missing []string) {
	lack := func(what string) {
		if !slices.Contains(missing, what) {
			missing = append(missing, what)
		}
	}
	applies := false
	for _, m := range corsMethods {
		r := firstCORSRule(rules, origin, m)
		if r == nil {
			lack("method " + m)
			continue
		}
		applies = true
		for _, h := range corsRequestHeaders {
			if !corsListHas(deref(r.AllowedHeaders), h) {
				lack("allowed header " + h)
			}
		}
		for _, h := range corsExposedHeaders {
			if !corsListHas(deref(r.ExposedHeaders), h) {
				lack("exposed header " + h)
			}
		}
	}
	switch {
	case len(missing) == 0:
		return blobmark.CORSPresent, nil
	case !applies:
		return blobmark.CORSMissing, missing
	}
	return blobmark.CORSPartial, missing
}

// firstCORSRule is the rule Azure applies to a request of method from
// origin: the first whose origins and methods admit it.
func firstCORSRule(rules []*service.CORSRule, origin, method string) *service.CORSRule {
	for _, r := range rules {
		if corsListHas(deref(r.AllowedOrigins), origin) && corsListHas(deref(r.AllowedMethods), method) {
			return r
		}
	}
	return nil
}

// corsListHas reports whether a rule's comma-separated list admits name:
// it is listed (in any case), or the list has "*" or a prefix ending in
// "*" that it starts with (Azure's "x-ms-meta-*").
func corsListHas(list, name string) bool {
	name = strings.ToLower(name)
	for _, item := range strings.Split(list, ",") {
		item = strings.ToLower(strings.TrimSpace(item))
		if item == name || strings.HasSuffix(item, "*") && strings.HasPrefix(name, strings.TrimSuffix(item, "*")) {
			return true
		}
	}
	return false
}

// corsReport judges the account's rules for origin.
func (c *Container) corsReport(origin string, rules []*service.CORSRule) blobmark.CORSReport {
	account := c.AccountName()
	status, missing := judgeCORS(rules, origin)
	r := blobmark.CORSReport{Origin: origin, Status: status, Missing: missing, Rules: len(rules),
		Command: corsCommand(account, mediaCORSRule(origin)), CanPresign: c.canSign()}
	switch status {
	case blobmark.CORSPresent:
		r.Message = fmt.Sprintf("the CORS rules of storage account %s let %s load presigned media", account, origin)
		r.Command = ""
	default:
		r.Message = fmt.Sprintf("presigned media will not load from %s: the CORS rules of storage account %s lack %s; add a CORS rule for %s, or turn presign off",
			origin, account, strings.Join(missing, ", "), origin)
	}
	return r
}

// CORS reads the CORS rules of the container's account and judges them
// for origin. Rules that cannot be read give a CORSUnknown report saying
// why, with the command that would add the rule.
func (c *Container) CORS(ctx context.Context, origin string) blobmark.CORSReport {
	props, err := c.acc.service.GetProperties(ctx, nil)
	if err != nil {
		return blobmark.CORSReport{Origin: origin, Status: blobmark.CORSUnknown, CanPresign: c.canSign(),
			Message: blobmark.ErrorMessage(c.corsFailure(err, origin, false)), Command: corsCommand(c.AccountName(), mediaCORSRule(origin))}
	}
	return c.corsReport(origin, props.CORS)
}

// AddCORSRule adds mediaCORSRule(origin) to the account's CORS rules
// unless they already admit origin's media requests. The rule goes
// first, so that it, and not an earlier partial rule for the same origin,
// is the one Azure applies; the other rules are written back unchanged and
// in their order. (Service properties carry no ETag: a change made by
// someone else between the read and the write is lost.)
func (c *Container) AddCORSRule(ctx context.Context, origin string) (blobmark.CORSReport, error) {
	props, err := c.acc.service.GetProperties(ctx, nil)
	if err != nil {
		return blobmark.CORSReport{}, c.corsFailure(err, origin, false)
	}
	if r := c.corsReport(origin, props.CORS); r.Status == blobmark.CORSPresent {
		return r, nil
	}
	if len(props.CORS) >= maxCORSRules {
		return blobmark.CORSReport{}, blobmark.Errorf(blobmark.ECONFLICT,
			"storage account %s already has %d CORS rules, the most Azure allows: remove one, or add %s to the origins of one that allows GET and HEAD (az storage cors list --services b --account-name %s)",
			c.AccountName(), len(props.CORS), origin, c.AccountName())
	}
	rules := append([]*service.CORSRule{mediaCORSRule(origin)}, props.CORS...)
	if _, err := c.acc.service.SetProperties(ctx, &service.SetPropertiesOptions{CORS: rules}); err != nil {
		return blobmark.CORSReport{}, c.corsFailure(err, origin, true)
	}
	return c.corsReport(origin, rules), nil
}

// DiagnoseCORS is the diagnosis line of the account's CORS rules for the
// origin of publicURL: a warning, not a failure, when they lack what
// presigned media needs, since media can be streamed instead.
func DiagnoseCORS(ctx context.Context, conn *Connector, cfg Config, container, publicURL string) Check {
	check := Check{Name: "CORS"}
	ctx = failFast(ctx)
	origin, err := blobmark.CORSOrigin(publicURL)
	var c *Container
	if err == nil {
		c, err = conn.Container(ctx, cfg, container)
	}
	if err != nil {
		check.Fix = blobmark.ErrorMessage(err)
		return check
	}
	r := c.CORS(ctx, origin)
	check.OK, check.Detail, check.Fix = r.Status == blobmark.CORSPresent, r.Message, r.Message
	if r.Command != "" {
		check.Fix += "; to add the rule: " + r.Command
	}
	return check
}

// corsFailure explains a refused read or change of the CORS rules. The
// usual hint, a Storage Blob Data role, would mislead here: service
// properties need a role on the account itself, an account SAS for the
// service, or the account key.
func (c *Container) corsFailure(err error, origin string, change bool) error {
	switch responseCode(err) {
	case "AuthorizationPermissionMismatch", "AuthorizationFailure", "AuthorizationResourceTypeMismatch", "AuthorizationServiceMismatch":
	default:
		return c.fail(err, opRead, "")
	}
	verb, action, sp := "read", "read", "read (sp=r)"
	if change {
		verb, action, sp = "change", "write", "write (sp=w)"
	}
	var fix string
	switch {
	case c.acc.cred.token != nil:
		fix = fmt.Sprintf("assign the identity the role %q on the storage account, or a role with Microsoft.Storage/storageAccounts/blobServices/%s", corsRole, action)
	case c.acc.cfg.AuthType == AuthSASToken:
		fix = fmt.Sprintf("use an account SAS for the blob service with the service resource type (srt=s) and %s permission, or the account key", sp)
	default:
		fix = "use a credential that may " + verb + " the account's service properties"
	}
	msg := fmt.Sprintf("the credential may not %s the CORS rules of storage account %s: %s", verb, c.AccountName(), fix)
	if change {
		msg += "; or have someone who may run: " + corsCommand(c.AccountName(), mediaCORSRule(origin))
	}
	return &blobmark.Error{Code: blobmark.EFORBIDDEN, Message: msg, Err: c.fail(err, opRead, "")}
}
