package shim

import (
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// reapOrphans collects zombies that were reparented to the shim (it is a
// child subreaper), which happens to the orphans of a container that
// shares the host's PID namespace. Children the shim started itself are
// waited for by their own goroutines; a zombie is taken as an orphan only
// when it is still unreaped on the next sweep, so the shim never steals an
// exit status that one of those goroutines is about to collect.
func reapOrphans(stop <-chan struct{}) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGCHLD)
	defer signal.Stop(sigs)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	self := strconv.Itoa(os.Getpid())
	seen := map[int]bool{}
	// A sweep first: a reborn shim may have been handed zombies whose
	// SIGCHLD its previous image took.
	pending := true
	for {
		select {
		case <-stop:
			return
		case <-sigs:
			pending = true
		case <-tick.C:
			if !pending && len(seen) == 0 {
				continue
			}
			pending = false
			now := zombieChildren(self)
			for pid := range now {
				if seen[pid] {
					var ws unix.WaitStatus
					_, _ = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
					delete(now, pid)
				}
			}
			seen = now
		}
	}
}

// zombieChildren lists the zombie processes whose parent is the shim.
func zombieChildren(self string) map[int]bool {
	out := map[int]bool{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[0] == "Z" && f[1] == self {
			out[pid] = true
		}
	}
	return out
}
