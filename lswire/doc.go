// Package lswire is Label Studio's wire, both ways, defined once.
//
// Out: its task, annotation, prediction and annotator as its serializers
// write them (the fields, their names, their empty values and each
// serializer's key order), for the REST API (httpapi), and the export
// objects built from them (AnnotationJSON, TaskJSON) for the exports
// (exporter).
//
// In: its import format, defined once for the REST API's imports (httpapi)
// and the storage sync's task files (importer): a request body or task file
// of one JSON object, a JSON array of objects or JSON lines is read as a
// stream (TaskReader), and each task is checked and turned into a task to
// import by the same rules (ParseTask), with errors that say what is wrong
// and leave where the task is to each caller (TaskError). ParseTaskFile
// does both for a task file.
//
// It imports only the standard library and the domain package.
package lswire
