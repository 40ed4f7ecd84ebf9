package httpapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/blobmark/blobmark"
)

// This file holds what the source and target storage handlers share: the
// connection fields of a body, write-only secrets, and the sync state
// fields of an answer.

// connectionInput is the connection part of a storage body: the fields it
// sets (an explicit null or "" clears a non-secret field) and the secrets
// it gives.
type connectionInput struct {
	Connection blobmark.Connection // non-secret fields present in the body
	Secrets    blobmark.Secrets    // secret fields present with a value
	Present    map[string]bool     // every connection field the body names
}

// isSecretField reports whether name is a write-only connection field.
func isSecretField(name string) bool { return slices.Contains(blobmark.SecretConnectionFields, name) }

// decodeConnection reads the connection fields of a storage body. Each must
// be a string or null; every problem is reported at once.
func decodeConnection(body map[string]json.RawMessage) (connectionInput, error) {
	in := connectionInput{Connection: blobmark.Connection{}, Secrets: blobmark.Secrets{}, Present: map[string]bool{}}
	v := validation{}
	names := append(slices.Clone(blobmark.ConnectionFields), blobmark.SecretConnectionFields...)
	for _, name := range names {
		raw, ok := body[name]
		if !ok {
			continue
		}
		var val *string
		if err := json.Unmarshal(raw, &val); err != nil {
			v.add(name, "Not a valid string.")
			continue
		}
		in.Present[name] = true
		s := ""
		if val != nil {
			s = *val
		}
		if isSecretField(name) {
			if s != "" {
				in.Secrets[name] = blobmark.Secret(s)
			}
		} else {
			in.Connection[name] = s
		}
	}
	return in, v.err()
}

// mergeConnection applies a PATCH's connection input to the stored
// connection and secrets. A secret the body omits (or sends empty) keeps
// its stored value, because secrets are never shown and so a client cannot
// send them back; changing auth_type from one explicit type to another
// drops the stored secrets, which belong to the old credential.
//
// A stored secret is bound to the destination it was entered for: a body
// that changes a field the schema marks Destination (the service endpoint,
// the Entra ID authority) must carry every stored secret again, or it is refused naming each one. Otherwise anyone allowed to edit
// a storage could point it at their own host and have the server send the
// secret there.
func mergeConnection(conn blobmark.Connection, secrets blobmark.Secrets, in connectionInput) (blobmark.Connection, blobmark.Secrets, error) {
	outConn := blobmark.Connection{}
	for k, v := range conn {
		outConn[k] = v
	}
	for k, v := range in.Connection {
		if v == "" {
			delete(outConn, k)
		} else {
			outConn[k] = v
		}
	}
	outSecrets := blobmark.Secrets{}
	newType, oldType := in.Connection["auth_type"], conn["auth_type"]
	if !in.Present["auth_type"] || newType == "" || oldType == "" || newType == oldType {
		for k, v := range secrets {
			outSecrets[k] = v
		}
	}
	var moved []string
	for _, f := range blobmark.ConnectionSchema {
		if f.Destination && outConn[f.Name] != conn[f.Name] {
			moved = append(moved, f.Name)
		}
	}
	if len(moved) > 0 {
		v := validation{}
		for _, name := range blobmark.SecretConnectionFields {
			if _, resent := in.Secrets[name]; outSecrets[name] != "" && !resent {
				v.add(name, "%s must be sent again: %s changed, and a stored secret is only ever sent to the destination it was entered for.",
					name, strings.Join(moved, ", "))
			}
		}
		if err := v.err(); err != nil {
			return nil, nil, err
		}
	}
	for k, v := range in.Secrets {
		outSecrets[k] = v
	}
	return outConn, outSecrets, nil
}

// putConnection adds the non-secret connection fields to an answer. Every
// known field is present (null when unset), as DRF serialises every model
// field; secrets are never added.
func putConnection(out map[string]any, conn blobmark.Connection) {
	for _, name := range blobmark.ConnectionFields {
		if v, ok := conn[name]; ok && v != "" {
			out[name] = v
		} else {
			out[name] = nil
		}
	}
}

// putState adds Label Studio's sync state fields to an answer.
func putState(out map[string]any, st blobmark.StorageState) {
	status := st.Status
	if status == "" {
		status = blobmark.StatusInitialized
	}
	out["status"] = status
	out["last_sync"] = timeOrNil(st.LastSync)
	out["last_sync_count"] = st.LastSyncCount
	out["last_sync_job"] = st.LastSyncJob
	out["traceback"] = st.Traceback
	meta := st.Meta
	if len(meta) == 0 {
		meta = json.RawMessage("{}")
	}
	out["meta"] = meta
}

func timeOrNil(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// requireProjectQuery reads the project query parameter that storage lists
// require, as Label Studio does.
func requireProjectQuery(r *http.Request) (int64, error) {
	q := r.URL.Query().Get("project")
	if q == "" {
		return 0, blobmark.FieldErrorf("project", "query parameter \"project\" is required")
	}
	id, err := strconv.ParseInt(q, 10, 64)
	if err != nil || id <= 0 {
		return 0, blobmark.FieldErrorf("project", "query parameter \"project\" must be a project id")
	}
	return id, nil
}

// decodeObject reads a JSON object body into its raw fields.
func (s *Server) decodeObject(r *http.Request) (map[string]json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	if err := s.decodeJSON(r, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// field decodes body[name] into dst when present and not null, recording a
// type error in v; it reports whether the field was set.
func field[T any](body map[string]json.RawMessage, name string, dst *T, v validation, what string) bool {
	raw, ok := body[name]
	if !ok || string(raw) == "null" {
		return false
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		v.add(name, "Must be a valid %s.", what)
		return false
	}
	return true
}
