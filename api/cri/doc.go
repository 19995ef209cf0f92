// Package cri is berth's Kubernetes face: the CRI v1 RuntimeService and
// ImageService (k8s.io/cri-api) served over gRPC on a root-only unix socket,
// so kubelet runs pods on the same engine that serves the Docker API.
//
// Like the Engine API routers, it holds no engine logic: it translates CRI
// requests into calls on the daemon through the Backend interfaces declared
// beside each service, and the daemon's answers into CRI messages. Pod
// sandboxes, their networks (CNI) and their containers are the daemon's;
// exec, attach and port-forward go through the streaming server in
// api/cri/streaming, whose URLs the RuntimeService hands out.
package cri
