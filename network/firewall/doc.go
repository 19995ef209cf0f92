// Package firewall owns berth's netfilter rules. Every rule lives in one
// nftables table of berth's own (family inet, named per daemon so that
// several test daemons can run side by side), programmed through netlink
// with github.com/google/nftables: masquerade for outbound traffic of each
// bridge network, isolation between different bridge networks, internal
// networks, --icc=false, published ports (DNAT for tcp, udp and sctp,
// including 127.0.0.1 through route_localnet) and hairpin NAT.
//
// The table is rebuilt whole from the desired state in one netlink batch
// on every change, so the kernel never sees a half-applied update and
// removing a network or the daemon leaves nothing behind. Established NAT
// flows survive a rebuild because they live in conntrack, not in rules.
package firewall
