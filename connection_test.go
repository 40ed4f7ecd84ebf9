package blobmark_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/blobmark/blobmark"
)

// schemaFieldsOf returns the connection fields the schema lets authType
// set, in schema order.
func schemaFieldsOf(authType string) []string {
	var out []string
	for _, f := range blobmark.ConnectionSchema {
		if slices.Contains(f.AuthTypes, authType) {
			out = append(out, f.Name)
		}
	}
	return out
}

// TestWebFormFollowsTheSchema reads the storage form of the web UI and
// checks that, for every auth type, it offers exactly the connection
// fields the schema declares, and treats exactly the schema's secrets as
// secret. A field added to the schema and not to the form, or the other
// way round, fails here.
func TestWebFormFollowsTheSchema(t *testing.T) {
	src, err := os.ReadFile("ui/static/storage.js")
	if err != nil {
		t.Fatal(err)
	}
	// The form's pseudo-fields stand for connection fields.
	expand := map[string][]string{
		"sp_credential": {"client_secret", "client_certificate", "client_certificate_password"},
		"mi_kind":       {"managed_identity_client_id", "managed_identity_resource_id", "managed_identity_object_id"},
	}
	entry := regexp.MustCompile(`\{ id: '(\w+)', title: (?:'[^']*'|"[^"]*"), fields: \[([^\]]*)\](, noEndpoint: true)? \}`)
	seen := map[string]bool{}
	for _, m := range entry.FindAllStringSubmatch(string(src), -1) {
		authType, noEndpoint := m[1], m[3] != ""
		seen[authType] = true
		var form []string
		if !noEndpoint {
			form = append(form, "endpoint", "cloud")
		}
		for _, f := range strings.Split(m[2], ",") {
			f = strings.Trim(strings.TrimSpace(f), "'")
			if x, ok := expand[f]; ok {
				form = append(form, x...)
			} else if f != "" {
				form = append(form, f)
			}
		}
		want := schemaFieldsOf(authType)
		slices.Sort(form)
		slices.Sort(want)
		if !slices.Equal(form, want) {
			t.Errorf("auth type %s: the form offers %v, the schema declares %v", authType, form, want)
		}
	}
	for _, a := range []string{blobmark.AuthAccountKey, blobmark.AuthSASToken, blobmark.AuthConnectionString, blobmark.AuthServicePrincipal,
		blobmark.AuthManagedIdentity, blobmark.AuthWorkloadIdentity, blobmark.AuthServerIdentity, blobmark.AuthAnonymous} {
		if !seen[a] {
			t.Errorf("the form has no entry for auth type %s", a)
		}
	}
	secrets := regexp.MustCompile(`const secretFields = new Set\(\[([^\]]*)\]\)`).FindStringSubmatch(string(src))
	if secrets == nil {
		t.Fatal("the form's secretFields are not where this test looks")
	}
	var form []string
	for _, f := range strings.Split(secrets[1], ",") {
		form = append(form, strings.Trim(strings.TrimSpace(f), "'"))
	}
	if !slices.Equal(form, blobmark.SecretConnectionFields) {
		t.Errorf("the form's secrets %v, the schema's %v", form, blobmark.SecretConnectionFields)
	}
}

// TestDocsListTheSchema checks the storage API reference lists exactly the
// declared connection fields, plain and secret.
func TestDocsListTheSchema(t *testing.T) {
	doc, err := os.ReadFile("docs/api-source-storages.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		pattern string
		want    []string
	}{
		{`\* Connection fields: ` + "`" + `([^` + "`" + `]*)` + "`", blobmark.ConnectionFields},
		{`## Secrets\s+` + "`" + `([^` + "`" + `]*)` + "`", blobmark.SecretConnectionFields},
	} {
		m := regexp.MustCompile(c.pattern).FindSubmatch(doc)
		if m == nil {
			t.Fatalf("docs/api-source-storages.md has no list matching %s", c.pattern)
		}
		var got []string
		for _, f := range strings.Split(string(m[1]), ",") {
			got = append(got, strings.TrimSpace(f))
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("the docs list %v, the schema %v", got, c.want)
		}
	}
}
