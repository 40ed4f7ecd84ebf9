// Package httpapi serves blobmark's REST API, wire-compatible with Label
// Studio's so its SDK and scripts work unchanged: same paths (trailing
// slashes included), fields, pagination, status codes and error envelope.
//
// It imports the domain package and the packages whose rules it applies:
// media (resolve URLs and streaming), importer (task files and source
// options), lswire (Label Studio's task fields, shared with the exports),
// egress (webhook and queue targets) and ui (the embedded pages).
// It never imports a store, the Azure connector or the job workers: package
// server hands it those as the domain interfaces its fields name.
package httpapi
