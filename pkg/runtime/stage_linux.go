package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// StageStamp is set at link time (-X) to the same value in berthd and in
// cmd/berth-stage when one `make build` builds both. A stage binary is
// used only if its bytes carry this process's stamp: a daemon never hands
// its containers to a shim of another build, whose hand-over protocol
// may differ.
var StageStamp string

// stageCopy is the sealed copy of the stage binary that UseStageExecutable
// made; nil runs stages from this binary.
var stageCopy *os.File

// stagePending, when set, is closed once a UseStageExecutableInBackground
// has finished (chosen the stage binary or given up): the first launch
// waits for it, so that no shim is started from this binary while the
// stage binary is still being copied.
var stagePending chan struct{}

// ErrNoStageStamp is UseStageExecutable's answer in a binary built
// without a stamp (go build by hand): no stage binary can be verified.
var ErrNoStageStamp = errors.New("this binary carries no stage stamp (built without make)")

// UseStageExecutable makes path, a build of cmd/berth-stage, the program
// every shim, init and exec stage runs from, instead of this binary.
// Those processes only need pkg/runtime and pkg/shim: the small binary
// spares each of them the package initialisation of the whole daemon
// (gRPC, protobuf registries, Prometheus, reference regexps: milliseconds
// before the first line of a stage runs) and keeps the sealed in-memory
// copy a fifth of the size. Call it once, before the first container
// starts; on an error nothing changes.
func UseStageExecutable(path string) error {
	if StageStamp == "" {
		return ErrNoStageStamp
	}
	if stageCopy != nil {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	// Copied in the kernel and checked in the sealed copy, never held
	// on the heap: a 6 MB buffer read once at start would stay in the
	// daemon's resident memory until a garbage collection, which an
	// idle daemon may not run for a long time.
	mem, err := sealedCopy(f)
	if err != nil {
		return err
	}
	ok, err := containsStamp(mem, []byte(StageStamp))
	if err != nil || !ok {
		mem.Close()
		if err == nil {
			err = fmt.Errorf("%s is not from this build (stamp %s missing)", path, StageStamp)
		}
		return err
	}
	stageCopy = mem
	return nil
}

// UseStageExecutableInBackground is UseStageExecutable off the caller's
// path: the copy and the stamp scan take milliseconds that a daemon's
// start-up need not wait for (nothing launches a stage before it serves
// requests or restarts containers, and those launches wait for the copy).
// done, if not nil, gets UseStageExecutable's answer. Call it once, before
// anything launches a stage.
func UseStageExecutableInBackground(path string, done func(error)) {
	ch := make(chan struct{})
	stagePending = ch
	go func() {
		err := UseStageExecutable(path)
		close(ch)
		if done != nil {
			done(err)
		}
	}()
}

// waitStage waits for a UseStageExecutableInBackground in progress.
func waitStage() {
	if stagePending != nil {
		<-stagePending
	}
}

// containsStamp reads f in small pieces, each overlapping the last by
// the stamp's length, and reports whether stamp occurs in it.
func containsStamp(f *os.File, stamp []byte) (bool, error) {
	buf := make([]byte, 64<<10+len(stamp))
	var off int64
	for {
		n, err := f.ReadAt(buf, off)
		if bytes.Contains(buf[:n], stamp) {
			return true, nil
		}
		if err == io.EOF || n < len(buf) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		off += int64(n - len(stamp))
	}
}
