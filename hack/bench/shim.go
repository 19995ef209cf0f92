package main

// Issue 5's figures: memory per running container, read from the
// smaps_rollup of the process that watches it (berthd's shim, dockerd's
// containerd-shim-runc-v2), with -shim-containers containers running at
// once so that code pages are shared as they are on a real host; and the
// runtime's time from create to the user process running and to its
// exit collected (pkg/runtime's BenchmarkCreateToExit).

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// shimMemory is the median over the running containers' shims, in KiB.
type shimMemory struct {
	rss, pss, dirty float64
	procs           int
}

func measureShimMemory(e engine, n int) (shimMemory, error) {
	var m shimMemory
	l, err := startLoaded(e, "bench-shim-", "shimbench:latest")
	if err != nil {
		return m, err
	}
	defer l.close()
	docker := dockerOn(l.r.sock, l.cli)
	var ids []string
	defer func() {
		if len(ids) > 0 {
			docker(append([]string{"rm", "-f"}, ids...)...)
		}
	}()
	for i := 0; i < n; i++ {
		id, err := docker("run", "-d", "--pull=never", "--network", "none", "shimbench", "sleep", "600")
		if err != nil {
			return m, err
		}
		ids = append(ids, id)
	}
	// Let every shim settle into waiting: a shim re-executes itself a
	// second after its last request (pkg/shim's rebirth), and its new
	// image gives back the code it ran a second after that.
	time.Sleep(3 * time.Second)
	var rss, pss, dirty []float64
	for _, id := range ids {
		out, err := docker("inspect", "-f", "{{.State.Pid}}", id)
		if err != nil {
			return m, err
		}
		shim, err := parentPid(out)
		if err != nil {
			return m, err
		}
		rollup := fmt.Sprintf("/proc/%d/smaps_rollup", shim)
		rss = append(rss, float64(statusField(rollup, "Rss:")))
		pss = append(pss, float64(statusField(rollup, "Pss:")))
		dirty = append(dirty, float64(statusField(rollup, "Private_Dirty:")))
	}
	return shimMemory{rss: medianF(rss), pss: medianF(pss), dirty: medianF(dirty), procs: len(ids)}, nil
}

func parentPid(pid string) (int, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name in parentheses may hold spaces: the fields after
	// its closing parenthesis are state, ppid, ...
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return 0, fmt.Errorf("bad stat for %s", pid)
	}
	return strconv.Atoi(f[1])
}

func shimFigures(engines []engine, n int) error {
	res, err := perEngine(engines, "shim", func(e engine) (shimMemory, error) { return measureShimMemory(e, n) })
	if err != nil {
		return err
	}
	fmt.Printf("%-34s (median over %d running containers)\n", "memory per running container", n)
	for _, f := range []struct {
		name string
		get  func(shimMemory) float64
	}{
		{"shim Rss", func(m shimMemory) float64 { return m.rss }},
		{"shim Pss", func(m shimMemory) float64 { return m.pss }},
		{"shim Private_Dirty", func(m shimMemory) float64 { return m.dirty }},
	} {
		b := f.get(res["berthd"]) / 1024
		line := fmt.Sprintf("%-34s %14s", f.name, fmt.Sprintf("%.2f MiB", b))
		if d, ok := res["dockerd"]; ok {
			line += fmt.Sprintf(" %14s %9.1fx", fmt.Sprintf("%.2f MiB", f.get(d)/1024), f.get(d)/1024/b)
		}
		fmt.Println(line)
	}
	// The runtime on its own: create of `true` to running and to its exit.
	out, err := exec.Command("go", "test", "-run", "^$", "-bench", "BenchmarkCreateToExit", "-benchtime", "30x", "./pkg/runtime").CombinedOutput()
	if err != nil {
		return fmt.Errorf("runtime benchmark: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(line, "BenchmarkCreateToExit") {
			continue
		}
		f := strings.Fields(line)
		for i := 1; i+1 < len(f); i++ {
			switch f[i+1] {
			case "ms-median-to-running":
				fmt.Printf("%-34s %14s\n", "runtime create -> running (true)", f[i]+" ms")
			case "ms-median-to-exit":
				fmt.Printf("%-34s %14s\n", "runtime create -> exit collected", f[i]+" ms")
			}
		}
	}
	return nil
}
