// Package ipam owns IP address management for berth's networks: it carves
// subnets out of the default address pools (daemon config
// `default-address-pools`, or dockerd's built-in ones), honours a requested
// --subnet, --ip-range, --gateway and --aux-address, hands out container
// addresses (dynamic or static) without ever giving one twice, and persists
// every allocation atomically so that a daemon restart keeps them. IPv4 and
// IPv6 follow the same rules.
//
// It knows nothing about bridges or containers: owners are opaque strings
// (an endpoint ID), networks are opaque IDs.
package ipam
