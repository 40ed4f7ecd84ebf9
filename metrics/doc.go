// Package metrics holds blobmark's Prometheus metrics on a private registry,
// and the small adapters that feed them: an HTTP wrapper, a River worker
// middleware, a media resolver wrapper and the sync observer. Nothing else
// in blobmark imports Prometheus; the other packages take plain callbacks
// or interfaces, and package server connects them here.
//
// It imports the domain package, Prometheus and River, and no other blobmark
// package.
package metrics
