package streaming

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// shout copies stdin to stdout in capitals, says "err" on stderr and
// exits with code.
func shout(code int) *fakeRuntime {
	return &fakeRuntime{exec: func(_ context.Context, id string, cmd []string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan TermSize) error {
		if id != "c1" || strings.Join(cmd, " ") != "sh -c x" {
			return fmt.Errorf("got container %q cmd %q", id, cmd)
		}
		if stdin == nil || stdout == nil || stderr == nil || tty || resize != nil {
			return fmt.Errorf("got stdin %v stdout %v stderr %v tty %v resize %v", stdin, stdout, stderr, tty, resize)
		}
		b, err := io.ReadAll(stdin)
		if err != nil {
			return err
		}
		io.WriteString(stdout, strings.ToUpper(string(b)))
		io.WriteString(stderr, "err")
		if code != 0 {
			return ExitError{Code: code}
		}
		return nil
	}}
}

func execURL(t *testing.T, s *Server, req *runtimeapi.ExecRequest) string {
	t.Helper()
	resp, err := s.GetExec(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Url
}

var allStreams = &runtimeapi.ExecRequest{ContainerId: "c1", Cmd: []string{"sh", "-c", "x"}, Stdin: true, Stdout: true, Stderr: true}

// execSPDY runs allStreams over SPDY offering protocol and returns
// stdout, stderr and the error stream.
func execSPDY(t *testing.T, s *Server, protocol string) (string, string, string) {
	t.Helper()
	conn, got := dialSPDY(t, execURL(t, s, allStreams), protocol)
	if got != protocol {
		t.Fatalf("negotiated %q, want %q", got, protocol)
	}
	errStream := createStream(t, conn, streamTypeError)
	stdin := createStream(t, conn, streamTypeStdin)
	stdout := createStream(t, conn, streamTypeStdout)
	stderr := createStream(t, conn, streamTypeStderr)
	io.WriteString(stdin, "hello")
	stdin.Close()
	errc := make(chan string, 1)
	go func() { b, _ := io.ReadAll(stderr); errc <- string(b) }()
	out := readAll(t, stdout)
	return out, <-errc, readAll(t, errStream)
}

func TestExecSPDYv4ReportsTheExitCode(t *testing.T) {
	s := newServer(t, Config{}, shout(3))
	out, errOut, status := execSPDY(t, s, remoteCommandV4)
	if out != "HELLO" || errOut != "err" {
		t.Fatalf("stdout %q stderr %q", out, errOut)
	}
	st := decodeStatus(t, status)
	if st.Status != statusFailure || st.Reason != reasonNonZeroExitCode || st.Details == nil ||
		len(st.Details.Causes) != 1 || st.Details.Causes[0].Type != causeExitCode || st.Details.Causes[0].Message != "3" {
		t.Fatalf("status %s", status)
	}
}

func TestExecSPDYv4Success(t *testing.T) {
	s := newServer(t, Config{}, shout(0))
	_, _, status := execSPDY(t, s, remoteCommandV4)
	if status != `{"metadata":{},"status":"Success"}` {
		t.Fatalf("status %s", status)
	}
}

func TestExecSPDYOlderProtocolsReportText(t *testing.T) {
	for _, p := range []string{remoteCommandV3, remoteCommandV2, remoteCommandV1} {
		t.Run(p, func(t *testing.T) {
			s := newServer(t, Config{}, shout(2))
			out, _, status := execSPDY(t, s, p)
			if out != "HELLO" || status != "command terminated with non-zero exit code: command terminated with exit code 2" {
				t.Fatalf("stdout %q status %q", out, status)
			}
		})
	}
}

func TestExecSPDYRefusesUnknownProtocol(t *testing.T) {
	s := newServer(t, Config{}, shout(0))
	resp, err := s.GetExec(allStreams)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tryDialSPDY(t, resp.Url, "v9.channel.k8s.io"); err == nil || !strings.Contains(err.Error(), "unable to negotiate protocol") {
		t.Fatalf("upgrade with an unknown protocol: %v", err)
	}
}

func TestExecTTYResize(t *testing.T) {
	s := newServer(t, Config{}, &fakeRuntime{exec: func(_ context.Context, _ string, _ []string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan TermSize) error {
		if !tty || stderr != nil || stdin != nil || resize == nil {
			return errors.New("want a tty with stdout and resize only")
		}
		for size := range resize {
			fmt.Fprintf(stdout, "%dx%d;", size.Width, size.Height)
			if size.Width == 0 {
				return nil
			}
		}
		return errors.New("resize ended")
	}})
	conn, _ := dialSPDY(t, execURL(t, s, &runtimeapi.ExecRequest{ContainerId: "c1", Cmd: []string{"sh"}, Stdout: true, Tty: true}), remoteCommandV4)
	errStream := createStream(t, conn, streamTypeError)
	stdout := createStream(t, conn, streamTypeStdout)
	resize := createStream(t, conn, streamTypeResize)
	io.WriteString(resize, `{"Width":80,"Height":24}{"Width":132,"Height":50}`+"\n"+`{"Width":0,"Height":0}`)
	if out := readAll(t, stdout); out != "80x24;132x50;0x0;" {
		t.Fatalf("stdout %q", out)
	}
	if st := decodeStatus(t, readAll(t, errStream)); st.Status != statusSuccess {
		t.Fatalf("status %+v", st)
	}
}

func TestAttachSPDYReportsAFailureAsInternalError(t *testing.T) {
	s := newServer(t, Config{}, &fakeRuntime{attach: func(_ context.Context, id string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan TermSize) error {
		if id != "c2" || stdin != nil || stderr == nil {
			return fmt.Errorf("bad attach of %q", id)
		}
		io.WriteString(stdout, "attached")
		return errors.New("container gone")
	}})
	resp, err := s.GetAttach(&runtimeapi.AttachRequest{ContainerId: "c2", Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	conn, _ := dialSPDY(t, resp.Url, remoteCommandV4)
	errStream := createStream(t, conn, streamTypeError)
	stdout := createStream(t, conn, streamTypeStdout)
	createStream(t, conn, streamTypeStderr)
	if out := readAll(t, stdout); out != "attached" {
		t.Fatalf("stdout %q", out)
	}
	st := decodeStatus(t, readAll(t, errStream))
	if st.Status != statusFailure || st.Reason != reasonInternalError || st.Code != 500 || !strings.Contains(st.Message, "container gone") {
		t.Fatalf("status %+v", st)
	}
}

func TestAttachEndsWhenTheClientLeaves(t *testing.T) {
	ended := make(chan error, 1)
	s := newServer(t, Config{}, &fakeRuntime{attach: func(ctx context.Context, _ string, _ io.Reader, stdout, _ io.WriteCloser, _ bool, _ <-chan TermSize) error {
		io.WriteString(stdout, "up")
		<-ctx.Done()
		ended <- ctx.Err()
		return nil
	}})
	resp, err := s.GetAttach(&runtimeapi.AttachRequest{ContainerId: "c2", Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	conn, _ := dialSPDY(t, resp.Url, remoteCommandV4)
	createStream(t, conn, streamTypeError)
	stdout := createStream(t, conn, streamTypeStdout)
	if _, err := io.ReadFull(stdout, make([]byte, 2)); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("attach still running after the client left")
	}
}

func TestStreamCreationTimeout(t *testing.T) {
	called := make(chan struct{}, 1)
	s := newServer(t, Config{StreamCreationTimeout: 200 * time.Millisecond}, &fakeRuntime{exec: func(context.Context, string, []string, io.Reader, io.WriteCloser, io.WriteCloser, bool, <-chan TermSize) error {
		called <- struct{}{}
		return nil
	}})
	conn, _ := dialSPDY(t, execURL(t, s, allStreams), remoteCommandV4)
	createStream(t, conn, streamTypeError) // and never stdin, stdout, stderr
	select {
	case <-conn.CloseChan():
	case <-time.After(10 * time.Second):
		t.Fatal("the server kept a session whose streams never came")
	}
	select {
	case <-called:
		t.Fatal("the runtime ran without the streams")
	default:
	}
}

func TestCloseEndsOpenSessions(t *testing.T) {
	running := make(chan struct{})
	ended := make(chan struct{})
	s, err := New(Config{}, &fakeRuntime{exec: func(ctx context.Context, _ string, _ []string, _ io.Reader, _, _ io.WriteCloser, _ bool, _ <-chan TermSize) error {
		close(running)
		<-ctx.Done()
		close(ended)
		return ctx.Err()
	}})
	if err != nil {
		t.Fatal(err)
	}
	conn, _ := dialSPDY(t, execURL(t, s, &runtimeapi.ExecRequest{ContainerId: "c1", Cmd: []string{"sleep"}, Stdout: true}), remoteCommandV4)
	createStream(t, conn, streamTypeError)
	createStream(t, conn, streamTypeStdout)
	<-running
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []<-chan struct{}{ended, closeSignal(conn.CloseChan())} {
		select {
		case <-c:
		case <-time.After(10 * time.Second):
			t.Fatal("Close left a session open")
		}
	}
	if _, err := s.GetExec(allStreams); err == nil {
		t.Fatal("GetExec after Close handed out a URL")
	}
}

func TestExecWebSocketV5ClosesStdin(t *testing.T) {
	s := newServer(t, Config{}, shout(0))
	c := dialWS(t, execURL(t, s, allStreams), remoteCommandV5)
	c.send(t, wsStdin, []byte("hel"))
	c.send(t, wsStdin, []byte("lo"))
	c.closeChannel(t, wsStdin)
	got := c.readChannels(t)
	if got[wsStdout] != "HELLO" || got[wsStderr] != "err" {
		t.Fatalf("channels %q", got)
	}
	if st := decodeStatus(t, got[wsError]); st.Status != statusSuccess {
		t.Fatalf("status %q", got[wsError])
	}
}

func TestExecWebSocketBase64V4ReportsTheExitCode(t *testing.T) {
	s := newServer(t, Config{}, &fakeRuntime{exec: func(_ context.Context, _ string, _ []string, stdin io.Reader, stdout, _ io.WriteCloser, _ bool, _ <-chan TermSize) error {
		if stdin != nil {
			return errors.New("stdin was not asked for")
		}
		io.WriteString(stdout, "out\x00\xff")
		return ExitError{Code: 7}
	}})
	c := dialWS(t, execURL(t, s, &runtimeapi.ExecRequest{ContainerId: "c1", Cmd: []string{"x"}, Stdout: true}), wsBase64V4)
	got := c.readChannels(t)
	if got[wsStdout] != "out\x00\xff" {
		t.Fatalf("stdout %q", got[wsStdout])
	}
	st := decodeStatus(t, got[wsError])
	if st.Reason != reasonNonZeroExitCode || st.Details.Causes[0].Message != "7" {
		t.Fatalf("status %q", got[wsError])
	}
}

func TestExecWebSocketResize(t *testing.T) {
	s := newServer(t, Config{}, &fakeRuntime{exec: func(_ context.Context, _ string, _ []string, _ io.Reader, stdout, _ io.WriteCloser, _ bool, resize <-chan TermSize) error {
		size := <-resize
		fmt.Fprintf(stdout, "%dx%d", size.Width, size.Height)
		return nil
	}})
	c := dialWS(t, execURL(t, s, &runtimeapi.ExecRequest{ContainerId: "c1", Cmd: []string{"sh"}, Stdout: true, Tty: true}), wsBinaryV4)
	c.send(t, wsResize, []byte(`{"Width":100,"Height":40}`))
	if got := c.readChannels(t); got[wsStdout] != "100x40" {
		t.Fatalf("channels %q", got)
	}
}
