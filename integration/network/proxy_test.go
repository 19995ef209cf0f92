package network

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A client that reaches a published port through the userland proxy ([::1]
// here) before the container's server listens is answered once it does,
// not reset: the port is in place when the container's process starts,
// and `docker run -d` returns then (moby's TestAccessPublishedPortFromHost
// connects at once, and was reset when httpd was a moment late). One
// request, no retry.
func TestProxyWaitsForContainerServer(t *testing.T) {
	withImages(t)
	n := uniq("pxw")
	createNet(t, n, "--ipv6", "--subnet", v6Subnet().String())
	id := runD(t, d, "--network", n, "-p", "8080", img, "sh", "-c", "sleep 0.5; exec "+strings.Join(httpd, " "))
	port := v6HostPort(t, d, id, "8080/tcp", "::")
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://[::1]:" + port + "/hostname")
	if err != nil {
		t.Fatalf("GET [::1]:%s before the server listened: %v", port, err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); !strings.Contains(string(b), id[:12]) {
		t.Fatalf("GET [::1]:%s: %q", port, b)
	}
}
