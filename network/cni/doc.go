// Package cni is the pod network driver: it attaches a pod sandbox's
// network namespace to the networks described by CNI configurations
// (libcni, github.com/containernetworking/cni) with the plugins found in the
// configured directories, and detaches it again, also after a crash when
// the namespace is already gone.
package cni
