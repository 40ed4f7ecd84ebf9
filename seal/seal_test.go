package seal

import (
	"bytes"
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
	if !rotated.NeedsReseal(sealedOld) {
		t.Error("old value not reported as needing a reseal")
	}
	sealedNew, _ := rotated.Seal("s")
	if rotated.NeedsReseal(sealedNew) {
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
