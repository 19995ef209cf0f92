// Package bridge owns the kernel side of berth's bridge networks, driven
// through netlink: creating and deleting a Linux bridge with its gateway
// addresses and MTU, and wiring a container into it with a veth pair whose
// inner end is moved into the container's network namespace (given by path
// or pid), renamed eth0, addressed, given its gateway routes, its interface
// sysctls and a random MAC, as dockerd gives one.
//
// It never touches a device it was not named: callers pass bridge and veth
// names, and deleting a missing device is not an error so that cleanup after
// a crash can repeat.
package bridge
