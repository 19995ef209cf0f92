// Package layer owns the overlay2 layer store: each layer of each image,
// unpacked once into a directory named by its chain ID, shared by every
// image whose diff-ID chain starts with it.
//
// On disk, under ROOT:
//
//	<chain hex>/diff/            the layer's files, overlay-ready (whiteouts
//	                             are 0/0 char devices, opaque dirs carry
//	                             trusted.overlay.opaque=y)
//	<chain hex>/layer.json       diff ID, parent chain ID, sizes, short link
//	<chain hex>/tar-record.gz    the record that rebuilds the exact layer tar
//	holds/<owner>                a chain ID held by a container (or any
//	                             other owner) across daemon restarts
//	l/<link>                     symlink to ../<chain hex>/diff: a 26-byte
//	                             alias, so that the lowerdir option of a
//	                             120-layer image fits in the one page the
//	                             kernel takes for mount options (dockerd's
//	                             overlay2 layout); MountOverlay mounts
//	                             with these from ROOT
//	tmp/                         layers being unpacked or removed
//
// A layer is unpacked into tmp/, made durable (syncfs) and renamed into
// place only when complete, and removed by renaming it back into tmp/ first;
// so a crash leaves only whole layers plus litter in tmp/, which Load clears.
// An alias is made after its layer is in place and removed before it goes;
// Load recreates missing aliases and removes those without a layer.
//
// A layer's Size is counted as dockerd's overlay2 counts it (st_size of
// every non-directory in diff/, symlinks included, each inode once), so
// `docker inspect` and `docker history` show dockerd's figures.
//
// Reference counts live in memory and are rebuilt by Load from what holds
// the layers: each child layer holds its parent, each image holds its top
// layer (the image store passes the tops in), and each holds/ file holds
// its chain. Layers nothing holds after a crash (a load that died before
// its image was written) are removed by Load. Commit and Acquire take a
// reference for the caller, Release drops one and removes layers that reach
// zero, parents included.
package layer
