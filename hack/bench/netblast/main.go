// Command netblast measures TCP throughput for `make bench`: built
// statically and bind-mounted into busybox containers.
//
//	netblast sink PORT          accept one connection, read to EOF, answer one byte
//	netblast send ADDR MIB      send MIB MiB, wait for the answer, print MB/s
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: netblast sink PORT | send ADDR MIB")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "sink":
		l, err := net.Listen("tcp", ":"+os.Args[2])
		if err != nil {
			fail(err)
		}
		for {
			c, err := l.Accept()
			if err != nil {
				fail(err)
			}
			io.Copy(io.Discard, c)
			c.Write([]byte{1})
			c.Close()
		}
	case "send":
		mib, _ := strconv.Atoi(os.Args[3])
		var c net.Conn
		var err error
		for i := 0; i < 100; i++ {
			if c, err = net.Dial("tcp", os.Args[2]); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			fail(err)
		}
		buf := make([]byte, 1<<20)
		t0 := time.Now()
		for i := 0; i < mib; i++ {
			if _, err := c.Write(buf); err != nil {
				fail(err)
			}
		}
		c.(*net.TCPConn).CloseWrite()
		if _, err := c.Read(buf[:1]); err != nil {
			fail(err)
		}
		fmt.Printf("%.1f\n", float64(mib)*float64(1<<20)/1e6/time.Since(t0).Seconds())
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
