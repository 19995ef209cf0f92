package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/client"
)

// procSample is what the load, scale and soak scenarios watch of a
// process: its resident memory and its open files.
type procSample struct {
	rss int64 // bytes (VmRSS)
	fds int
}

// sampleProc reads pid's VmRSS and counts its fds; zero when it is gone.
func sampleProc(pid int) procSample {
	var s procSample
	if pid <= 0 {
		return s
	}
	s.rss = statusKiB(pid, "VmRSS:") << 10
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	s.fds = len(ents)
	return s
}

// statusKiB is the kB figure of a field of /proc/pid/status.
func statusKiB(pid int, field string) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == field {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

// pssKiB is the proportional set size of pid (smaps_rollup), the honest
// share of memory a process adds when its pages are shared with others.
func pssKiB(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "Pss:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

// settle samples the daemon the same way each time: idle connections
// closed on both sides and the Go heap collected as far as the runtime
// wants, so that two samples differ by what the daemon keeps, not by
// what a client left open a moment ago.
func (d *daemon) settle(more ...*client.Client) procSample {
	for _, c := range append(more, d.cli) {
		if c != nil {
			c.Close() // closes the idle keep-alive connections only
		}
	}
	time.Sleep(500 * time.Millisecond)
	return sampleProc(d.pid())
}

// growth formats the change from a to b of a figure, e.g. "+3 (41→44)".
func growth(a, b int64, unit func(int64) string) string {
	sign := "+"
	if b < a {
		sign = "-"
	}
	diff := b - a
	if diff < 0 {
		diff = -diff
	}
	return fmt.Sprintf("%s%s (%s→%s)", sign, unit(diff), unit(a), unit(b))
}

func mib(n int64) string { return fmt.Sprintf("%.1fM", float64(n)/(1<<20)) }

func count(n int64) string { return strconv.FormatInt(n, 10) }

// goroutines is the daemon's goroutine count as /info reports it.
func goroutines(d *daemon) int {
	ctx, cancel := ctx30()
	defer cancel()
	r, err := d.cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return -1
	}
	return r.Info.NGoroutines
}

// cpuTime is the user and system CPU time pid has used (with its
// waited-for children's).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	var ticks int64
	for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime
		n, _ := strconv.ParseInt(f[i], 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}
