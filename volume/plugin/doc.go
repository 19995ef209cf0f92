// Package plugin speaks Docker's v1 plugin protocol: it finds a plugin by
// name (a socket NAME.sock in the socket directories, or a NAME.spec /
// NAME.json file in the spec directories), activates it
// (Plugin.Activate), and adapts a VolumeDriver plugin to volume.Driver
// (VolumeDriver.Create/Remove/Mount/Unmount/Path/Get/List/Capabilities).
//
// The directories are fields of Registry so that tests can serve plugins
// from private directories; the defaults are dockerd's.
package plugin
