package shim

import (
	"fmt"
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

var shimComm = []byte("berthd-shim\x00")

// EnvShim is set by Launch. A process started with it is a shim and runs
// as one from this package's initialisation: it waits for its container
// on its control pipe (spare_linux.go).
const EnvShim = "_BERTH_SHIM"

// The shim takes over from this package's initialisation, not from main,
// as the init stage does in pkg/runtime: the packages a large program
// initialises after this one (for berthd its image, registry, network and
// HTTP stacks, about 0.7 MiB of heap and 3 ms) are never initialised in
// a process that lives as long as its container, once per container.
func init() {
	if v := os.Getenv(envRebirth); v != "" {
		// A shim's next image (rebirth_linux.go).
		os.Unsetenv(envRebirth)
		becomeShim()
		fd, err := strconv.Atoi(v)
		if err != nil {
			fmt.Fprintln(os.Stderr, "shim:", err)
			os.Exit(1)
		}
		runOffMain(func() error {
			if err := resume(fd); err != nil {
				return fmt.Errorf("shim: %w", err)
			}
			return nil
		})
	}
	if os.Getenv(EnvShim) == "" {
		return
	}
	os.Unsetenv(EnvShim)
	becomeShim()
	dir, cfg, err := awaitContainer()
	if err == errLauncherGone {
		// Nobody will hand us a container (the launcher exited).
		os.Exit(0)
	}
	if err != nil {
		// Before the container's log is our stderr: say it where
		// Launch reads.
		fmt.Fprint(os.NewFile(readyFd, "ready"), readyErrorLine(fmt.Errorf("shim: %w", err)))
		os.Exit(1)
	}
	runOffMain(func() error { return Main(dir, cfg) })
}

// runOffMain runs a shim's life, fn, and exits with its outcome. Not on
// the calling goroutine: during package initialisation it is locked to
// the main thread, and every time it woke up (for each request) the
// scheduler would have to hand that thread the processor. It waits here
// for good instead.
func runOffMain(fn func() error) {
	go func() {
		if err := fn(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}()
	select {}
}

func becomeShim() {
	// The runtime settings (shimRuntimeEnv) are for this process only,
	// not for what it starts.
	os.Unsetenv("GOMAXPROCS")
	os.Unsetenv("GODEBUG")
	// Executed as /proc/self/fd/N (the sealed copy), the process would
	// show as "N" in ps and top.
	_ = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&shimComm[0])), 0, 0, 0)
}
