package streaming

import (
	"net/http"

	"github.com/sirupsen/logrus"
	"k8s.io/streaming/pkg/httpstream/wsstream"
)

// The remotecommand channels over WebSocket: each message starts with
// its channel's number.
const (
	wsStdin = iota
	wsStdout
	wsStderr
	wsError
	wsResize
)

// The channel subprotocols: plain channel.k8s.io and its base64 form
// (before v4) report failures as text, v4 and v5 as Status JSON; v5 also
// lets the client close stdin alone (wsstream handles that signal).
const (
	wsBinaryV1 = wsstream.ChannelWebSocketProtocol
	wsBase64V1 = wsstream.Base64ChannelWebSocketProtocol
	wsBinaryV4 = "v4." + wsstream.ChannelWebSocketProtocol
	wsBase64V4 = "v4." + wsstream.Base64ChannelWebSocketProtocol
	wsBinaryV5 = remoteCommandV5
)

// wsProtocols offers the channel subprotocols over channels; "" is a
// client that named none. Port forwarding speaks only v4; remotecommand
// all of them.
func wsProtocols(channels []wsstream.ChannelType, remoteCommand bool) map[string]wsstream.ChannelProtocolConfig {
	p := map[string]wsstream.ChannelProtocolConfig{
		"":         {Binary: true, Channels: channels},
		wsBinaryV4: {Binary: true, Channels: channels},
		wsBase64V4: {Binary: false, Channels: channels},
	}
	if remoteCommand {
		p[wsBinaryV1] = wsstream.ChannelProtocolConfig{Binary: true, Channels: channels}
		p[wsBase64V1] = wsstream.ChannelProtocolConfig{Binary: false, Channels: channels}
		p[wsBinaryV5] = wsstream.ChannelProtocolConfig{Binary: true, Channels: channels}
	}
	return p
}

// openWebSocketSession upgrades to a channel WebSocket.
func (s *Server) openWebSocketSession(w http.ResponseWriter, r *http.Request, o streamOptions) *session {
	channels := []wsstream.ChannelType{
		wsStdin:  channelIf(o.stdin, wsstream.ReadChannel),
		wsStdout: channelIf(o.stdout, wsstream.WriteChannel),
		wsStderr: channelIf(o.stderr, wsstream.WriteChannel),
		wsError:  wsstream.WriteChannel,
		wsResize: wsstream.ReadChannel,
	}
	conn := wsstream.NewConn(wsProtocols(channels, true))
	conn.SetIdleTimeout(s.cfg.StreamIdleTimeout)
	protocol, streams, err := conn.Open(w, r)
	if err != nil {
		logrus.WithError(err).WithField("url", r.URL.Path).Warn("CRI stream: WebSocket upgrade failed")
		return nil
	}
	// An empty message on the first channel the client reads tells it
	// the session is up, as kubelet does.
	switch {
	case o.stdout:
		streams[wsStdout].Write(nil)
	case o.stderr:
		streams[wsStderr].Write(nil)
	default:
		streams[wsError].Write(nil)
	}
	sess := &session{
		conn:        conn,
		errors:      streams[wsError],
		resize:      streams[wsResize],
		writeStatus: writeStatusText,
	}
	if o.stdin {
		sess.stdin = streams[wsStdin]
	}
	if o.stdout {
		sess.stdout = streams[wsStdout]
	}
	if o.stderr {
		sess.stderr = streams[wsStderr]
	}
	switch protocol {
	case wsBinaryV4, wsBase64V4, wsBinaryV5:
		sess.writeStatus = writeStatusJSON
	}
	return sess
}

func channelIf(granted bool, t wsstream.ChannelType) wsstream.ChannelType {
	if granted {
		return t
	}
	return wsstream.IgnoreChannel
}
