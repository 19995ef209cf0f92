package daemon

import (
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/runtime"
)

// A process that could not start is classified by the errno the runtime
// reported, never by its words; the words are dockerd's all the same.
func TestStartErrorByErrno(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		exitCode int
		userErr  bool
	}{
		{"not found", &runtime.Error{Msg: `exec: "x": executable file not found in $PATH`, Errno: syscall.ENOENT}, 127, true},
		{"no such file", fmt.Errorf("create: %w", &runtime.Error{Msg: `exec: "/x": stat /x: no such file or directory`, Errno: syscall.ENOENT}), 127, true},
		{"not executable", &runtime.Error{Msg: `exec: "/etc/passwd": permission denied`, Errno: syscall.EACCES}, 126, true},
		{"a directory", &runtime.Error{Msg: `exec: "/etc": is a directory`, Errno: syscall.EISDIR}, 126, true},
		{"apparmor profile missing", errAppArmorNotLoaded, 127, true},
		// The words alone, as before the runtime handed over errnos,
		// classify nothing.
		{"words without errno", errors.New(`exec: "x": executable file not found in $PATH`), 128, false},
		{"another failure", &runtime.Error{Msg: "cgroup: device or resource busy", Errno: syscall.EBUSY}, 128, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := exitCodeFor(tc.err); got != tc.exitCode {
				t.Errorf("exit code %d, want %d", got, tc.exitCode)
			}
			se := startError(tc.err)
			// The container records the start's failure as the client
			// got it (startLocked), with the same exit code.
			if got := exitCodeFor(se); got != tc.exitCode {
				t.Errorf("exit code of the start error %d, want %d", got, tc.exitCode)
			}
			if got := errdefs.Is(se, errdefs.InvalidParameter); got != tc.userErr {
				t.Errorf("startError %q: invalid parameter %v, want %v", se, got, tc.userErr)
			}
			if tc.userErr {
				want := "failed to create task for container: failed to create shim task: OCI runtime create failed: " + tc.err.Error() + ": unknown"
				if se.Error() != want {
					t.Errorf("startError %q, want dockerd's %q", se, want)
				}
			}
		})
	}
}
