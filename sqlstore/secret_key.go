package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/blobmark/blobmark"
)

// errSecretKeyMismatch is why a process whose server key is not the one the
// database's secrets are sealed with is refused. It names the options,
// because the fix is always in the process's configuration.
var errSecretKeyMismatch = blobmark.Errorf(blobmark.EINVALID,
	"the secret key does not match the one this database's secrets are sealed with: start every replica with the same "+
		"--secret-key (BLOBMARK_SECRET_KEY), not a key each generates into its data directory; after a rotation, give "+
		"the new key as --secret-key and the old one in --secret-key-previous")

// checkSecretKey makes every process that shares the database seal with
// one server key. The first to open it records its key check value; a
// later one whose primary key has another value starts only if one of its
// keys has the recorded value — it is then the new key of a rotation, and
// its value replaces the recorded one — and is refused otherwise. Replicas
// with different keys would otherwise each serve the storages the other
// sealed with a 500.
func (db *DB) checkSecretKey(ctx context.Context) error {
	want := db.secrets.KeyCheck()
	// Two processes may start at once: the insert and the rotation update
	// each take effect only if the row is still as read, and the loop reads
	// the outcome again. Three rounds settle any such race.
	for range 3 {
		var stored string
		err := db.write.QueryRowContext(ctx, "SELECT check_value FROM secret_key_check WHERE id = 1").Scan(&stored)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = db.write.ExecContext(ctx, db.rebind(
				"INSERT INTO secret_key_check (id, check_value) VALUES (1, ?) ON CONFLICT (id) DO NOTHING"), want)
		case err != nil:
		case stored == want:
			return nil
		case db.secrets.HasKey(stored):
			if _, err = db.write.ExecContext(ctx, db.rebind(
				"UPDATE secret_key_check SET check_value = ? WHERE id = 1 AND check_value = ?"), want, stored); err == nil {
				db.logger.InfoContext(ctx, "recorded the new secret key after a rotation; secrets sealed under the previous key still open")
			}
		default:
			return errSecretKeyMismatch
		}
		if err != nil {
			return wrapUnavailable("check the secret key", err)
		}
	}
	return blobmark.Errorf(blobmark.ECONFLICT, "the recorded secret key kept changing while this process started: "+
		"do replicas disagree on --secret-key and --secret-key-previous?")
}
