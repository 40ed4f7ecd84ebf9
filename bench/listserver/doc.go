// Package listserver is a synthetic Azure Blob List Blobs server for scale
// benchmarks. Azurite keeps every blob in memory and lists a few thousand
// per second, so it cannot hold the million-key containers the sync
// benchmarks need; this server generates N deterministic names on the fly
// and stores none of them, so its memory is O(page) and its speed is far
// above the client's, leaving the benchmark to measure blobmark's overhead.
//
// It speaks the part of the Blob REST API a sync uses: List Blobs (flat or
// with a delimiter; prefix, marker, maxresults), Filter Blobs on the
// container (see ParityTag), Get Container Properties and Get Blob, path-style (/{account}/{container}) like Azurite. Every
// blob's content is a one-task JSON file naming the blob, so Tasks-mode
// syncs read it too, and Get Blob can be made to wait like a remote service
// does. With WithDirectories it lists like an account with a hierarchical
// namespace (Data Lake Storage Gen2), directories included. It does not
// verify signatures, so any shared-key or anonymous client works.
//
// It imports only the standard library.
package listserver
