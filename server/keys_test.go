package server_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/seal"
	"github.com/blobmark/blobmark/server"
)

// forgeCookie signs a session cookie for userID with key the way the
// server signs them (payload.HMAC-SHA256 of "session", payload), as someone
// holding key would try.
func forgeCookie(key []byte, userID int64) string {
	payload, _ := json.Marshal(map[string]any{"u": userID, "s": "forged", "e": time.Now().Add(time.Hour).Unix()})
	p := base64.RawURLEncoding.EncodeToString(payload)
	m := hmac.New(sha256.New, key)
	m.Write([]byte("session\x00" + p + "\x00"))
	return p + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// forgeSealed seals plaintext with AES-256-GCM under key in the format
// that names keyID, as someone holding key would try.
func forgeSealed(t *testing.T, key []byte, keyID, plaintext string) string {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, aead.NonceSize())
	return "v2:" + keyID + ":" + base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, []byte(plaintext), nil))
}

// TestSessionAndSealingKeysAreSeparate: whoever holds the key that seals
// storage secrets cannot sign a session cookie, and whoever holds the key
// that signs sessions cannot seal a secret the server would open. Each
// forgery is checked against a control made the same way with the right
// key, which the server accepts, so a refusal means the key was wrong and
// not the forgery's format.
func TestSessionAndSealingKeysAreSeparate(t *testing.T) {
	ctx := t.Context()
	secret := bytes.Repeat([]byte{5}, seal.KeySize)
	srv, err := server.Open(ctx, server.Config{DataDir: t.TempDir(), SecretKey: secret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(ctx) })
	user, _, err := srv.DB.CreateUser(ctx, "keys@example.com", "password123")
	if err != nil {
		t.Fatal(err)
	}
	sealingKey, _ := seal.Key(secret, seal.UseSecrets)
	sessionKey, _ := seal.Key(secret, seal.UseSessions)
	check, _ := seal.KeyCheck(secret)
	checkBytes, _ := hex.DecodeString(check)

	handler := srv.Handler()
	whoami := func(cookie string) int {
		r := httptest.NewRequest("GET", "/api/current-user/whoami", nil)
		r.AddCookie(&http.Cookie{Name: "blobmark_session", Value: cookie})
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		return w.Code
	}
	if code := whoami(forgeCookie(sessionKey, user.ID)); code != http.StatusOK {
		t.Fatalf("control: a cookie signed with the session key answers %d, want 200", code)
	}
	m := hmac.New(sha256.New, sealingKey)
	m.Write([]byte("blobmark session cookies v1")) // how the session key was once derived from the sealing key
	for name, key := range map[string][]byte{
		"the sealing key":                     sealingKey,
		"the session key derived the old way": m.Sum(nil),
		"the key check value in the database": checkBytes,
	} {
		if code := whoami(forgeCookie(key, user.ID)); code != http.StatusUnauthorized {
			t.Errorf("a cookie signed with %s answers %d, want 401", name, code)
		}
	}

	p := &blobmark.Project{Title: "keys"}
	if err := srv.DB.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	st := &blobmark.SourceStorage{ProjectID: p.ID, Type: "azure", Container: "c",
		Connection: blobmark.Connection{"auth_type": "account_key", "account_name": "acct"},
		Secrets:    blobmark.Secrets{"account_key": "genuine"}}
	if err := srv.DB.CreateSourceStorage(ctx, st); err != nil {
		t.Fatal(err)
	}
	var sealed string
	if err := srv.DB.SQL().QueryRowContext(ctx, "SELECT secrets FROM source_storages").Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	keyID := strings.Split(sealed, ":")[1]
	opened := func(value string) (blobmark.Secrets, error) {
		t.Helper()
		if _, err := srv.DB.SQL().ExecContext(ctx, "UPDATE source_storages SET secrets = ?", value); err != nil {
			t.Fatal(err)
		}
		got, err := srv.DB.FindSourceStorageWithSecrets(ctx, st.ID)
		if err != nil {
			return nil, err
		}
		return got.Secrets, nil
	}
	if got, err := opened(forgeSealed(t, sealingKey, keyID, `{"account_key":"forged"}`)); err != nil || got["account_key"] != "forged" {
		t.Fatalf("control: a value sealed under the sealing key opens as %v, %v", got, err)
	}
	for name, key := range map[string][]byte{"the session key": sessionKey, "the server key itself": secret} {
		if got, err := opened(forgeSealed(t, key, keyID, `{"account_key":"forged"}`)); err == nil {
			t.Errorf("a value sealed under %s opened: %v", name, got)
		}
	}
}

// TestReplicaWithAnotherKeyIsRefused: replicas of one PostgreSQL database
// that each generate a key into their own data directory no longer serve
// each other's storages with 500s: the second is refused at start, naming
// --secret-key. With the first one's key it starts; a rotation to a new key
// (the old one previous) starts and opens the old secrets, after which the
// old key alone is refused.
func TestReplicaWithAnotherKeyIsRefused(t *testing.T) {
	ctx := t.Context()
	dbURL := postgresSchemaURL(t)
	dirA := t.TempDir()
	a, err := server.Open(ctx, server.Config{DatabaseURL: dbURL, DataDir: dirA})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	p := &blobmark.Project{Title: "keys"}
	if err := a.DB.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	st := &blobmark.SourceStorage{ProjectID: p.ID, Type: "azure", Container: "c",
		Connection: blobmark.Connection{"auth_type": "account_key", "account_name": "acct"},
		Secrets:    blobmark.Secrets{"account_key": "sealed by A"}}
	if err := a.DB.CreateSourceStorage(ctx, st); err != nil {
		t.Fatal(err)
	}

	refused := func(what string, cfg server.Config) {
		t.Helper()
		cfg.DatabaseURL = dbURL
		s, err := server.Open(ctx, cfg)
		if err == nil {
			s.Close(ctx)
			t.Fatalf("%s: started", what)
		}
		if !strings.Contains(err.Error(), "--secret-key") {
			t.Errorf("%s: %v, want a refusal naming --secret-key", what, err)
		}
	}
	started := func(what string, cfg server.Config) *server.Server {
		t.Helper()
		cfg.DatabaseURL = dbURL
		s, err := server.Open(ctx, cfg)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return s
	}
	refused("a replica generating its own key", server.Config{DataDir: t.TempDir()})

	raw, err := os.ReadFile(filepath.Join(dirA, seal.KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	keyA, err := seal.DecodeKey(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	started("a replica given A's key", server.Config{DataDir: t.TempDir(), SecretKey: keyA}).Close(ctx)

	newKey := bytes.Repeat([]byte{6}, seal.KeySize)
	rotated := started("the rotation", server.Config{SecretKey: newKey, PreviousSecretKeys: [][]byte{keyA}})
	got, err := rotated.DB.FindSourceStorageWithSecrets(ctx, st.ID)
	rotated.Close(ctx)
	if err != nil || got.Secrets["account_key"] != "sealed by A" {
		t.Fatalf("after the rotation the old secret reads %v, %v", got, err)
	}
	started("the new key alone", server.Config{SecretKey: newKey}).Close(ctx)
	refused("the old key after the rotation", server.Config{SecretKey: keyA})
}
