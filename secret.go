package blobmark

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
)

// Redacted is what a secret shows instead of its value wherever it is
// printed, encoded or logged.
const Redacted = "[redacted]"

// Secret is a credential value (an account key, a SAS token, a client
// secret, …). It prints, encodes and logs as Redacted, so that a struct
// carrying one can be logged or marshalled without leaking it; the value
// comes out only through Reveal, which the code that builds a credential
// or seals the value at rest calls by name. An empty Secret shows as
// empty: that no secret is set is not itself a secret.
//
// fmt cannot call methods on unexported struct fields, so a Secret kept
// in one is only protected while nobody prints that struct with fmt.
type Secret string

// Reveal returns the secret's plain text. Call it only where the value is
// used as a credential or sealed, never to log or return it.
func (s Secret) Reveal() string { return string(s) }

// String makes %v, %s and %q (and so %+v of any struct holding s) print
// Redacted.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// GoString makes %#v print Redacted, quoted like the string it stands for.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// Format applies every fmt verb, flag and width to the redacted form:
// without it a verb fmt does not pass to String (%d, say) would print the
// value in its error text.
func (s Secret) Format(f fmt.State, verb rune) { fmt.Fprintf(f, fmt.FormatString(f, verb), s.String()) }

// MarshalText makes encoding/json (as object value or map value) and every
// other text encoder write Redacted. A Secret is sealed at rest through
// Reveal, never through an encoder.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue keeps the value out of slog records, whatever the handler.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Secrets holds a storage's secret connection fields by their API names
// (the fields ConnectionSchema marks Secret). Its values are Secrets, so
// printing, encoding or logging the map shows the names and never the
// values.
type Secrets map[string]Secret

// LogValue logs the map as a group of its field names, sorted, each with
// its redacted value.
func (s Secrets) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, len(s))
	for _, k := range slices.Sorted(maps.Keys(s)) {
		attrs = append(attrs, slog.String(k, s[k].String()))
	}
	return slog.GroupValue(attrs...)
}
