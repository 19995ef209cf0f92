// Package plugin holds the end-to-end tests of managed plugins (`docker
// plugin create/enable/disable/set/rm`) against a berthd started for the
// package: a volume driver plugin built from testdata/volplugin runs in
// its own root, serves its socket through the engine, and its volumes
// reach containers through its propagated mount. Push and install through
// a registry are tested in integration/registry, beside its registry.
package plugin
