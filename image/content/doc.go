// Package content owns the content-addressed blob store, under
// ROOT/blobs/<algorithm>/<hex>. It holds image configs only: the image
// service removes at start every blob no image record names (see
// image.Service), so a new kind of blob needs that clean-up taught first.
//
// A blob is written to ROOT/ingest first, verified against the digest it
// claims, fsynced and renamed into place, so a reader never sees a partial
// or wrong blob and a crash leaves at most a stale ingest file, which New's
// Cleanup removes.
package content
