package runtime

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

const seals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE

// sealedExe is the sealed memfd copy that every shim, init and exec
// stage is executed from: of the stage binary when UseStageExecutable
// chose one, else of this binary. It is made once per process; a process
// that was itself executed from such a copy (the shim) reuses it without
// copying again.
var sealedExe = sync.OnceValues(func() (*os.File, error) {
	if f := inheritedSealedExe(); f != nil {
		return f, nil
	}
	waitStage()
	if stageCopy != nil {
		return stageCopy, nil
	}
	self, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, err
	}
	if s, err := unix.FcntlInt(self.Fd(), unix.F_GET_SEALS, 0); err == nil && s&seals == seals {
		return self, nil
	}
	defer self.Close()
	return sealedCopy(self)
})

// sealedCopy copies r into a new memfd and seals it against every change.
func sealedCopy(r io.Reader) (*os.File, error) {
	fd, err := unix.MemfdCreate("berthd-init", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	mem := os.NewFile(uintptr(fd), "memfd:berthd-init")
	// io.Copy between two files uses copy_file_range/sendfile: the copy
	// stays in the kernel.
	if _, err := io.Copy(mem, r); err != nil {
		mem.Close()
		return nil, fmt.Errorf("copy binary into memfd: %w", err)
	}
	if err := addSeals(mem); err != nil {
		mem.Close()
		return nil, fmt.Errorf("seal memfd: %w", err)
	}
	return mem, nil
}

// addSeals seals mem. The kernel refuses F_SEAL_WRITE with EBUSY while
// something else holds an extra reference on one of its pages (page
// migration or compaction does, for a moment, under memory pressure),
// after waiting a little itself; a refusal then is tried again for a few
// seconds rather than failing every container start of this process
// (sealedExe is made once).
func addSeals(mem *os.File) error {
	var err error
	for delay := 10 * time.Millisecond; ; delay *= 2 {
		_, err = unix.FcntlInt(mem.Fd(), unix.F_ADD_SEALS, seals)
		if err != unix.EBUSY || delay > 2*time.Second {
			return err
		}
		time.Sleep(delay)
	}
}

// SealedExecutable returns the sealed copy of the running binary, for
// callers (the daemon starting a shim) that want their children to run it.
func SealedExecutable() (*os.File, error) { return sealedExe() }

// EnvSealedExeFd names the descriptor of a sealed copy handed down by the
// parent (the daemon to its shims), so that a shim can run from the
// on-disk binary, whose pages it shares with the daemon and every other
// shim, and still start init stages only from the sealed copy.
const EnvSealedExeFd = "_BERTH_SEALED_EXE_FD"

func inheritedSealedExe() *os.File {
	v := os.Getenv(EnvSealedExeFd)
	if v == "" {
		return nil
	}
	os.Unsetenv(EnvSealedExeFd)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil
	}
	// Trust it only if it really is sealed against writes.
	if s, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0); err != nil || s&seals != seals {
		return nil
	}
	// Move it out of the low numbers: spawn lays the stage's descriptors
	// out over 0..6 before the kernel resolves /proc/self/fd/N.
	high, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 64)
	if err != nil {
		return nil
	}
	unix.Close(fd)
	return os.NewFile(uintptr(high), "memfd:berthd-init")
}
