// Package dns owns the embedded DNS server that serves at 127.0.0.11 inside
// a container's network namespace on user-defined networks: it answers A
// and AAAA queries for the names and aliases of containers on the same
// networks (through a lookup function the network manager provides) and
// forwards everything else to the upstream resolvers. Its sockets are
// created inside the container's namespace but served from the daemon:
// queries to the host's resolvers leave from the host's namespace, which
// is what lets a host-loopback stub resolver such as 127.0.0.53 keep
// working, while queries to --dns servers leave from the container's own
// namespace, as dockerd sends them (such a server may live on one of the
// container's networks).
package dns
