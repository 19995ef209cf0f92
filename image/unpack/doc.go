// Package unpack owns the conversion between a layer tar stream and an
// overlay2 layer directory, in both directions.
//
// Apply extracts an uncompressed layer tar into an empty directory with
// pkg/archive's Extract under a layer's rules:
//
//   - securely: every path is resolved with openat2(RESOLVE_BENEATH |
//     RESOLVE_NO_SYMLINKS) against the layer root and the final component is
//     created with *at calls that never follow symlinks, so no entry name,
//     symlink or hard link can write outside the directory. Names that climb
//     out of the root ("../x"), writes through a symlink and hard links to
//     targets outside the root are refused with a clear error;
//   - with OCI/AUFS whiteouts turned into overlay ones: ".wh.name" becomes a
//     0/0 character device, ".wh..wh..opq" becomes the trusted.overlay.opaque
//     xattr on its directory;
//   - keeping owners, modes, times, xattrs (SCHILY.xattr PAX records), hard
//     links, symlinks, device nodes, FIFOs and sparse files.
//
// While it extracts, Apply records the tar stream's bytes that are not file
// content (headers, PAX records, padding, trailer) in a compact "reassembly
// record", the idea of vbatts/tar-split. Reassemble replays that record,
// reading file content back from the directory, and so rebuilds the original
// tar byte for byte: a saved layer keeps its diff ID, so `docker save` then
// `docker load` gives the same image ID, without keeping a second copy of
// every layer.
//
// Decompress detects gzip, zstd and bzip2 streams by their magic bytes
// (pkg/archive's detection; xz is refused for layers).
package unpack
