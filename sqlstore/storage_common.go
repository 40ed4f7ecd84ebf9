package sqlstore

import (
	"database/sql"
	"encoding/json"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/seal"
)

// This file holds what source and target storages share in the store: the
// connection and secret columns, and the Label Studio sync state columns.

// secretBox returns the box that seals and opens secrets. A store opened
// without one (the command-line tools, which never touch secrets) refuses
// both rather than make up a key of its own that no other process shares.
func (db *core) secretBox() (*seal.Box, error) {
	if db.secrets == nil {
		return nil, blobmark.Errorf(blobmark.EINTERNAL, "no secret key is configured: secrets can be neither sealed nor opened")
	}
	return db.secrets, nil
}

// connectionJSON encodes the non-secret connection fields as stored.
func connectionJSON(c blobmark.Connection) (string, error) {
	if len(c) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(c)
	return string(b), err
}

// parseConnection decodes a stored connection column.
func parseConnection(s string) (blobmark.Connection, error) {
	c := blobmark.Connection{}
	if s == "" {
		return c, nil
	}
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		return nil, wrapInternal("decode connection", err)
	}
	return c, nil
}

// keyListJSON encodes a metadata_keys or tag_keys column: a JSON array,
// [] for none.
func keyListJSON(keys []string) string {
	if len(keys) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(keys) // a slice of strings always encodes
	return string(b)
}

// parseKeyList decodes a metadata_keys or tag_keys column; none is nil.
func parseKeyList(s string) ([]string, error) {
	var keys []string
	if err := json.Unmarshal([]byte(s), &keys); err != nil {
		return nil, wrapInternal("decode key list", err)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	return keys, nil
}

// sealSecrets seals a storage's secret fields as one JSON object of their
// plain text; no secret at all is stored as "". The values are revealed
// into that object only, since a Secret encodes as a redaction marker.
func (db *core) sealSecrets(secrets blobmark.Secrets) (string, error) {
	plain := map[string]string{}
	for k, v := range secrets {
		if v != "" {
			plain[k] = v.Reveal()
		}
	}
	if len(plain) == 0 {
		return "", nil
	}
	box, err := db.secretBox()
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(plain)
	if err != nil {
		return "", wrapInternal("encode secrets", err)
	}
	sealed, err := box.Seal(string(b))
	if err != nil {
		return "", wrapInternal("seal secrets", err)
	}
	return sealed, nil
}

// openSecrets opens a column written by sealSecrets.
func (db *core) openSecrets(sealed string) (blobmark.Secrets, error) {
	out := blobmark.Secrets{}
	if sealed == "" {
		return out, nil
	}
	box, err := db.secretBox()
	if err != nil {
		return nil, err
	}
	plain, err := box.Open(sealed)
	if err != nil {
		// The message names the likely cause, never the value.
		return nil, &blobmark.Error{Code: blobmark.EINTERNAL,
			Message: "cannot decrypt the storage's secrets: was the secret key changed without keeping the old one in --secret-key-previous?", Err: err}
	}
	if err := json.Unmarshal([]byte(plain), &out); err != nil {
		return nil, wrapInternal("decode secrets", err)
	}
	return out, nil
}

// stateColumns are the Label Studio sync state columns, in scanState order.
const stateColumns = "status, last_sync, last_sync_count, last_sync_job, traceback, meta"

// stateScan holds the destinations of stateColumns for one row.
type stateScan struct {
	status    string
	lastSync  sql.Null[timeValue]
	count     sql.NullInt64
	job       sql.NullString
	traceback sql.NullString
	meta      string
}

// dest returns the scan destinations, in stateColumns order.
func (s *stateScan) dest() []any {
	return []any{&s.status, &s.lastSync, &s.count, &s.job, &s.traceback, &s.meta}
}

// state converts the scanned columns.
func (s *stateScan) state() blobmark.StorageState {
	st := blobmark.StorageState{Status: s.status, Meta: json.RawMessage(s.meta)}
	if s.lastSync.Valid {
		t := s.lastSync.V.Time
		st.LastSync = &t
	}
	if s.count.Valid {
		n := int(s.count.Int64)
		st.LastSyncCount = &n
	}
	if s.job.Valid {
		j := s.job.String
		st.LastSyncJob = &j
	}
	if s.traceback.Valid {
		tb := s.traceback.String
		st.Traceback = &tb
	}
	if len(st.Meta) == 0 {
		st.Meta = json.RawMessage("{}")
	}
	return st
}

// mergeMeta returns old (a JSON object) with the keys of add set.
func mergeMeta(old string, add map[string]any) (string, error) {
	m := map[string]any{}
	if old != "" {
		_ = json.Unmarshal([]byte(old), &m)
	}
	for k, v := range add {
		m[k] = v
	}
	b, err := json.Marshal(m)
	return string(b), err
}

// active reports whether a status means a sync is queued or running.
func active(status string) bool {
	return status == blobmark.StatusQueued || status == blobmark.StatusInProgress
}
