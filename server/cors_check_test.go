package server

import (
	"testing"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/internal/azuretest"
	"github.com/blobmark/blobmark/media"
)

// TestSyncCORSCheck checks the verdict a sync leaves in a storage's meta:
// none where CORS cannot matter (no public URL, media streamed by mode or
// by the storage's choice), else the account's CORS rules judged against
// the public URL's origin, against Azurite, before and after a rule for it.
func TestSyncCORSCheck(t *testing.T) {
	env := azuretest.Start(t)
	checker := &azureblob.Checker{Connector: azureblob.NewConnector(env.Options())}
	cfg := env.AccountKeyConfig()
	st := &blobmark.SourceStorage{Type: "azure", Container: env.NewContainer(t), Presign: true,
		Connection: blobmark.Connection{"auth_type": string(cfg.AuthType), "account_name": cfg.AccountName, "endpoint": cfg.Endpoint},
		Secrets:    blobmark.Secrets{"account_key": blobmark.Secret(cfg.AccountKey)}}
	const public = "https://label.example.com/blobmark/"

	if corsCheck(checker, "", media.ModeAuto) != nil {
		t.Error("a check without a public URL, whose origin is unknown to a sync")
	}
	if rep := corsCheck(checker, public, media.ModeProxy)(t.Context(), st); rep != nil {
		t.Errorf("streamed media (proxy mode) got a verdict: %+v", rep)
	}
	streamed := *st
	streamed.Presign = false
	if rep := corsCheck(checker, public, media.ModeAuto)(t.Context(), &streamed); rep != nil {
		t.Errorf("a storage that streams its media got a verdict: %+v", rep)
	}

	check := corsCheck(checker, public, media.ModeAuto)
	rep := check(t.Context(), st)
	if rep == nil || rep.Status != blobmark.CORSMissing || rep.Origin != "https://label.example.com" || rep.Message == "" {
		t.Fatalf("without a rule: %+v; want %q for the public URL's origin, with a message", rep, blobmark.CORSMissing)
	}
	env.SetCORSRules(t, azuretest.CORSRule("https://label.example.com", "GET,HEAD", 3600))
	if rep := check(t.Context(), st); rep == nil || rep.Status != blobmark.CORSPresent {
		t.Fatalf("with the rule: %+v; want %q", rep, blobmark.CORSPresent)
	}
}
