package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
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

// Use names what a key derived from the server key is for; it is the HKDF
// label, so each use gets a key of its own.
type Use string

// The uses of the server key. Changing a label changes the key of that use:
// sealed values would no longer open, or sessions would end.
const (
	// UseSecrets seals storage and webhook secrets at rest.
	UseSecrets Use = "blobmark storage secrets v2"
	// UseSessions signs session cookies and CSRF tokens.
	UseSessions Use = "blobmark session cookies v2"
	// UseTokens signs personal access tokens and their access tokens.
	UseTokens Use = "blobmark personal access tokens v1"
	// UseKeyCheck makes the key check value (KeyCheck).
	UseKeyCheck Use = "blobmark key check v1"
)

// Key derives the key for use from a server key.
func Key(secret []byte, use Use) ([]byte, error) {
	if len(secret) != KeySize {
		return nil, fmt.Errorf("secret key must be %d bytes, got %d", KeySize, len(secret))
	}
	return hkdf.Key(sha256.New, secret, nil, string(use), KeySize)
}

// KeyCheck returns the key check value of a server key: 16 bytes, in hex,
// derived under their own label. Recorded in the database, it lets a
// process tell whether it holds the key the stored secrets were sealed
// with, without decrypting any of them; it reveals neither the key nor any
// key derived for another use.
func KeyCheck(secret []byte) (string, error) {
	k, err := Key(secret, UseKeyCheck)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(k[:16]), nil
}

// The formats of a sealed value, by prefix.
const (
	// sealedV2 is sealed under Key(server key, UseSecrets).
	sealedV2 = "v2"
	// sealedV1 is sealed under the server key itself, as versions before
	// the key separation did; such values are opened, never made.
	sealedV1 = "v1"
)

// Box seals under one primary key and opens under the primary or any previous key.
type Box struct {
	primary  keyed
	previous []keyed
}

// keyed is one server key, ready to seal and open.
type keyed struct {
	check string      // KeyCheck of the server key
	id    string      // names the key in the values it seals: the start of check
	aead  cipher.AEAD // under Key(server key, UseSecrets)
	// v1ID and v1 open the values earlier versions sealed under the server
	// key itself; v1ID is how those values name it.
	v1ID string
	v1   cipher.AEAD
}

// New returns a Box sealing under the primary server key and also opening
// values sealed under any of previous. Keys are KeySize raw bytes.
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

func newKeyed(secret []byte) (keyed, error) {
	check, err := KeyCheck(secret)
	if err != nil {
		return keyed{}, err
	}
	sealing, err := Key(secret, UseSecrets)
	if err != nil {
		return keyed{}, err
	}
	aead, err := newAEAD(sealing)
	if err != nil {
		return keyed{}, err
	}
	v1, err := newAEAD(secret)
	if err != nil {
		return keyed{}, err
	}
	sum := sha256.Sum256(secret)
	return keyed{check: check, id: check[:8], aead: aead, v1ID: hex.EncodeToString(sum[:4]), v1: v1}, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// KeyCheck returns the key check value of the primary key.
func (b *Box) KeyCheck() string { return b.primary.check }

// HasKey reports whether check is the key check value of the primary key
// or of a previous one.
func (b *Box) HasKey(check string) bool {
	for _, k := range b.keys() {
		if k.check == check {
			return true
		}
	}
	return false
}

func (b *Box) keys() []keyed { return append([]keyed{b.primary}, b.previous...) }

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
	return sealedV2 + ":" + b.primary.id + ":" + base64.RawURLEncoding.EncodeToString(ct), nil
}

// Open decrypts a value made by Seal under the primary or a previous key,
// or one an earlier version sealed under either key itself.
func (b *Box) Open(sealed string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	version, rest, ok := strings.Cut(sealed, ":")
	id, body, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || (version != sealedV1 && version != sealedV2) {
		return "", errors.New("sealed secret has an unknown format")
	}
	ct, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return "", errors.New("sealed secret is not valid base64")
	}
	for _, k := range b.keys() {
		aead := k.aead
		if version == sealedV1 {
			if k.v1ID != id {
				continue
			}
			aead = k.v1
		} else if k.id != id {
			continue
		}
		n := aead.NonceSize()
		if len(ct) < n {
			return "", errors.New("sealed secret is truncated")
		}
		pt, err := aead.Open(nil, ct[:n], ct[n:], nil)
		if err != nil {
			return "", errors.New("sealed secret failed authentication (wrong key or tampered value)")
		}
		return string(pt), nil
	}
	return "", fmt.Errorf("sealed secret was made with key %s, which is neither the current secret key nor a previous one", id)
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
