package lswire

import (
	"github.com/blobmark/blobmark"
)

// The functions below pick the shapes each export writes. The output is a
// pure function of the state, which lets the exporter skip uploads whose
// content did not change.

// AnnotationJSON returns the object Label Studio writes to a target storage
// for one annotation in annotation mode, so tools written against Label
// Studio's bucket layout read blobmark's unchanged. task is the annotation's
// task with its data as clients see it (the $undefined$ placeholder already
// renamed); user is the annotator, or nil when unknown, in which case
// completed_by carries the id alone (and is null when there is no id).
//
// created_ago is written empty: Label Studio fills it with the time elapsed
// since creation ("3 hours"), which would change the bytes every time and
// defeat skipping identical uploads; it is a display field. updated_by is
// null because blobmark does not record who last edited an annotation.
func AnnotationJSON(a *blobmark.Annotation, task *blobmark.Task, user *blobmark.User) ([]byte, error) {
	if a == nil || task == nil {
		return nil, blobmark.Errorf(blobmark.EINTERNAL, "annotation export needs the annotation and its task")
	}
	fields := NewAnnotation(a)
	fields.CreatedUsername = CreatedUsername(a.CompletedBy, user)
	nested := struct {
		CompletedBy *User `json:"completed_by"`
		Task        Task  `json:"task"`
	}{NewUser(a.CompletedBy, user), NewTask(task)}
	return encode(StorageAnnotationKeys, fields, nested)
}

// TaskJSON returns one task as an item of Label Studio's JSON export, the
// object written per task in task mode and the element type of the project
// export. users maps annotator ids to users; a missing user leaves only the
// id in completed_by. Annotations and predictions are written in id order
// whatever order they come in, so the bytes depend on the state only.
func TaskJSON(task *blobmark.Task, annotations []*blobmark.Annotation, predictions []*blobmark.Prediction, users map[int64]*blobmark.User) ([]byte, error) {
	return AppendTaskJSON(nil, task, annotations, predictions, users)
}

// encode writes parts as one object in the order of keys (Encode), with
// its error as an export reports it.
func encode(keys []string, parts ...any) ([]byte, error) {
	b, err := Encode(keys, parts...)
	if err != nil {
		return nil, &blobmark.Error{Code: blobmark.EINTERNAL, Message: "cannot serialize export object", Err: err}
	}
	return b, nil
}
