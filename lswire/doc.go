// Package lswire is Label Studio's wire, both ways, defined once.
//
// Out: its task, annotation, prediction and annotator as its serializers
// write them (the fields, their names, their empty values and each
// serializer's key order), for the REST API (httpapi), and the export
// objects built from them (AnnotationJSON, TaskJSON) for the exports
// (exporter).
//
// In: its import format, a task file or request body of one JSON object, a
// JSON array of objects or JSON lines, read as a stream (TaskReader) and
// turned into tasks (ParseTaskFile) for the storage sync (importer); the
// REST API reads its imports with the same TaskReader.
//
// It imports only the standard library and the domain package.
package lswire
