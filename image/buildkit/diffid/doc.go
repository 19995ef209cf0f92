// Package diffid owns the diff ID that berth records on BuildKit's cache
// records: the digest of a layer's uncompressed tar, which names the layer
// in berth's layer store. The image source records it on the layers it
// brings from berth, and the moby exporter on the layers it diffs itself;
// either way an export that finds it knows the layer's place in berth's
// store (its chain ID) without asking BuildKit to compute a blob.
package diffid
