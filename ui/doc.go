// Package ui is blobmark's web UI: plain HTML pages and small JavaScript
// modules, plus the Label Studio Frontend editor bundle, all embedded in the
// binary so it serves them with no CDN and no download at run time.
//
// The editor bundle is not in the repository: build.sh copies it from
// node_modules (installed by `npm ci` from the pinned lockfile) into
// static/vendor before `go build`; scripts/setup.sh runs it. A binary built
// without it serves every page, and the labeling page says what to run.
//
// It imports only the standard library.
package ui
