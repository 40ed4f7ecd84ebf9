package sqlstore_test

import (
	"encoding/hex"
	"strings"
	"sync"
	"testing"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/seal"
	"github.com/blobmark/blobmark/sqlstore"
)

// reopen opens cfg with the box, closes it again at once, and returns
// Open's error.
func reopen(t *testing.T, cfg sqlstore.Config, b *seal.Box) error {
	t.Helper()
	cfg.Secrets = b
	db, err := sqlstore.Open(t.Context(), cfg)
	if err == nil {
		db.Close()
	}
	return err
}

// refusedForKey fails the test unless err is the refusal of a mismatched
// secret key, naming the option that fixes it.
func refusedForKey(t *testing.T, what string, err error) {
	t.Helper()
	if blobmark.ErrorCode(err) != blobmark.EINVALID || !strings.Contains(err.Error(), "--secret-key") {
		t.Errorf("%s: Open = %v, want a refusal naming --secret-key", what, err)
	}
}

// TestSecretKeyCheck: the first process records its key's check value; a
// process with another key is refused; a rotation (new key, old one as
// previous) starts and records the new key, after which the old key alone
// is refused.
func TestSecretKeyCheck(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			oldKey, newKey := serverKey(1), serverKey(2)
			cfg := b.prepare(t, sqlstore.Config{Secrets: box(t, oldKey)})
			db := open(t, cfg)
			var stored string
			if err := db.SQL().QueryRowContext(t.Context(), "SELECT check_value FROM secret_key_check").Scan(&stored); err != nil {
				t.Fatal(err)
			}
			if want, _ := seal.KeyCheck(oldKey); stored != want {
				t.Fatalf("recorded %q, want the key check value %q", stored, want)
			}
			for _, use := range []seal.Use{seal.UseSecrets, seal.UseSessions} {
				k, _ := seal.Key(oldKey, use)
				if strings.Contains(hex.EncodeToString(k), stored) || strings.Contains(stored, hex.EncodeToString(k[:4])) ||
					strings.Contains(stored, hex.EncodeToString(oldKey[:4])) {
					t.Errorf("the recorded value shows part of a key (%q)", use)
				}
			}

			if err := reopen(t, cfg, box(t, oldKey)); err != nil {
				t.Fatalf("same key again: %v", err)
			}
			refusedForKey(t, "another key", reopen(t, cfg, box(t, newKey)))
			refusedForKey(t, "another key, with an unrelated previous one", reopen(t, cfg, box(t, newKey, serverKey(3))))
			if err := reopen(t, cfg, nil); err != nil {
				t.Fatalf("a tool without a key: %v", err)
			}

			if err := reopen(t, cfg, box(t, newKey, oldKey)); err != nil {
				t.Fatalf("rotation (new key, old one previous): %v", err)
			}
			if err := reopen(t, cfg, box(t, newKey)); err != nil {
				t.Fatalf("the new key alone after the rotation: %v", err)
			}
			refusedForKey(t, "the old key after the rotation", reopen(t, cfg, box(t, oldKey)))
		})
	}
}

// TestSecretKeyCheckConcurrentFirstStart: of two processes that open a new
// database at once with different keys, exactly one starts.
func TestSecretKeyCheckConcurrentFirstStart(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			cfg := b.prepare(t, sqlstore.Config{})
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i := range errs {
				wg.Go(func() { errs[i] = reopen(t, cfg, box(t, serverKey(byte(10+i)))) })
			}
			wg.Wait()
			if (errs[0] == nil) == (errs[1] == nil) {
				t.Fatalf("Open errors %v and %v: want exactly one refused", errs[0], errs[1])
			}
			for _, err := range errs {
				if err != nil {
					refusedForKey(t, "the second key", err)
				}
			}
		})
	}
}

// legacySealed are values sealed under serverKey(7) itself by the versions
// before the key separation (the seal package's tests hold the same ones).
const (
	legacySourceSecrets = "v1:4bb06f8e:H-2udKp-GZKvd8wxPZ8B8vIL3wR-stClyeEJTRud1rwdZ6T3z3mG-L7QbI0PJ7rgfZFDkalcXzmIIyn7fcyC9w"
	legacyWebhookSecret = "v1:4bb06f8e:WrFicE5FYlKiH15zoDvet-wi-mNK09HtzjwQ1l8J7e-jOvNpdYoaOGKVoJkLpM1u7A"
)

// TestSecretsSealedBeforeUpgradeStillOpen: a database written by a version
// that sealed under the server key itself still works after the upgrade,
// and a rotation away from that key too; a save reseals in the new format.
func TestSecretsSealedBeforeUpgradeStillOpen(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			cfg := b.prepare(t, sqlstore.Config{Secrets: box(t, serverKey(7))})
			db := open(t, cfg)
			src := newStorage(t, db)
			hook := &blobmark.Webhook{ProjectID: src.ProjectID, URL: "https://example.com/hook", IsActive: true}
			if err := db.CreateWebhook(ctx, hook); err != nil {
				t.Fatal(err)
			}
			for q, v := range map[string]string{"UPDATE source_storages SET secrets = ?": legacySourceSecrets,
				"UPDATE webhooks SET secret_sealed = ?": legacyWebhookSecret} {
				if _, err := db.SQL().ExecContext(ctx, db.Rebind(q), v); err != nil {
					t.Fatal(err)
				}
			}
			check := func(db *sqlstore.DB, when string) {
				t.Helper()
				if s, err := db.FindSourceStorageWithSecrets(ctx, src.ID); err != nil || s.Secrets["account_key"] != "legacy-account-key" {
					t.Fatalf("%s: legacy storage secrets: %+v, %v", when, s, err)
				}
				if h, err := db.FindWebhookWithSecret(ctx, hook.ID); err != nil || h.Secret != "legacy webhook secret" {
					t.Fatalf("%s: legacy webhook secret: %+v, %v", when, h, err)
				}
			}
			check(db, "same key")
			db.Close()

			cfg.Secrets = box(t, serverKey(8), serverKey(7))
			rotated := open(t, cfg)
			check(rotated, "rotated")
			s, _ := rotated.FindSourceStorageWithSecrets(ctx, src.ID)
			if err := rotated.UpdateSourceStorage(ctx, s); err != nil {
				t.Fatal(err)
			}
			var raw string
			if err := rotated.SQL().QueryRowContext(ctx, "SELECT secrets FROM source_storages").Scan(&raw); err != nil {
				t.Fatal(err)
			}
			if _, err := box(t, serverKey(8)).Open(raw); !strings.HasPrefix(raw, "v2:") || err != nil {
				t.Errorf("after a save the secrets are %q, want them sealed under the new key", raw)
			}
			if got, err := rotated.FindSourceStorageWithSecrets(ctx, src.ID); err != nil || got.Secrets["account_key"] != "legacy-account-key" {
				t.Errorf("resealed secrets: %+v, %v", got, err)
			}
		})
	}
}

// TestStoreWithoutKeyHandlesNoSecrets: a store opened without a key (the
// command-line tools) refuses to seal or open a secret instead of making
// up a key of its own, and works otherwise.
func TestStoreWithoutKeyHandlesNoSecrets(t *testing.T) {
	cfg := prepareSQLite(t, sqlstore.Config{})
	cfg.Secrets = nil
	db := open(t, cfg)
	p := &blobmark.Project{Title: "p"}
	if err := db.CreateProject(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	plain := &blobmark.SourceStorage{ProjectID: p.ID, Type: "azure", Container: "c",
		Connection: blobmark.Connection{"auth_type": "managed_identity", "account_name": "acct"}}
	if err := db.CreateSourceStorage(t.Context(), plain); err != nil {
		t.Fatalf("a storage without secrets: %v", err)
	}
	withSecret := &blobmark.SourceStorage{ProjectID: p.ID, Type: "azure", Container: "c",
		Connection: blobmark.Connection{"auth_type": "account_key"}, Secrets: blobmark.Secrets{"account_key": "k"}}
	if err := db.CreateSourceStorage(t.Context(), withSecret); err == nil || !strings.Contains(err.Error(), "no secret key") {
		t.Errorf("a storage with a secret and no key: %v, want a refusal", err)
	}
}
