package azureblob

import (
	"slices"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/blobmark/blobmark"
)

// TestJudgeCORSFollowsAzuresFirstMatch: the verdict is about the rule
// Azure applies to each of the origin's requests, the first whose origins
// and methods match, with lists read as Azure reads them.
func TestJudgeCORSFollowsAzuresFirstMatch(t *testing.T) {
	const origin = "https://label.example.com"
	rule := func(origins, methods, allowed, exposed string) *service.CORSRule {
		return &service.CORSRule{AllowedOrigins: to.Ptr(origins), AllowedMethods: to.Ptr(methods),
			AllowedHeaders: to.Ptr(allowed), ExposedHeaders: to.Ptr(exposed), MaxAgeInSeconds: to.Ptr(int32(60))}
	}
	for _, c := range []struct {
		name    string
		rules   []*service.CORSRule
		status  string
		missing []string
	}{
		{"no rules", nil, blobmark.CORSMissing, []string{"method GET", "method HEAD"}},
		{"another origin", []*service.CORSRule{rule("https://label.example.com.evil", "GET,HEAD", "*", "*")}, blobmark.CORSMissing, []string{"method GET", "method HEAD"}},
		{"any origin", []*service.CORSRule{rule("*", "GET,HEAD", "*", "*")}, blobmark.CORSPresent, nil},
		{"listed among others, spaces and case", []*service.CORSRule{rule("https://a.example, HTTPS://Label.Example.com", "get, head", "x-ms-*,range", "content-*,accept-ranges")}, blobmark.CORSPresent, nil},
		{"a prefix that does not cover Range", []*service.CORSRule{rule(origin, "GET,HEAD", "x-ms-meta-*", "*")}, blobmark.CORSPartial, []string{"allowed header Range"}},
		{"an earlier partial rule wins", []*service.CORSRule{rule(origin, "GET", "*", ""), rule(origin, "GET,HEAD", "*", "*")},
			blobmark.CORSPartial, []string{"exposed header Content-Range", "exposed header Content-Length", "exposed header Accept-Ranges"}},
		{"a later full rule still serves HEAD", []*service.CORSRule{rule(origin, "GET", "*", "*"), rule(origin, "HEAD", "*", "*")}, blobmark.CORSPresent, nil},
	} {
		status, missing := judgeCORS(c.rules, origin)
		if status != c.status || !slices.Equal(missing, c.missing) {
			t.Errorf("%s: %s %q, want %s %q", c.name, status, missing, c.status, c.missing)
		}
	}
	if status, _ := judgeCORS([]*service.CORSRule{mediaCORSRule(origin)}, origin); status != blobmark.CORSPresent {
		t.Errorf("the rule blobmark adds is judged %s", status)
	}
}
