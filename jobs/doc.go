// Package jobs holds blobmark's River workers. Job argument types live in the
// root package, so the store can enqueue them without importing River's
// workers, and the workers call the store only through the small interfaces
// declared here.
//
// It imports River, the domain package, the engines its workers run
// (importer, exporter) and egress; never the store nor the Azure connector,
// which the workers reach only through the interfaces declared here
// (SourceOpener, EventSourceOpener, UploaderOpener: the server wires the
// azureblob values that implement them), nor the HTTP API.
package jobs
