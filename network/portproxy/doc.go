// Package portproxy forwards what a published port's own host socket
// receives to the container, as dockerd's userland proxy (docker-proxy)
// does. berth publishes ports with NAT and needs it only where NAT cannot
// reach the container: connections from ::1 (IPv6 has no route_localnet,
// and the container's kernel drops packets from ::1) and IPv6 host
// addresses published for a container that has only an IPv4 address.
package portproxy
