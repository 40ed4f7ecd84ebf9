package exporter

// Change is what happened to an annotation that target storages export.
type Change int

// The changes an annotation write makes.
const (
	// Saved is a created or updated annotation.
	Saved Change = iota
	// Deleted is a deleted annotation.
	Deleted
)

// Wants is the export policy: whether a target storage of format, which
// may or may not delete objects, gets an export job for a change. Every
// save is exported. A deletion changes the container only where the
// storage deletes its objects, or writes one object per task (rewritten
// without the annotation). The store asks it in the transaction of the
// write, so that a write is never saved without its jobs.
func Wants(format Format, canDelete bool, change Change) bool {
	return change == Saved || format == FormatTask || canDelete
}
