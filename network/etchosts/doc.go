// Package etchosts builds the /etc/hosts and /etc/hostname a container
// sees, as dockerd writes them: the loopback and IPv6 multicast names, the
// --add-host entries (with "host-gateway" replaced by the daemon's host
// gateway address), and the container's own addresses under its hostname.
// Everything here is a pure function.
package etchosts
