// Package network tests the network API end to end through the real docker
// CLI and plain HTTP against a berthd of its own: the predefined networks,
// create/ls/inspect/rm/prune with filters and dockerd's error messages, the
// bridge devices and nftables rules each network gets, and that nothing is
// left when a network goes.
package network
