// Package storetest is the one conformance suite every blobmark store must
// pass. It speaks only the root service interfaces, so the SQLite and the
// PostgreSQL store (and any future one) are held to the same behaviour, the
// way River's riverdrivertest holds its drivers.
//
// It imports only the standard library and the domain package.
package storetest
