// Package firewall owns berth's netfilter rules. Every rule lives in one
// nftables table of berth's own (family inet, named per daemon so that
// several test daemons can run side by side), programmed through netlink
// with github.com/google/nftables: masquerade for outbound traffic of each
// bridge network, isolation between bridge networks, internal networks,
// --icc=false, published ports (DNAT for tcp, udp and sctp, including
// 127.0.0.1), hairpin NAT, and dockerd's guards: no container reaches the
// host's loopback, no other host reaches a port published on 127.0.0.1,
// and nothing reaches a container's unpublished ports from outside its
// bridge.
//
// Networks and ports are elements of named sets and maps, so the table
// grows linearly, and each change adds or deletes only its own elements
// (and, for source NAT, a network's two tagged rules) in netlink batches
// small enough never to overflow the socket. The table layout and how it
// compares with dockerd's nftables backend is described in
// layout_linux.go. If the table is gone (someone flushed the ruleset) or
// an update fails part-way, the whole table is rewritten from berth's
// state; removing the last network and port removes the table, so a
// daemon with no networks leaves the ruleset as it found it. Established
// NAT flows survive a rewrite because they live in conntrack.
package firewall
