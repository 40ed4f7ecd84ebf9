// Package exporter writes annotations to a target ("export") storage in
// Label Studio's formats and names, and streams a project's JSON export.
//
// It decides what to write, under which name, and when a write can be
// skipped, through small interfaces (Source, Uploader, Recorder) that the
// store and the Azure connector implement, so the rules that make exports
// convergent are tested here without a database or a container, and the job
// layer stays a thin shell around ExportAnnotation and SyncAll.
//
// Objects are named by their ids or by a storage's key template
// (keytemplate.go), and a dataset export writes a whole project in one of
// the formats of exporter/formats as one block blob (dataset.go).
//
// The bytes of each export object are lswire's (AnnotationJSON, TaskJSON);
// it imports only the standard library, the domain package, lswire and
// exporter/formats.
package exporter
