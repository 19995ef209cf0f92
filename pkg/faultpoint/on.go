//go:build berth_faults

package faultpoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// Enabled reports whether the binary was built with the hook.
const Enabled = true

// armed is the point this process dies at, read once from the environment.
var armed = parse(os.Getenv(EnvVar))

type target struct {
	name  string
	count int64
	hits  atomic.Int64
}

// parse reads name[:count]; a count below 1 or unreadable is 1.
func parse(v string) *target {
	if v == "" {
		return nil
	}
	name, n, _ := strings.Cut(v, ":")
	count, err := strconv.ParseInt(n, 10, 64)
	if err != nil || count < 1 {
		count = 1
	}
	return &target{name: name, count: count}
}

// Hit SIGKILLs the process when name is the armed point, on its
// count-th hit.
func Hit(name string) {
	t := armed
	if t == nil || t.name != name || t.hits.Add(1) != t.count {
		return
	}
	fmt.Fprintf(os.Stderr, "faultpoint: %s hit (pid %d), SIGKILL\n", name, os.Getpid())
	if os.Getpid() == 1 {
		// The init of a PID namespace (a container's init stage) is
		// immune to signals sent from inside its namespace, its own
		// SIGKILL included: it ends at once instead, with no deferred
		// code run, and the status a SIGKILL is reported as.
		syscall.Exit(128 + int(syscall.SIGKILL))
	}
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way; nothing after the point may run
}

// Env is the environment entry that arms the same point in a child
// process (a shim, a stage), or nil when none is armed.
func Env() []string {
	if v := os.Getenv(EnvVar); v != "" {
		return []string{EnvVar + "=" + v}
	}
	return nil
}
