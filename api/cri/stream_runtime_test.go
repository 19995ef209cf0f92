package cri

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/api/cri/streaming"
	"github.com/berthd/berth/daemon/backend"
)

// fakeExecs is an engine whose exec echoes stdin to stdout, writes
// "err" to stderr and exits with code, or hangs until killed.
type fakeExecs struct {
	ContainerBackend
	code    int
	hang    bool
	mu      sync.Mutex
	created container.ExecCreateRequest
	resized [][2]int
	killed  chan struct{}
}

func newFakeExecs(code int) *fakeExecs { return &fakeExecs{code: code, killed: make(chan struct{})} }

func (f *fakeExecs) PodExecCreate(ctx context.Context, ref string, cfg container.ExecCreateRequest) (string, error) {
	f.created = cfg
	return "e1", nil
}

func (f *fakeExecs) ContainerExecStart(ctx context.Context, id string, req container.ExecStartRequest, begin func(bool) (io.ReadWriteCloser, error)) error {
	conn, err := begin(!req.Tty)
	if err != nil {
		return err
	}
	defer conn.Close()
	if f.hang {
		<-f.killed
		return nil
	}
	return f.echo(conn, !req.Tty)
}

func (f *fakeExecs) echo(conn io.ReadWriteCloser, multiplexed bool) error {
	in := []byte{}
	if f.created.AttachStdin {
		in, _ = io.ReadAll(conn)
	}
	if !multiplexed {
		conn.Write(append([]byte("tty:"), in...))
		return nil
	}
	conn.Write(frame(1, append([]byte("out:"), in...)))
	conn.Write(frame(2, []byte("err")))
	return nil
}

// frame is p in the engine's 8-byte-header stream framing.
func frame(stream byte, p []byte) []byte {
	n := len(p)
	return append([]byte{stream, 0, 0, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, p...)
}

func (f *fakeExecs) ContainerExecInspect(id string) (*container.ExecInspectResponse, error) {
	code := f.code
	select {
	case <-f.killed:
		code = 137
	default:
	}
	return &container.ExecInspectResponse{ExitCode: &code}, nil
}

func (f *fakeExecs) ContainerExecResize(ctx context.Context, id string, h, w int) error {
	f.mu.Lock()
	f.resized = append(f.resized, [2]int{h, w})
	f.mu.Unlock()
	return nil
}

func (f *fakeExecs) ContainerExecKill(ctx context.Context, id string) error {
	close(f.killed)
	return nil
}

func (f *fakeExecs) PodContainerAttach(ctx context.Context, ref string, o backend.ContainerAttachOptions, begin func(bool) (io.ReadWriteCloser, error)) error {
	conn, err := begin(true)
	if err != nil {
		return err
	}
	defer conn.Close()
	f.created = container.ExecCreateRequest{AttachStdin: o.Stdin}
	return f.echo(conn, true)
}

type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }

func TestStreamExecSplitsStreamsAndReportsExit(t *testing.T) {
	f := newFakeExecs(3)
	var out, errOut bytes.Buffer
	err := NewStreamRuntime(f).Exec(context.Background(), "c1", []string{"cat"}, strings.NewReader("hi"), nopCloser{&out}, nopCloser{&errOut}, false, nil)
	var exit streaming.ExitError
	if !errors.As(err, &exit) || exit.Code != 3 {
		t.Fatalf("err %v, want exit code 3", err)
	}
	if out.String() != "out:hi" || errOut.String() != "err" {
		t.Fatalf("stdout %q stderr %q", out.String(), errOut.String())
	}
	if !f.created.AttachStdin || !f.created.AttachStdout || !f.created.AttachStderr || f.created.Tty {
		t.Fatalf("exec created with %+v", f.created)
	}
}

func TestStreamExecTTYIsRawAndResizes(t *testing.T) {
	f := newFakeExecs(0)
	resize := make(chan streaming.TermSize, 1)
	resize <- streaming.TermSize{Width: 80, Height: 24}
	var out bytes.Buffer
	// The fake exec waits for stdin to end: the resize has time to land.
	pr, pw := io.Pipe()
	go func() { time.Sleep(100 * time.Millisecond); pw.Write([]byte("x")); pw.Close() }()
	if err := NewStreamRuntime(f).Exec(context.Background(), "c1", []string{"sh"}, pr, nopCloser{&out}, nil, true, resize); err != nil {
		t.Fatal(err)
	}
	if out.String() != "tty:x" || f.created.AttachStderr || !f.created.Tty {
		t.Fatalf("stdout %q, created %+v", out.String(), f.created)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.resized) != 1 || f.resized[0] != [2]int{24, 80} {
		t.Fatalf("resizes %v", f.resized)
	}
}

func TestExecTimeoutKills(t *testing.T) {
	f := newFakeExecs(0)
	f.hang = true
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := runExec(ctx, f, "c1", []string{"sleep", "100"}, execStreams{stdout: io.Discard})
	if !errors.Is(err, errExecTimeout) {
		t.Fatalf("err %v, want the timeout", err)
	}
	select {
	case <-f.killed:
	default:
		t.Fatal("the exec was not killed")
	}
}

func TestStreamAttach(t *testing.T) {
	f := newFakeExecs(0)
	var out, errOut bytes.Buffer
	if err := NewStreamRuntime(f).Attach(context.Background(), "c1", strings.NewReader("in"), nopCloser{&out}, nopCloser{&errOut}, false, nil); err != nil {
		t.Fatal(err)
	}
	if out.String() != "out:in" || errOut.String() != "err" {
		t.Fatalf("stdout %q stderr %q", out.String(), errOut.String())
	}
}

func TestCappedBuffer(t *testing.T) {
	b := &cappedBuffer{max: 4}
	n, _ := b.Write([]byte("abc"))
	m, _ := b.Write([]byte("def"))
	if n != 3 || m != 3 || b.String() != "abcd" {
		t.Fatalf("%d %d %q", n, m, b.String())
	}
}

// fakeSandbox is an engine whose one sandbox runs in the test's own
// network namespace (its "pause" is the test process).
type fakeSandbox struct {
	ContainerBackend
	running bool
}

func (f fakeSandbox) ContainerInspect(ctx context.Context, ref string, size bool) (*container.InspectResponse, error) {
	if ref != "sb1" {
		return nil, errors.New("no such container")
	}
	return &container.InspectResponse{
		ID:     "sb1",
		Config: &container.Config{Labels: map[string]string{labelType: typeSandbox}},
		State:  &container.State{Running: f.running, Pid: os.Getpid()},
	}, nil
}

func TestStreamPortForward(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c) // until the client's half-close
		c.Write(append([]byte("echo:"), b...))
	}()
	port := int32(l.Addr().(*net.TCPAddr).Port)
	client, server := net.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- NewStreamRuntime(fakeSandbox{running: true}).PortForward(context.Background(), "sb1", port, halfCloser{server})
	}()
	client.Write([]byte("ping"))
	got := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(client); got <- b }()
	// net.Pipe has no half-close: the stream ends its writes by EOF from
	// halfCloser once the client says so.
	server.(net.Conn).SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	select {
	case b := <-got:
		if string(b) != "echo:ping" {
			t.Fatalf("forwarded answer %q", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer through the forward")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// halfCloser makes a read deadline on a net.Pipe end look like the
// client's end of input (io.EOF), as an SPDY stream's half-close does.
type halfCloser struct{ net.Conn }

func (h halfCloser) Read(p []byte) (int, error) {
	n, err := h.Conn.Read(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return n, io.EOF
	}
	return n, err
}

func TestStreamPortForwardRefuses(t *testing.T) {
	rt := NewStreamRuntime(fakeSandbox{running: false})
	_, server := net.Pipe()
	if err := rt.PortForward(context.Background(), "sb1", 80, server); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Fatalf("stopped sandbox: %v", err)
	}
	_, server = net.Pipe()
	if err := rt.PortForward(context.Background(), "nope", 80, server); err == nil {
		t.Fatal("unknown sandbox accepted")
	}
}
