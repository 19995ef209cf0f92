// Package streaming is the CRI streaming server: the HTTP endpoint whose
// one-time URLs RuntimeService's Exec, Attach and PortForward return.
// kubelet (or crictl, or critest) connects to that URL and upgrades it,
// as kubelet's own streaming server (k8s.io/cri-streaming) is spoken to:
//
//   - exec and attach: Kubernetes' remotecommand over SPDY/3.1 (v1 to v4,
//     negotiated by X-Stream-Protocol-Version) or over a channel WebSocket
//     (channel.k8s.io, base64.channel.k8s.io, their v4 forms, and v5 with
//     its stdin half-close); the error stream ends a session with a
//     Kubernetes Status (Success, NonZeroExitCode with the exit code, or
//     InternalError), as JSON from v4 and as text before.
//   - port-forward: portforward.k8s.io over SPDY (a data and an error
//     stream per forwarded connection), the same SPDY tunneled in a
//     WebSocket, or v4 channel WebSocket with the ports fixed up front.
//
// A URL is good once and for one minute. The transport framing comes
// from k8s.io/streaming; the server, its token cache, the handshakes and
// the small Status JSON are berth's, so the daemon links neither
// apimachinery nor client-go.
//
// The Runtime does the work. The context it gets ends when the client's
// connection ends or the server closes; what that means for a running
// process is the Runtime's call.
package streaming
