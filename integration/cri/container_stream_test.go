package cri

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// The channels of Kubernetes' WebSocket streaming protocols.
const (
	chStdin, chStdout, chStderr, chError = 0, 1, 2, 3
	chClose                              = 255 // v5: the client closed a channel
)

// dialStream opens the streaming URL as a WebSocket speaking protocol.
func dialStream(t *testing.T, url, protocol string) *websocket.Conn {
	t.Helper()
	cfg, err := websocket.NewConfig(strings.Replace(url, "http://", "ws://", 1), "http://localhost/")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Protocol = []string{protocol}
	ws, err := websocket.DialConfig(cfg)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	ws.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { ws.Close() })
	return ws
}

func send(t *testing.T, ws *websocket.Conn, msg ...byte) {
	t.Helper()
	if err := websocket.Message.Send(ws, msg); err != nil {
		t.Fatal(err)
	}
}

// channels collects what each channel carried until the server closes.
func channels(ws *websocket.Conn) map[byte]string {
	out := map[byte]string{}
	for {
		var msg []byte
		if err := websocket.Message.Receive(ws, &msg); err != nil {
			return out
		}
		if len(msg) > 0 {
			out[msg[0]] += string(msg[1:])
		}
	}
}

// exitStatus is the Kubernetes Status at the end of an exec.
func exitStatus(t *testing.T, raw string) (status, code string) {
	t.Helper()
	var st struct {
		Status  string
		Details struct{ Causes []struct{ Message string } }
	}
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		t.Fatalf("status %q: %v", raw, err)
	}
	if len(st.Details.Causes) > 0 {
		code = st.Details.Causes[0].Message
	}
	return st.Status, code
}

// TestStreamingExec: Exec's URL runs the command in the container with
// stdin, stdout, stderr and the exit code (v5 WebSocket, as kubectl).
func TestStreamingExec(t *testing.T) {
	rt, _ := clients(t)
	pod := newTestPod(t)
	id := pod.run(t, rt, containerConfig("execd", "sleep", "1000"))
	resp, err := rt.Exec(ctxT(t), &runtimeapi.ExecRequest{ContainerId: id, Cmd: []string{"sh", "-c", "tr a-z A-Z; echo oops >&2; exit 4"}, Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	ws := dialStream(t, resp.GetUrl(), "v5.channel.k8s.io")
	send(t, ws, append([]byte{chStdin}, "hello\x10\x11"...)...)
	send(t, ws, chClose, chStdin)
	got := channels(ws)
	if got[chStdout] != "HELLO\x10\x11" || got[chStderr] != "oops\n" {
		t.Fatalf("stdout %q stderr %q", got[chStdout], got[chStderr])
	}
	if st, code := exitStatus(t, got[chError]); st != "Failure" || code != "4" {
		t.Fatalf("status %q", got[chError])
	}
}

// TestStreamingAttach: Attach's URL joins the main process's stdin, byte
// for byte, and output.
func TestStreamingAttach(t *testing.T) {
	rt, _ := clients(t)
	pod := newTestPod(t)
	cfg := containerConfig("attached", "sh", "-c", "read x; echo got-$x | od -c | head -1; echo err >&2")
	cfg.Stdin, cfg.StdinOnce = true, true
	id := pod.run(t, rt, cfg)
	resp, err := rt.Attach(ctxT(t), &runtimeapi.AttachRequest{ContainerId: id, Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	ws := dialStream(t, resp.GetUrl(), "v5.channel.k8s.io")
	// ctrl-p ctrl-q (docker's detach keys) are data here.
	send(t, ws, append([]byte{chStdin}, "a\x10\x11b\n"...)...)
	got := channels(ws)
	if !strings.Contains(got[chStdout], "g   o   t   -   a 020 021   b") || got[chStderr] != "err\n" {
		t.Fatalf("stdout %q stderr %q error %q", got[chStdout], got[chStderr], got[chError])
	}
}

// TestStreamingPortForward: PortForward's URL reaches a server that
// listens only on the pod's loopback.
func TestStreamingPortForward(t *testing.T) {
	rt, _ := clients(t)
	pod := newTestPod(t)
	id := pod.run(t, rt, containerConfig("web", "sh", "-c", "mkdir /tmp/www && echo pong > /tmp/www/ping && exec httpd -f -p 127.0.0.1:8080 -h /tmp/www"))
	// httpd is listening once it answers inside the pod.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := rt.ExecSync(ctxT(t), &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"wget", "-qO-", "http://127.0.0.1:8080/ping"}, Timeout: 5})
		if err == nil && string(r.GetStdout()) == "pong\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("httpd in the pod: %v %v", r, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := rt.PortForward(ctxT(t), &runtimeapi.PortForwardRequest{PodSandboxId: pod.ID, Port: []int32{8080}})
	if err != nil {
		t.Fatal(err)
	}
	ws := dialStream(t, resp.GetUrl(), "v4.channel.k8s.io")
	// Channel 0 is the port's data, 1 its errors; each starts with the
	// port, 2 bytes little-endian.
	send(t, ws, append([]byte{0}, "GET /ping HTTP/1.0\r\n\r\n"...)...)
	var data string
	for !strings.HasSuffix(data, "pong\n") {
		var msg []byte
		if err := websocket.Message.Receive(ws, &msg); err != nil {
			t.Fatalf("after %q: %v", data, err)
		}
		if len(msg) > 0 && msg[0] == 0 {
			data += string(msg[1:])
		}
		if len(msg) > 3 && msg[0] == 1 {
			t.Fatalf("forward error %q", msg[3:])
		}
	}
	if !strings.HasPrefix(data, "\x90\x1fHTTP/1.") {
		t.Fatalf("forwarded answer %q", data)
	}
}
