// Package network owns berth's networks: the persistent store of network
// records (the predefined bridge, host and none networks and user-defined
// bridge, macvlan and ipvlan networks), their validation with dockerd's
// messages, the wiring of IPAM, the bridge or macvlan/ipvlan driver and the
// firewall for each network, and the endpoints that join containers to
// networks.
//
// The container code calls Join and Leave (through Manager) for bridge,
// macvlan and ipvlan networks, and ParseMode/Attacher for host, none and
// container: modes. The sub-packages each own one noun: ipam (addresses),
// bridge (bridges and veth pairs), vlan (macvlan and ipvlan devices and
// their parent links), firewall (nftables), dns (the embedded resolver),
// resolvconf and etchosts (files a container sees).
package network
