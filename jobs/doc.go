// Package jobs holds blobmark's River workers. Job argument types live in the
// root package, so the store can enqueue them without importing River's
// workers, and the workers call the store only through the small interfaces
// declared here.
//
// It imports River, the domain package, the engines its workers run
// (importer, exporter), the Azure connector they read and write through
// (azureblob) and egress; never the store, which the workers call only
// through the interfaces declared here, nor the HTTP API.
package jobs
