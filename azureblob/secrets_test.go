package azureblob_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/internal/azuretest"
)

// TestSecretsNeverLeak configures known secrets, runs success and failure
// paths, logs configs and errors the way the server does, and checks that no
// secret appears in any log line or error text.
func TestSecretsNeverLeak(t *testing.T) {
	env := azuretest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	var texts []string
	name := env.NewContainer(t)
	cert := env.ServicePrincipalCertConfig(t)
	wrongKey := env.AccountKeyConfig()
	wrongKey.AccountKey = "c2VjcmV0LWtleS10aGF0LWlzLXdyb25nLXNlY3JldC1rZXktdGhhdC1pcy13cm9uZw=="
	wrongSecret := env.ServicePrincipalConfig()
	wrongSecret.ClientSecret = "leaky-secret-value-123"
	badCS := env.ConnectionStringConfig()
	badCS.ConnectionString = strings.Replace(badCS.ConnectionString, azuretest.AccountKey, wrongKey.AccountKey, 1)
	badSAS := env.SASTokenConfig(t, "othercontainer")

	configs := []azureblob.Config{env.AccountKeyConfig(), env.ConnectionStringConfig(), env.SASTokenConfig(t, name),
		env.ServicePrincipalConfig(), cert, wrongKey, wrongSecret, badCS, badSAS}
	conn := azureblob.NewConnector(env.Options())
	var secrets []string
	for _, cfg := range configs {
		secrets = append(secrets, cfg.Secrets()...)
		texts = append(texts, cfg.String(), fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg))
		log.Info("storage", "config", cfg)
		c, err := conn.Container(ctx, cfg, name)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.UploadBytes(ctx, "s.txt", []byte("x"), "")
		record(log, &texts, err)
		err = c.List(ctx, azureblob.ListOptions{}, func([]azureblob.BlobItem) error { return nil })
		record(log, &texts, err)
		u, _, err := c.SignURL(ctx, "s.txt", time.Minute)
		record(log, &texts, err)
		_ = u
		_, err = c.Properties(ctx, "missing.txt")
		record(log, &texts, err)
	}
	bad := azureblob.Config{AccountKey: "not base64 !!secret!!", ClientSecret: "another-secret-xyz"}
	secrets = append(secrets, bad.Secrets()...)
	record(log, &texts, bad.Validate())
	texts = append(texts, logs.String())
	all := strings.Join(texts, "\n")
	if !strings.Contains(all, "[redacted]") {
		t.Fatal("nothing was redacted: the test did not log any secret field")
	}
	for _, s := range secrets {
		for _, piece := range append([]string{s}, strings.Split(s, ";")...) {
			if len(piece) > 12 && strings.Contains(all, piece) && !strings.HasPrefix(piece, "DefaultEndpoints") && !strings.HasPrefix(piece, "AccountName") && !strings.HasPrefix(piece, "BlobEndpoint") {
				t.Errorf("secret %.6s… appears in logs or errors", piece)
			}
		}
	}
}

func record(log *slog.Logger, texts *[]string, err error) {
	if err == nil {
		return
	}
	*texts = append(*texts, err.Error(), fmt.Sprintf("%+v", err))
	log.Error("failed", "err", err)
	for e := err; e != nil; {
		*texts = append(*texts, e.Error())
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			break
		}
		e = u.Unwrap()
	}
}
