// udpecho answers every UDP datagram on :PORT with "echo:" and the
// datagram. The integration tests build it statically and bind-mount it
// into a container, since Debian's busybox nc has no UDP mode.
package main

import (
	"fmt"
	"net"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: udpecho PORT")
		os.Exit(2)
	}
	c, err := net.ListenPacket("udp", ":"+os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			os.Exit(1)
		}
		fmt.Printf("got %s\n", buf[:n])
		c.WriteTo(append([]byte("echo:"), buf[:n]...), from)
	}
}
