package azureblob_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/internal/azuretest"
)

// corsOrigin is the origin the tests' blobmark serves its pages from.
const corsOrigin = "https://label.example.com"

func corsRule(origins, methods, allowed, exposed string, maxAge int32) *service.CORSRule {
	return &service.CORSRule{AllowedOrigins: &origins, AllowedMethods: &methods, AllowedHeaders: &allowed, ExposedHeaders: &exposed, MaxAgeInSeconds: &maxAge}
}

func ruleText(r *service.CORSRule) string {
	return fmt.Sprintf("%s|%s|%s|%s|%d", *r.AllowedOrigins, *r.AllowedMethods, *r.AllowedHeaders, *r.ExposedHeaders, *r.MaxAgeInSeconds)
}

// TestCORSRulesAreJudgedAndExtended runs against the emulator's one
// account, whose rules every subtest replaces, so they run in order.
func TestCORSRulesAreJudgedAndExtended(t *testing.T) {
	env := azuretest.Start(t)
	conn := azureblob.NewConnector(env.Options())
	name := env.NewContainer(t)
	cont, err := conn.Container(t.Context(), env.AccountKeyConfig(), name)
	if err != nil {
		t.Fatal(err)
	}
	other := corsRule("https://other.example.org", "GET,PUT", "x-ms-meta-*", "x-ms-meta-*", 200)
	another := corsRule("https://third.example.net", "POST", "*", "", 60)

	t.Run("missing", func(t *testing.T) {
		env.SetCORSRules(t, other)
		r := cont.CORS(t.Context(), corsOrigin)
		if r.Status != blobmark.CORSMissing || !slices.Contains(r.Missing, "method GET") || !slices.Contains(r.Missing, "method HEAD") ||
			r.Rules != 1 || !strings.Contains(r.Message, corsOrigin) ||
			!strings.Contains(r.Command, "az storage cors add --services b --methods GET HEAD --origins "+corsOrigin) ||
			!strings.Contains(r.Command, "--account-name "+azuretest.AccountName) {
			t.Fatalf("report %+v", r)
		}
	})

	t.Run("partial", func(t *testing.T) {
		env.SetCORSRules(t, corsRule(corsOrigin, "GET", "", "", 60))
		r := cont.CORS(t.Context(), corsOrigin)
		want := []string{"allowed header Range", "exposed header Content-Range", "exposed header Content-Length", "exposed header Accept-Ranges", "method HEAD"}
		if r.Status != blobmark.CORSPartial || len(r.Missing) != len(want) {
			t.Fatalf("report %+v", r)
		}
		for _, w := range want {
			if !slices.Contains(r.Missing, w) {
				t.Fatalf("missing %q not reported: %+v", w, r)
			}
		}
	})

	t.Run("present with explicit headers", func(t *testing.T) {
		env.SetCORSRules(t, other, corsRule("https://LABEL.example.com", "HEAD,GET", "range,x-ms-*", "Content-Range,Content-Length,Accept-Ranges", 60))
		if r := cont.CORS(t.Context(), corsOrigin); r.Status != blobmark.CORSPresent || len(r.Missing) != 0 || r.Command != "" {
			t.Fatalf("report %+v", r)
		}
	})

	t.Run("add keeps the other rules", func(t *testing.T) {
		env.SetCORSRules(t, other, another)
		r, err := cont.AddCORSRule(t.Context(), corsOrigin)
		if err != nil || r.Status != blobmark.CORSPresent || r.Rules != 3 {
			t.Fatalf("add: %+v, %v", r, err)
		}
		got := env.CORSRules(t)
		if len(got) != 3 || *got[0].AllowedOrigins != corsOrigin || *got[0].AllowedMethods != "GET,HEAD" ||
			ruleText(got[1]) != ruleText(other) || ruleText(got[2]) != ruleText(another) {
			t.Fatalf("rules after the add: %v", texts(got))
		}
		if r := cont.CORS(t.Context(), corsOrigin); r.Status != blobmark.CORSPresent {
			t.Fatalf("read back: %+v", r)
		}
		// Once present, adding again changes nothing.
		if r, err := cont.AddCORSRule(t.Context(), corsOrigin); err != nil || r.Rules != 3 || len(env.CORSRules(t)) != 3 {
			t.Fatalf("second add: %+v, %v, rules %v", r, err, texts(env.CORSRules(t)))
		}
	})

	t.Run("add goes before a partial rule", func(t *testing.T) {
		partial := corsRule(corsOrigin, "GET", "", "", 60)
		env.SetCORSRules(t, partial)
		if _, err := cont.AddCORSRule(t.Context(), corsOrigin); err != nil {
			t.Fatal(err)
		}
		got := env.CORSRules(t)
		if len(got) != 2 || ruleText(got[1]) != ruleText(partial) {
			t.Fatalf("rules %v", texts(got))
		}
		if r := cont.CORS(t.Context(), corsOrigin); r.Status != blobmark.CORSPresent {
			t.Fatalf("after the add: %+v", r)
		}
	})

	t.Run("five rules are full", func(t *testing.T) {
		var five []*service.CORSRule
		for i := range 5 {
			five = append(five, corsRule(fmt.Sprintf("https://o%d.example.org", i), "GET", "*", "*", 60))
		}
		env.SetCORSRules(t, five...)
		_, err := cont.AddCORSRule(t.Context(), corsOrigin)
		if blobmark.ErrorCode(err) != blobmark.ECONFLICT || !strings.Contains(blobmark.ErrorMessage(err), "5 CORS rules") {
			t.Fatalf("add to five rules: %v", err)
		}
		if len(env.CORSRules(t)) != 5 {
			t.Fatalf("rules changed: %v", texts(env.CORSRules(t)))
		}
	})

	t.Run("a credential without the right", func(t *testing.T) {
		env.SetCORSRules(t, other)
		// An account SAS that may read the service's properties, not write them.
		token := env.ReadOnlyAccountSAS(t)
		ro, err := conn.Container(t.Context(), azureblob.Config{AuthType: azureblob.AuthSASToken, Endpoint: env.BlobEndpoint, SASToken: token}, name)
		if err != nil {
			t.Fatal(err)
		}
		if r := ro.CORS(t.Context(), corsOrigin); r.Status != blobmark.CORSMissing {
			t.Fatalf("read with an account SAS: %+v", r)
		}
		_, err = ro.AddCORSRule(t.Context(), corsOrigin)
		msg := blobmark.ErrorMessage(err)
		if blobmark.ErrorCode(err) != blobmark.EFORBIDDEN || !strings.Contains(msg, "srt=s") || !strings.Contains(msg, "sp=w") ||
			!strings.Contains(msg, "az storage cors add --services b --methods GET HEAD --origins "+corsOrigin) || strings.Contains(msg, "sig=") {
			t.Fatalf("add with a read-only SAS: %v", err)
		}
		if len(env.CORSRules(t)) != 1 {
			t.Fatalf("rules changed: %v", texts(env.CORSRules(t)))
		}

		// A container SAS reaches no service property at all.
		cs, err := conn.Container(t.Context(), env.SASTokenConfig(t, name), name)
		if err != nil {
			t.Fatal(err)
		}
		r := cs.CORS(t.Context(), corsOrigin)
		if r.Status != blobmark.CORSUnknown || !strings.Contains(r.Message, "srt=s") || r.Command == "" {
			t.Fatalf("read with a container SAS: %+v", r)
		}
	})
}

func texts(rules []*service.CORSRule) []string {
	var out []string
	for _, r := range rules {
		out = append(out, ruleText(r))
	}
	return out
}
