// Package seal keeps blobmark's server key and what is derived from it.
//
// The server key is the one secret an operator configures (--secret-key) or
// blobmark generates into its data directory. It is never used directly:
// each use gets its own key, derived with HKDF-SHA256 under a label of its
// own (Key), so that a key that leaks or is misused in one place cannot
// stand in for another. A cookie cannot be signed with the key that seals
// storage secrets, and a secret cannot be sealed with the key that signs
// cookies.
//
// A Box encrypts the storage secrets blobmark keeps at rest (account keys,
// SAS tokens, client secrets, certificates) with AES-256-GCM under the key
// derived for that, so a copy of the database alone reveals none of them.
// A sealed value names the key that sealed it ("v2:<key id>:<base64>"),
// which is what makes key rotation possible: configure the new key as
// primary and the old one as previous, values sealed under either open, and
// every write seals under the primary. Values that versions before the key
// separation sealed under the server key itself ("v1:…") still open.
//
// It imports only the standard library.
package seal
