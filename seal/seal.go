// Package seal encrypts the storage secrets blobmark keeps at rest (account
// keys, SAS tokens, client secrets, certificates) with AES-256-GCM under a
// server key, so a copy of the database alone reveals none of them.
//
// A sealed value names the key that sealed it ("v1:<key id>:<base64>"), which
// is what makes key rotation possible: configure the new key as primary and
// the old one as previous, values sealed under either open, and every write
// seals under the primary.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the length of a server key in bytes (AES-256).
const KeySize = 32

// KeyFileName is the file, in the data directory, that holds a generated key.
const KeyFileName = "secret.key"

const prefix = "v1:"

// Box seals under one primary key and opens under the primary or any previous key.
type Box struct {
	primary  keyed
	previous []keyed
}

type keyed struct {
	id   string
	aead cipher.AEAD
}

// New returns a Box sealing under primary and also opening values sealed
// under any of previous. Keys are KeySize raw bytes.
func New(primary []byte, previous ...[]byte) (*Box, error) {
	p, err := newKeyed(primary)
	if err != nil {
		return nil, err
	}
	b := &Box{primary: p}
	for _, k := range previous {
		kk, err := newKeyed(k)
		if err != nil {
			return nil, err
		}
		b.previous = append(b.previous, kk)
	}
	return b, nil
}

func newKeyed(key []byte) (keyed, error) {
	if len(key) != KeySize {
		return keyed{}, fmt.Errorf("secret key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return keyed{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return keyed{}, err
	}
	sum := sha256.Sum256(key)
	return keyed{id: hex.EncodeToString(sum[:4]), aead: aead}, nil
}

// Seal encrypts plaintext under the primary key. An empty plaintext seals to
// "", so "no secret" stays distinguishable without decrypting.
func (b *Box) Seal(plaintext string) (string, error) {
	if plaintext == "" {
		return "", nil
	}
	nonce := make([]byte, b.primary.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	ct := b.primary.aead.Seal(nonce, nonce, []byte(plaintext), nil)
	return prefix + b.primary.id + ":" + base64.RawURLEncoding.EncodeToString(ct), nil
}

// Open decrypts a value made by Seal under the primary or a previous key.
func (b *Box) Open(sealed string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	rest, ok := strings.CutPrefix(sealed, prefix)
	id, body, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 {
		return "", errors.New("sealed secret has an unknown format")
	}
	ct, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return "", errors.New("sealed secret is not valid base64")
	}
	for _, k := range append([]keyed{b.primary}, b.previous...) {
		if k.id != id {
			continue
		}
		n := k.aead.NonceSize()
		if len(ct) < n {
			return "", errors.New("sealed secret is truncated")
		}
		pt, err := k.aead.Open(nil, ct[:n], ct[n:], nil)
		if err != nil {
			return "", errors.New("sealed secret failed authentication (wrong key or tampered value)")
		}
		return string(pt), nil
	}
	return "", fmt.Errorf("sealed secret was made with key %s, which is neither the current secret key nor a previous one", id)
}

// NeedsReseal reports whether sealed was made under a key other than the
// primary, so a rotation can re-encrypt it.
func (b *Box) NeedsReseal(sealed string) bool {
	return sealed != "" && !strings.HasPrefix(sealed, prefix+b.primary.id+":")
}

// DecodeKey parses a key given in configuration: base64 (standard or URL,
// padded or not) or hex of KeySize bytes.
func DecodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, dec := range []func(string) ([]byte, error){
		base64.StdEncoding.DecodeString, base64.RawStdEncoding.DecodeString,
		base64.URLEncoding.DecodeString, base64.RawURLEncoding.DecodeString, hex.DecodeString,
	} {
		if k, err := dec(s); err == nil && len(k) == KeySize {
			return k, nil
		}
	}
	return nil, fmt.Errorf("secret key must be %d bytes as base64 or hex", KeySize)
}

// LoadOrCreateKey reads the key file in dir, creating it with a random key
// and 0600 permissions on first start. A key file readable by others is
// refused, since anyone who reads it can decrypt every stored secret.
func LoadOrCreateKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, KeyFileName)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		key := make([]byte, KeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, err
		}
		if _, err := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
			f.Close()
			return nil, err
		}
		return key, f.Close()
	} else if err != nil {
		return nil, err
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable by other users (mode %v); run chmod 600 on it", path, st.Mode().Perm())
	}
	return DecodeKey(string(data))
}
