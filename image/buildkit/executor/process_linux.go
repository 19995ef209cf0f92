package executor

import (
	"context"
	"errors"
	"os"
	"slices"
	"syscall"

	gatewaypb "github.com/moby/buildkit/frontend/gateway/pb"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/runtime"
)

// killSignal ends a step whose context is done; nothing is left for it
// to clean up that the executor does not.
const killSignal = unix.SIGKILL

// waitProcess waits for p's exit and returns its code as a shell reports
// it (128+N for a signal). Signals from BuildKit are forwarded to p; a
// done ctx runs kill and keeps waiting, so that the process is gone when
// this returns.
func waitProcess(ctx context.Context, p *os.Process, signals <-chan syscall.Signal, kill func()) (int, error) {
	type result struct {
		st  *os.ProcessState
		err error
	}
	exited := make(chan result, 1)
	go func() {
		st, err := p.Wait()
		exited <- result{st, err}
	}()
	cancelled := ctx.Done()
	for {
		select {
		case r := <-exited:
			if r.err != nil {
				return -1, r.err
			}
			if ws, ok := r.st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return 128 + int(ws.Signal()), nil
			}
			return r.st.ExitCode(), nil
		case sig := <-signals:
			_ = p.Signal(sig)
		case <-cancelled:
			kill()
			cancelled = nil
		}
	}
}

// exitError is BuildKit's form of a process's end: nil for a valid exit
// code, else an ExitError that the solver reports as "process ... did
// not complete successfully: exit code: N", wrapping the context's cause
// when the step was cancelled.
func exitError(ctx context.Context, code int, waitErr error, valid []int) error {
	if waitErr != nil {
		return &gatewaypb.ExitError{ExitCode: gatewaypb.UnknownExitStatus, Err: waitErr}
	}
	if valid == nil && code == 0 || slices.Contains(valid, code) {
		return nil
	}
	e := &gatewaypb.ExitError{ExitCode: uint32(code)}
	if ctx.Err() != nil {
		e.Err = errors.Join(context.Cause(ctx), errors.New(e.Error()))
	}
	return e
}

// notStarted is a process that could not start (no such executable,
// say) in BuildKit's terms: an exit without a status, as its runc
// executor reports runc's failure.
func notStarted(err error) error {
	return &gatewaypb.ExitError{ExitCode: gatewaypb.UnknownExitStatus, Err: err}
}

// withOOM marks a step's failure as out of memory when the kernel
// OOM-killed a process in its cgroup, as BuildKit's runc executor does:
// the solver then says so beside the exit code.
func withOOM(err error, ctr *runtime.Container) error {
	var ee *gatewaypb.ExitError
	if !errors.As(err, &ee) || ee.Err != nil {
		return err
	}
	cg, cgErr := ctr.Cgroup()
	if cgErr != nil {
		return err
	}
	if n, _ := cg.OOMKills(); n > 0 {
		ee.Err = syscall.ENOMEM
	}
	return err
}
