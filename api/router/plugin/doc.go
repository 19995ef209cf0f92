// Package plugin routes the Engine API's managed-plugin endpoints
// (/plugins...): list, inspect, enable, disable, set, push, remove, and the
// registry-backed pull, upgrade, privileges and create. berth has no
// managed-plugin store yet, so the daemon answers them as dockerd does with
// an empty one; clients (and moby's test suite) list plugins during set-up.
package plugin
