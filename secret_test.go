package blobmark_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/blobmark/blobmark"
)

// TestSecretsNeverShowTheirValue prints, encodes and logs a secret, a
// secrets map and the storages and query that carry one, every way a
// careless line of code might, and fails if the value appears anywhere.
func TestSecretsNeverShowTheirValue(t *testing.T) {
	const value = "c2VjcmV0LWFjY291bnQta2V5"
	secret := blobmark.Secret(value)
	secrets := blobmark.Secrets{"account_key": secret}
	conn := blobmark.Connection{"auth_type": "account_key", "account_name": "acct"}
	subjects := map[string]any{
		"secret":         secret,
		"secret pointer": &secret,
		"secrets":        secrets,
		"source storage": &blobmark.SourceStorage{Container: "c", Connection: conn, Secrets: secrets},
		"target storage": blobmark.TargetStorage{Container: "c", Connection: conn, Secrets: secrets},
		"file query":     blobmark.StorageFileQuery{Container: "c", Connection: conn, Secrets: secrets},
		"webhook":        &blobmark.Webhook{URL: "https://example.com/hook", Secret: secret},
	}
	for name, v := range subjects {
		var out []string
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
			out = append(out, verb+" "+fmt.Sprintf(verb, v))
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: json.Marshal: %v", name, err)
		}
		out = append(out, "json "+string(b))
		for handler, newHandler := range map[string]func(*bytes.Buffer) slog.Handler{
			"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
			"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		} {
			var buf bytes.Buffer
			slog.New(newHandler(&buf)).Info("storage", "subject", v)
			out = append(out, handler+" log "+buf.String())
		}
		for _, o := range out {
			if strings.Contains(o, value) || strings.Contains(o, fmt.Sprintf("%x", value)) {
				t.Errorf("%s leaks the secret: %s", name, o)
			}
		}
		// A redaction that printed nothing would pass the check above
		// while hiding that a secret is set at all.
		if all := strings.Join(out, "\n"); !strings.Contains(all, blobmark.Redacted) {
			t.Errorf("%s never shows %s:\n%s", name, blobmark.Redacted, all)
		}
	}
	if got := secret.Reveal(); got != value {
		t.Fatalf("Reveal = %q, want the plain text", got)
	}
}

// TestSecretsLogTheirFieldNames: a logged secrets map says which secrets
// are set, which is what someone reading the log needs, and an unset one
// is not dressed up as set.
func TestSecretsLogTheirFieldNames(t *testing.T) {
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("s", "secrets", blobmark.Secrets{"sas_token": "x", "account_key": "y"}, "unset", blobmark.Secret(""))
	var rec struct {
		Secrets map[string]string
		Unset   *string
	}
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"account_key": blobmark.Redacted, "sas_token": blobmark.Redacted}
	if fmt.Sprint(rec.Secrets) != fmt.Sprint(want) || rec.Unset == nil || *rec.Unset != "" {
		t.Fatalf("logged %s", buf.String())
	}
}
