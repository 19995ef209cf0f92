package cri

import (
	"bytes"
	"context"
	"errors"
	"io"
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

func (f *fakeExecs) ContainerAttach(ctx context.Context, ref string, o backend.ContainerAttachOptions, begin func(bool) (io.ReadWriteCloser, error)) error {
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
