package sqlstore_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/seal"
	"github.com/blobmark/blobmark/sqlstore"
)

func serverKey(b byte) []byte { return bytes.Repeat([]byte{b}, seal.KeySize) }

func box(t *testing.T, primary []byte, previous ...[]byte) *seal.Box {
	t.Helper()
	b, err := seal.New(primary, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPlainReadsLeaveSecretsSealed: reading a storage for anything but its
// credential neither returns nor decrypts its secrets, so it still answers
// when they cannot be decrypted; the reads that use them fail then.
func TestPlainReadsLeaveSecretsSealed(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := open(t, b.prepare(t, sqlstore.Config{}))
			src := newStorage(t, db)
			dst := &blobmark.TargetStorage{ProjectID: src.ProjectID, Type: "azure", Container: "out",
				Connection: blobmark.Connection{"auth_type": "account_key", "account_name": "acct"},
				Secrets:    blobmark.Secrets{"account_key": "TOPSECRETKEYVALUE=="}}
			if err := db.CreateTargetStorage(ctx, dst, false); err != nil {
				t.Fatal(err)
			}
			hook := &blobmark.Webhook{ProjectID: src.ProjectID, URL: "https://example.com/hook", IsActive: true}
			if err := db.CreateWebhook(ctx, hook); err != nil {
				t.Fatal(err)
			}
			// Control: the reads that use the secrets open them.
			if s, err := db.FindSourceStorageWithSecrets(ctx, src.ID); err != nil || s.Secrets["account_key"] == "" {
				t.Fatalf("source with secrets: %+v, %v", s, err)
			}
			if s, err := db.FindTargetStorageWithSecrets(ctx, dst.ID); err != nil || s.Secrets["account_key"] == "" {
				t.Fatalf("target with secrets: %+v, %v", s, err)
			}
			if h, err := db.FindWebhookWithSecret(ctx, hook.ID); err != nil || h.Secret == "" {
				t.Fatalf("webhook with secret: %+v, %v", h, err)
			}

			// Secrets this process cannot decrypt, as a replica with
			// another key would have sealed them.
			foreign, _ := box(t, serverKey(42)).Seal(`{"account_key":"x"}`)
			for _, q := range []string{"UPDATE source_storages SET secrets = ?", "UPDATE target_storages SET secrets = ?",
				"UPDATE webhooks SET secret_sealed = ?"} {
				if _, err := db.SQL().ExecContext(ctx, db.Rebind(q), foreign); err != nil {
					t.Fatal(err)
				}
			}
			if s, err := db.FindSourceStorageByID(ctx, src.ID); err != nil || s.Secrets != nil || s.Container != "c" {
				t.Errorf("source by id: %+v, %v; want it without secrets", s, err)
			}
			if l, err := db.FindSourceStorages(ctx, src.ProjectID); err != nil || len(l) != 1 || l[0].Secrets != nil {
				t.Errorf("source list: %v, %v", l, err)
			}
			if s, err := db.RequestSourceSync(ctx, src.ID); err != nil || s.State.Status != blobmark.StatusQueued {
				t.Errorf("sync request: %+v, %v", s, err)
			}
			if s, err := db.FindTargetStorageByID(ctx, dst.ID); err != nil || s.Secrets != nil {
				t.Errorf("target by id: %+v, %v", s, err)
			}
			if l, err := db.FindTargetStorages(ctx, blobmark.TargetStorageFilter{ProjectID: src.ProjectID}); err != nil || len(l) != 1 {
				t.Errorf("target list: %v, %v", l, err)
			}
			if _, err := db.SyncTargetStorage(ctx, dst.ID, false); err != nil {
				t.Errorf("target sync: %v", err)
			}
			if h, err := db.FindWebhookByID(ctx, hook.ID); err != nil || h.Secret != "" {
				t.Errorf("webhook by id: %+v, %v", h, err)
			}
			if l, err := db.FindWebhooks(ctx, src.ProjectID); err != nil || len(l) != 1 {
				t.Errorf("webhook list: %v, %v", l, err)
			}

			for what, err := range map[string]error{
				"source":  errOf(db.FindSourceStorageWithSecrets(ctx, src.ID)),
				"sources": errOf(db.FindSourceStoragesWithSecrets(ctx, src.ProjectID)),
				"target":  errOf(db.FindTargetStorageWithSecrets(ctx, dst.ID)),
				"webhook": errOf(db.FindWebhookWithSecret(ctx, hook.ID)),
			} {
				if err == nil || !strings.Contains(err.Error(), "decrypt") {
					t.Errorf("%s with secrets under a foreign key: %v, want a decryption error", what, err)
				}
			}
		})
	}
}

func errOf[T any](_ T, err error) error { return err }
