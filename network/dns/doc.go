// Package dns owns the embedded DNS server that serves at 127.0.0.11 inside
// a container's network namespace on user-defined networks: it answers A
// and AAAA queries for the names and aliases of containers on the same
// networks (through a lookup function the network manager provides) and
// forwards everything else to the host's resolvers. Its sockets are
// created inside the container's namespace but served from the daemon, so
// forwarded queries leave from the host's namespace: that is what lets a
// host-loopback stub resolver such as 127.0.0.53 keep working.
package dns
