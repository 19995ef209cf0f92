// Package content owns the content-addressed blob store: image configs,
// manifests and any other blob berth keeps by digest, under
// ROOT/blobs/<algorithm>/<hex>.
//
// A blob is written to ROOT/ingest first, verified against the digest it
// claims, fsynced and renamed into place, so a reader never sees a partial
// or wrong blob and a crash leaves at most a stale ingest file, which New's
// Cleanup removes.
package content
