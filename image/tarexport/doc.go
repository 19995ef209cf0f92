// Package tarexport owns the image archive formats: `docker save` /
// `docker load` archives (manifest.json with the legacy repositories file)
// and OCI image layouts (index.json, blobs/), plain or compressed.
//
// Load streams the archive once. Large entries that look like layers are
// unpacked straight into pending layers of the layer store while their
// digests are computed; small entries (configs, manifests, small layers)
// are kept in memory until the manifest says what they are. Every layer's
// diff ID is checked against the image config and, for OCI layouts, every
// blob against its descriptor, before anything is committed; a bad archive
// leaves the stores as they were. Each image is registered with its names
// in one step (see image.Service.RegisterNamed), so a daemon killed during
// a load comes back with the whole named image or none of it; layers a
// killed load committed are removed by the next start.
//
// Load reports to an Output: dockerd's per-layer "Loading layer" progress
// while a layer streams (its ID is the blob's short digest, the diff ID
// for the uncompressed layers docker save writes), and the "Loaded image"
// lines.
//
// Save writes what dockerd 25+ writes: an OCI layout with uncompressed
// layers that also carries manifest.json and repositories, so both old and
// new loaders read it. Layers are rebuilt byte for byte from the layer
// store (see image/unpack), so a save then load keeps every ID.
package tarexport
