package exporter

import (
	"strconv"
	"strings"

	"github.com/blobmark/blobmark"
)

// Format says what one exported object holds. It is a storage setting
// (export_format) because Label Studio has two incompatible layouts and
// existing consumers expect one or the other.
type Format string

const (
	// FormatAnnotation writes one JSON object per annotation, named after
	// the annotation id: Label Studio's default (and historical) layout.
	FormatAnnotation Format = "annotation"
	// FormatTask writes one JSON object per task holding all its
	// annotations, named after the task id: Label Studio's newer layout.
	FormatTask Format = "task"
)

// Valid reports whether f is one of the two formats, so the API can reject
// an unknown export_format instead of silently picking one.
func (f Format) Valid() bool { return f == FormatAnnotation || f == FormatTask }

// DefaultFileExtension returns whether object names end in ".json" when the
// storage does not say: off in annotation mode and on in task mode, which is
// what Label Studio writes, so existing consumers find the same names.
func DefaultFileExtension(f Format) bool { return f == FormatTask }

// ObjectKey returns the blob name an annotation (FormatAnnotation) or a task
// (FormatTask) is exported to. Unlike Label Studio, which concatenates
// "prefix/key" and so writes "a//1" for the prefix "a/", the prefix is
// normalised first: leading and trailing slashes are dropped and runs of
// slashes collapse to one, so every prefix spelling of the same folder gives
// the same names. taskID is ignored in annotation mode and annotationID in
// task mode.
func ObjectKey(prefix string, format Format, annotationID, taskID int64, fileExtension bool) string {
	var name string
	if format == FormatTask {
		name = strconv.FormatInt(taskID, 10)
	} else {
		name = strconv.FormatInt(annotationID, 10)
	}
	if fileExtension {
		name += ".json"
	}
	return joinPrefix(prefix, name)
}

// joinPrefix puts name under the normalised prefix (see ObjectKey).
func joinPrefix(prefix, name string) string {
	var b strings.Builder
	for part := range strings.SplitSeq(prefix, "/") {
		if part == "" {
			continue
		}
		b.WriteString(part)
		b.WriteByte('/')
	}
	b.WriteString(name)
	return b.String()
}

// StorageOf returns the exporter's settings of a stored target storage,
// with the format's default file extension applied.
func StorageOf(s *blobmark.TargetStorage) Storage {
	f := Format(s.ExportFormat)
	if f == "" {
		f = FormatAnnotation
	}
	ext := DefaultFileExtension(f)
	if s.FileExtension != nil {
		ext = *s.FileExtension
	}
	return Storage{ID: s.ID, ProjectID: s.ProjectID, Prefix: s.Prefix, Format: f,
		FileExtension: ext, CanDeleteObjects: s.CanDeleteObjects, KeyTemplate: s.KeyTemplate}
}
