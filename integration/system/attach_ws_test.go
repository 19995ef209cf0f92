package system

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// TestAttachWebsocket attaches to a container's stdin and stdout over
// GET /containers/{id}/attach/ws and sees its input echoed unframed.
func TestAttachWebsocket(t *testing.T) {
	d.LoadTestImages(t)
	id := strings.TrimSpace(d.DockerT(t, "run", "--pull=never", "--network", "none", "-d", "-i", "busybox", "cat"))
	defer d.Docker("rm", "-f", id)
	conn, err := net.Dial("unix", d.Socket)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := websocket.NewConfig("ws://localhost/containers/"+id+"/attach/ws?stream=1&stdout=1&stdin=1", "http://localhost")
	ws, err := websocket.NewClient(cfg, conn)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.PayloadType = websocket.BinaryFrame
	ws.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := ws.Write([]byte("hello ws\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 9)
	if _, err := io.ReadFull(ws, buf); err != nil || string(buf) != "hello ws\n" {
		t.Fatalf("read %q, %v", buf, err)
	}
}
