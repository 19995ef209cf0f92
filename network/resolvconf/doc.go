// Package resolvconf builds a container's /etc/resolv.conf from the host's
// as dockerd does: --dns, --dns-search and --dns-option override the host's
// values; a container using the embedded DNS server gets nameserver
// 127.0.0.11 and the real servers become the resolver's upstreams; host
// loopback servers (a 127.0.0.x stub such as systemd-resolved's) cannot be
// reached from a container's namespace and are dropped, or forwarded by
// the embedded resolver from the host's namespace. Everything here is a
// pure function of its inputs, except HostPath which looks at the host.
package resolvconf
