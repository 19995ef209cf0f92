// Package vlan owns the kernel side of berth's macvlan and ipvlan networks,
// driven through netlink: the parent link a network hangs off — a host
// device the user named, an 802.1q sub-interface ("eth0.10") that it
// creates on eth0 when it does not exist, or a dummy link that stands in
// when no parent is given — and each container's macvlan or ipvlan device,
// created on the parent directly inside the container's network namespace,
// addressed and given its default route there.
//
// It deletes only parents its caller says berth created, and only if they
// still look like what berth creates (a dummy, or a VLAN link with a lower
// device), so that a host's own interface is never removed.
package vlan
