package nsdial

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("needs root")
	}
	t.Skip("needs root")
}

// netns is a private network namespace held by a locked thread: its path
// is that thread's, and it goes away with the thread at cleanup, so no
// mount or named namespace is left behind.
type netns struct {
	path     string
	listener net.Listener // on 127.0.0.1 inside
	calls    chan func()
}

func newNetns(t *testing.T) *netns {
	t.Helper()
	requireRoot(t)
	ready := make(chan error, 1)
	ns := &netns{calls: make(chan func())}
	go func() {
		// Never unlocked: the thread leaves the host's namespace and must
		// die with this goroutine.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ready <- err
			return
		}
		ns.path = fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
		ready <- loopbackUp()
		for fn := range ns.calls {
			fn()
		}
	}()
	if err := <-ready; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { close(ns.calls) })
	ns.do(func() {
		// A literal address: the socket is made on this thread.
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Error(err)
			return
		}
		ns.listener = l
	})
	if ns.listener == nil {
		t.FailNow()
	}
	t.Cleanup(func() { ns.listener.Close() })
	return ns
}

// do runs fn on the thread inside the namespace.
func (ns *netns) do(fn func()) {
	done := make(chan struct{})
	ns.calls <- func() {
		defer close(done)
		fn()
	}
	<-done
}

// loopbackUp sets lo up in the calling thread's network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// hostNetns is the test process's own network namespace, taken before
// any test moves a thread (the main one included) elsewhere.
var hostNetns = func() uint64 {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
		panic(err)
	}
	return st.Ino
}()

func netnsInode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func TestDialReachesAListenerInsideTheNamespace(t *testing.T) {
	ns := newNetns(t)
	if netnsInode(t, ns.path) == hostNetns {
		t.Fatal("the test namespace is the host's")
	}
	port := ns.listener.Addr().(*net.TCPAddr).Port
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ns.listener.Accept()
		if err == nil {
			accepted <- c
		}
	}()

	for _, address := range []string{fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("localhost:%d", port)} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := Dial(ctx, ns.path, "tcp", address)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", address, err)
		}
		var server net.Conn
		select {
		case server = <-accepted:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the listener in the namespace got no connection", address)
		}
		go func() {
			c, err := ns.listener.Accept()
			if err == nil {
				accepted <- c
			}
		}()
		io.WriteString(c, "ping")
		buf := make([]byte, 4)
		if _, err := io.ReadFull(server, buf); err != nil || string(buf) != "ping" {
			t.Fatalf("%s: server read %q, %v", address, buf, err)
		}
		io.WriteString(server, "pong")
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "pong" {
			t.Fatalf("%s: client read %q, %v", address, buf, err)
		}
		if c.LocalAddr().(*net.TCPAddr).IP.String() != "127.0.0.1" {
			t.Fatalf("%s: local address %v", address, c.LocalAddr())
		}
		c.Close()
		server.Close()
	}
}

func TestDialLeavesNoThreadInTheNamespace(t *testing.T) {
	ns := newNetns(t)
	inside := netnsInode(t, ns.path)
	address := ns.listener.Addr().String()
	go func() {
		for {
			c, err := ns.listener.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for range 50 {
		c, err := Dial(context.Background(), ns.path, "tcp4", address)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	// No thread but the one holding it stayed in the namespace.
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	away := 0
	for _, task := range tasks {
		var st unix.Stat_t
		if err := unix.Stat("/proc/self/task/"+task.Name()+"/ns/net", &st); err == nil && st.Ino == inside {
			away++
		}
	}
	if away != 1 {
		t.Fatalf("%d threads in the pod's network namespace, want 1 (the one holding it)", away)
	}
}

func TestDialErrors(t *testing.T) {
	ns := newNetns(t)
	closed, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// This port is open in the host's namespace only.
	hostOnly := closed.Addr().String()
	defer closed.Close()
	if _, err := Dial(context.Background(), ns.path, "tcp", hostOnly); !errors.Is(err, unix.ECONNREFUSED) {
		t.Errorf("port open on the host only: %v, want connection refused", err)
	}
	if _, err := Dial(context.Background(), "/nonexistent/netns", "tcp", "127.0.0.1:80"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing namespace: %v", err)
	}
	if _, err := Dial(context.Background(), ns.path, "unix", "/x"); err == nil {
		t.Error("unix network accepted")
	}
	if _, err := Dial(context.Background(), ns.path, "tcp6", "127.0.0.1:80"); err == nil {
		t.Error("tcp6 to an IPv4 address accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Dial(ctx, ns.path, "tcp", ns.listener.Addr().String()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestDialGivesUpAtTheDeadline(t *testing.T) {
	ns := newNetns(t)
	// A listener whose accept queue is full drops the next SYN, so that
	// connect hangs until the caller stops waiting.
	var port int
	ns.do(func() {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Error(err)
			return
		}
		t.Cleanup(func() { unix.Close(fd) })
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			t.Error(err)
			return
		}
		if err := unix.Listen(fd, 0); err != nil {
			t.Error(err)
			return
		}
		sa, err := unix.Getsockname(fd)
		if err != nil {
			t.Error(err)
			return
		}
		port = sa.(*unix.SockaddrInet4).Port
	})
	if port == 0 {
		t.FailNow()
	}
	address := fmt.Sprintf("127.0.0.1:%d", port)
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		start := time.Now()
		c, err := Dial(ctx, ns.path, "tcp", address)
		cancel()
		if err == nil {
			// Still filling the queue.
			t.Cleanup(func() { c.Close() })
			if i > 10 {
				t.Fatal("the accept queue never filled")
			}
			continue
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("connect to a full queue: %v", err)
		}
		if d := time.Since(start); d < 250*time.Millisecond || d > 5*time.Second {
			t.Fatalf("gave up after %v, want about 300ms", d)
		}
		return
	}
}
