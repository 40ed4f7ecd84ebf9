// Package benchkit holds what every benchmark program under bench/ needs:
// a plain-HTTP Azurite to measure against, clean-up that runs even when a
// benchmark fails, percentiles and the process's peak memory. Benchmarks
// print numbers; nothing here judges them.
//
// It may import any blobmark package; only the programs under bench/ import
// it.
package benchkit
