package seal

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func TestSealOpenRoundTripHidesPlaintext(t *testing.T) {
	b, err := New(key(1))
	if err != nil {
		t.Fatal(err)
	}
	const secret = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq"
	sealed, err := b.Seal(secret)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, secret) || strings.Contains(sealed, secret[:10]) {
		t.Fatalf("sealed value shows the plaintext: %s", sealed)
	}
	again, _ := b.Seal(secret)
	if again == sealed {
		t.Error("two seals of one secret are equal; the nonce is not random")
	}
	got, err := b.Open(sealed)
	if err != nil || got != secret {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if s, _ := b.Seal(""); s != "" {
		t.Errorf("empty secret sealed to %q, want empty", s)
	}
}

func TestOpenRejectsTamperedAndForeignValues(t *testing.T) {
	b, _ := New(key(1))
	other, _ := New(key(2))
	sealed, _ := b.Seal("secret")
	foreign, _ := other.Seal("secret")
	tampered := sealed[:len(sealed)-2] + "AA"
	for name, v := range map[string]string{"tampered": tampered, "foreign key": foreign, "garbage": "v1:zz", "plain": "secret"} {
		if _, err := b.Open(v); err == nil {
			t.Errorf("%s: Open succeeded", name)
		}
	}
}

// needsReseal reports whether sealed was made other than by Seal under b's
// primary key (under a previous key, or by an earlier version).
func needsReseal(b *Box, sealed string) bool {
	return sealed != "" && !strings.HasPrefix(sealed, sealedV2+":"+b.primary.id+":")
}

func TestRotationOpensOldAndResealsUnderNew(t *testing.T) {
	old, _ := New(key(1))
	sealedOld, _ := old.Seal("s")
	rotated, err := New(key(2), key(1))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rotated.Open(sealedOld); err != nil || got != "s" {
		t.Fatalf("rotated box cannot open an old value: %q %v", got, err)
	}
	if !needsReseal(rotated, sealedOld) {
		t.Error("old value not reported as needing a reseal")
	}
	sealedNew, _ := rotated.Seal("s")
	if needsReseal(rotated, sealedNew) {
		t.Error("new value reported as needing a reseal")
	}
	if _, err := old.Open(sealedNew); err == nil {
		t.Error("old key opened a value sealed under the new one")
	}
}

func TestLoadOrCreateKeyWritesPrivateFileOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	k1, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	k2, err := LoadOrCreateKey(dir)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("second load gave another key (%v)", err)
	}
	os.Chmod(filepath.Join(dir, KeyFileName), 0o644)
	if _, err := LoadOrCreateKey(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key file accepted: %v", err)
	}
}

func TestDecodeKeyFormats(t *testing.T) {
	if _, err := DecodeKey("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="); err != nil {
		t.Errorf("base64 key refused: %v", err)
	}
	if _, err := DecodeKey(strings.Repeat("ab", KeySize)); err != nil {
		t.Errorf("hex key refused: %v", err)
	}
	if _, err := DecodeKey("short"); err == nil {
		t.Error("short key accepted")
	}
}

// legacySealed are values the seal package made before the key separation,
// under key(7) itself: databases written by those versions hold such values.
var legacySealed = map[string]string{
	"v1:4bb06f8e:H-2udKp-GZKvd8wxPZ8B8vIL3wR-stClyeEJTRud1rwdZ6T3z3mG-L7QbI0PJ7rgfZFDkalcXzmIIyn7fcyC9w": `{"account_key":"legacy-account-key"}`,
	"v1:4bb06f8e:WrFicE5FYlKiH15zoDvet-wi-mNK09HtzjwQ1l8J7e-jOvNpdYoaOGKVoJkLpM1u7A":                     "legacy webhook secret",
}

func TestValuesSealedBeforeKeySeparationStillOpen(t *testing.T) {
	same, _ := New(key(7))
	rotated, _ := New(key(8), key(7))
	other, _ := New(key(8))
	for sealed, want := range legacySealed {
		for name, b := range map[string]*Box{"same key": same, "rotated, old key previous": rotated} {
			if got, err := b.Open(sealed); err != nil || got != want {
				t.Errorf("%s: Open(legacy) = %q, %v; want %q", name, got, err, want)
			}
			if !needsReseal(b, sealed) {
				t.Errorf("%s: a legacy value is not reported as needing a reseal", name)
			}
		}
		if _, err := other.Open(sealed); err == nil {
			t.Error("a legacy value opened under an unrelated key")
		}
	}
	// What is sealed now is in the new format, not under the raw key.
	sealed, _ := same.Seal("s")
	if !strings.HasPrefix(sealed, "v2:") || needsReseal(same, sealed) {
		t.Errorf("new value %q: want the v2 format, not needing a reseal", sealed)
	}
	if _, err := openRaw(key(7), sealed); err == nil {
		t.Error("a new value opens under the raw server key: sealing does not use the derived key")
	}
}

// openRaw opens a sealed value's ciphertext with AES-GCM under key, as
// someone holding that key (and not the Box) would try.
func openRaw(key []byte, sealed string) (string, error) {
	parts := strings.SplitN(sealed, ":", 3)
	if len(parts) != 3 {
		return "", errors.New("not a sealed value")
	}
	ct, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return "", err
	}
	aead, err := newAEAD(key)
	if err != nil {
		return "", err
	}
	pt, err := aead.Open(nil, ct[:aead.NonceSize()], ct[aead.NonceSize():], nil)
	return string(pt), err
}

// sealRaw seals plaintext with AES-GCM under key in the v2 format naming
// id, as someone holding key (and not the server key) would forge a value.
func sealRaw(t *testing.T, key []byte, id, plaintext string) string {
	t.Helper()
	aead, err := newAEAD(key)
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, aead.NonceSize())
	return "v2:" + id + ":" + base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, []byte(plaintext), nil))
}

func TestEachUseHasItsOwnKey(t *testing.T) {
	secret := key(5)
	keys := map[Use][]byte{}
	for _, use := range []Use{UseSecrets, UseSessions, UseTokens, UseKeyCheck} {
		k, err := Key(secret, use)
		if err != nil || len(k) != KeySize {
			t.Fatalf("Key(%q) = %d bytes, %v", use, len(k), err)
		}
		if bytes.Equal(k, secret) {
			t.Errorf("Key(%q) is the server key itself", use)
		}
		for other, ok := range keys {
			if bytes.Equal(k, ok) {
				t.Errorf("uses %q and %q share a key", use, other)
			}
		}
		keys[use] = k
	}
	if k, _ := Key(key(6), UseSecrets); bytes.Equal(k, keys[UseSecrets]) {
		t.Error("two server keys derive the same sealing key")
	}
	if _, err := Key([]byte("short"), UseSecrets); err == nil {
		t.Error("a short server key was accepted")
	}

	b, _ := New(secret)
	id := b.KeyCheck()[:8]
	// The forging code is right: with the sealing key it makes a value
	// that opens.
	if got, err := b.Open(sealRaw(t, keys[UseSecrets], id, "forged")); err != nil || got != "forged" {
		t.Fatalf("control: a value sealed under the sealing key does not open: %q %v", got, err)
	}
	// Whoever holds the session key (or any other) cannot make one.
	for _, k := range [][]byte{keys[UseSessions], keys[UseTokens], keys[UseKeyCheck], secret} {
		if got, err := b.Open(sealRaw(t, k, id, "forged")); err == nil {
			t.Errorf("a value sealed under another key opened: %q", got)
		}
	}
}

func TestKeyCheckNamesThePrimaryAndPreviousKeys(t *testing.T) {
	c1, err := KeyCheck(key(1))
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := KeyCheck(key(2))
	c3, _ := KeyCheck(key(3))
	if c1 == c2 || len(c1) != 32 {
		t.Fatalf("key checks %q and %q: want 32 hex digits, different per key", c1, c2)
	}
	for _, use := range []Use{UseSecrets, UseSessions, UseTokens} {
		k, _ := Key(key(1), use)
		if strings.Contains(hex.EncodeToString(k), c1) || strings.Contains(c1, hex.EncodeToString(k[:4])) {
			t.Errorf("the key check shows part of the %q key", use)
		}
	}
	b, _ := New(key(2), key(1))
	if b.KeyCheck() != c2 {
		t.Errorf("KeyCheck() = %q, want the primary's %q", b.KeyCheck(), c2)
	}
	if !b.HasKey(c1) || !b.HasKey(c2) || b.HasKey(c3) {
		t.Errorf("HasKey: primary %v, previous %v, unrelated %v; want true, true, false", b.HasKey(c2), b.HasKey(c1), b.HasKey(c3))
	}
}
