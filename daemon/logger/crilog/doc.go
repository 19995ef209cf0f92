// Package crilog owns the Kubernetes CRI log file: the file kubelet reads
// (`kubectl logs`) at the pod's log directory joined with the container's
// log path, one entry a line as `<RFC3339Nano time> <stdout|stderr>
// <F|P> <content>`, where P marks a piece of a line longer than 16 KiB
// and F the piece that ends it. It is a built-in log driver ("cri") fed
// by the daemon's forwarder from the container's local cache, so `docker
// logs` keeps working beside it (dual logging), and a file kubelet has
// rotated away is opened again with Reopen.
package crilog
