// Package server assembles a blobmark server from its parts: the store, the
// Azure connector, the job workers and the HTTP API. The command, the
// end-to-end tests and the benchmarks all build blobmark here, so they run
// exactly the same wiring.
//
// It may import every blobmark package; only commands, tests and benchmarks
// import it.
package server
