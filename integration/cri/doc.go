// Package cri tests berthd's Kubernetes CRI face end to end: a real berthd
// with its CRI socket in its own exec-root, driven by the CRI gRPC client
// (and crictl/critest where the kit is present), with pod networks from
// CNI configurations the tests write into a private directory.
package cri
