package cri

import (
	"bytes"
	"context"
	"errors"
	"io"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// maxExecSyncOutput bounds each of ExecSync's stdout and stderr, as
// containerd does, so a chatty probe cannot fill the daemon's memory or
// pass gRPC's message limit.
const maxExecSyncOutput = 4 << 20

// ExecSync runs a command in a running container and answers its output
// and exit code. A command still running at the timeout is killed and
// the call fails with DeadlineExceeded, as containerd's.
func (s *runtimeService) ExecSync(ctx context.Context, req *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	c, err := s.podContainer(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	if len(req.GetCmd()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "a command is required")
	}
	if !c.State.Running {
		return nil, status.Errorf(codes.FailedPrecondition, "container %s is not running", c.ID)
	}
	if t := req.GetTimeout(); t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(t)*time.Second)
		defer cancel()
	}
	stdout := &cappedBuffer{max: maxExecSyncOutput}
	stderr := &cappedBuffer{max: maxExecSyncOutput}
	code, err := runExec(ctx, s.b, c.ID, req.GetCmd(), execStreams{stdout: stdout, stderr: stderr})
	if errors.Is(err, errExecTimeout) {
		return nil, status.Errorf(codes.DeadlineExceeded, "failed to exec in container %s: timeout %ds exceeded: %v", c.ID, req.GetTimeout(), context.DeadlineExceeded)
	}
	if err != nil {
		return nil, grpcError(err)
	}
	return &runtimeapi.ExecSyncResponse{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: int32(code)}, nil
}

// cappedBuffer keeps the first max bytes written and drops the rest.
type cappedBuffer struct {
	bytes.Buffer
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

var _ io.Writer = (*cappedBuffer)(nil)

// Exec checks the request and answers the streaming URL that runs it.
func (s *runtimeService) Exec(ctx context.Context, req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	if err := s.checkStreams(ctx, req.GetContainerId(), req.GetStdin(), req.GetStdout(), req.GetStderr(), req.GetTty()); err != nil {
		return nil, err
	}
	if len(req.GetCmd()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "a command is required")
	}
	if s.streams == nil {
		return nil, status.Error(codes.Unavailable, "the streaming server is not running")
	}
	resp, err := s.streams.GetExec(req)
	return resp, grpcError(err)
}

// Attach checks the request and answers the streaming URL that attaches.
func (s *runtimeService) Attach(ctx context.Context, req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	if err := s.checkStreams(ctx, req.GetContainerId(), req.GetStdin(), req.GetStdout(), req.GetStderr(), req.GetTty()); err != nil {
		return nil, err
	}
	if s.streams == nil {
		return nil, status.Error(codes.Unavailable, "the streaming server is not running")
	}
	resp, err := s.streams.GetAttach(req)
	return resp, grpcError(err)
}

// checkStreams is kubelet's check of an exec or attach: a running
// container, at least one stream, and no stderr beside a TTY (a terminal
// has one output).
func (s *runtimeService) checkStreams(ctx context.Context, id string, stdin, stdout, stderr, tty bool) error {
	c, err := s.podContainer(ctx, id)
	if err != nil {
		return err
	}
	switch {
	case !c.State.Running:
		return status.Errorf(codes.FailedPrecondition, "container %s is not running", c.ID)
	case !stdin && !stdout && !stderr:
		return status.Error(codes.InvalidArgument, "one of stdin, stdout, or stderr must be set")
	case tty && stderr:
		return status.Error(codes.InvalidArgument, "tty and stderr cannot both be true")
	}
	return nil
}

// PortForward checks the sandbox and answers the streaming URL that
// forwards its ports.
func (s *runtimeService) PortForward(ctx context.Context, req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	sb, err := s.sandbox(ctx, req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	if !sb.State.Running {
		return nil, status.Errorf(codes.FailedPrecondition, "pod sandbox %s is not running", sb.ID)
	}
	if s.streams == nil {
		return nil, status.Error(codes.Unavailable, "the streaming server is not running")
	}
	resp, err := s.streams.GetPortForward(req)
	return resp, grpcError(err)
}
