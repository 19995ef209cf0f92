// Package cni is the pod network driver: it attaches a pod sandbox's
// network namespace to the networks described by CNI configurations
// (libcni, github.com/containernetworking/cni) with the plugins found in the
// configured directories, and detaches it again, also after a crash when
// the namespace is already gone.
//
// It behaves as kubelet's runtimes do, so that configurations and plugins
// written for containerd or CRI-O work unchanged: the pod network is the
// lexically first *.conflist, *.conf or *.json in the configuration
// directory (re-read whenever the directory changes), the interface is
// eth0, CNI_ARGS carry K8S_POD_*, and portMappings, pod annotations and the
// cgroup path go to plugins that declare those capabilities. libcni's
// cache keeps what each ADD used, so the matching DEL works after a daemon
// restart or a configuration change; beside it the package records which
// namespace each pod was attached in, so a DEL never enters a namespace
// that has since taken the pod's path.
package cni
