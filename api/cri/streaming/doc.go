// Package streaming is the CRI streaming server: the HTTP endpoint whose
// one-time URLs RuntimeService's Exec, Attach and PortForward return.
// kubelet (or crictl) proxies or connects to that URL and upgrades it to
// SPDY/3.1 or WebSocket, speaking Kubernetes' remotecommand (v1–v5) and
// portforward protocols, as kubelet's own streaming package serves them.
// The transport framing comes from k8s.io/streaming; the server, its token
// cache and the protocol handshakes are berth's.
package streaming
