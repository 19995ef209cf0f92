package main

// Issue 20's figures: the container lifecycle at the API (no CLI in the
// way), beside the runtime's own floor measured in the same run
// (pkg/runtime's BenchmarkCreateToExit and BenchmarkExecTrue), and, for
// berthd, where a start's and an exec's milliseconds go: the median of
// each phase its debug log reports (pkg/phases).

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// lifecycleFigures are medians in milliseconds, and rates per second.
type lifecycleFigures struct {
	startNone, startBridge, exec, stop, runRm float64
	seqRate, parRate                          float64
}

// api is a thin Engine API client for one engine.
type api struct{ c *http.Client }

func (a api) do(method, path string, body any) ([]byte, int, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://d"+path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.c.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusNotModified {
		return b, resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	return b, resp.StatusCode, err
}

func (a api) create(cmd []string, network string, autoRemove bool) (string, error) {
	b, _, err := a.do("POST", "/containers/create", map[string]any{
		"Image": "lifebench", "Cmd": cmd,
		"HostConfig": map[string]any{"NetworkMode": network, "AutoRemove": autoRemove},
	})
	if err != nil {
		return "", err
	}
	var r struct{ Id string }
	return r.Id, json.Unmarshal(b, &r)
}

// timedRuns runs f n times, a pause between, and returns the median in ms.
func timedRuns(n int, f func(i int) (time.Duration, error)) (float64, error) {
	var ds []time.Duration
	for i := 0; i < n; i++ {
		d, err := f(i)
		if err != nil {
			return 0, err
		}
		ds = append(ds, d)
		time.Sleep(50 * time.Millisecond)
	}
	return float64(median(ds).Microseconds()) / 1000, nil
}

// startFigure is POST /containers/{id}/start of n created containers
// (sleep), the median.
func (a api) startFigure(n int, network string) (float64, []string, error) {
	var ids []string
	for i := 0; i < n; i++ {
		id, err := a.create([]string{"sleep", "1000"}, network, false)
		if err != nil {
			return 0, ids, err
		}
		ids = append(ids, id)
	}
	ms, err := timedRuns(n, func(i int) (time.Duration, error) {
		t0 := time.Now()
		_, _, err := a.do("POST", "/containers/"+ids[i]+"/start", nil)
		return time.Since(t0), err
	})
	return ms, ids, err
}

// runRm is what `docker run --rm true` asks: create, wait for removal,
// start, and the wait's answer.
func (a api) runRm(network string) (time.Duration, error) {
	t0 := time.Now()
	id, err := a.create([]string{"true"}, network, true)
	if err != nil {
		return 0, err
	}
	waited := make(chan error, 1)
	go func() {
		_, _, err := a.do("POST", "/containers/"+id+"/wait?condition=removed", nil)
		waited <- err
	}()
	// The wait must be registered before the start (the CLI does the same).
	time.Sleep(time.Millisecond)
	if _, _, err := a.do("POST", "/containers/"+id+"/start", nil); err != nil {
		return 0, err
	}
	if err := <-waited; err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

func measureLifecycle(e engine, n int, network string) (lifecycleFigures, error) {
	var f lifecycleFigures
	l, err := startLoaded(e, "bench-life-", "lifebench:latest")
	if err != nil {
		return f, err
	}
	defer l.close()
	a := api{client(l.r.sock, 8)}
	var all []string
	defer func() {
		for _, id := range all {
			a.do("DELETE", "/containers/"+id+"?force=1", nil)
		}
	}()
	// One start first: it is not counted (spares, caches).
	if _, ids, err := a.startFigure(1, "none"); err != nil {
		return f, err
	} else {
		all = append(all, ids...)
	}
	var ids []string
	if f.startNone, ids, err = a.startFigure(n, "none"); err != nil {
		return f, err
	}
	all = append(all, ids...)
	if network != "" {
		if f.startBridge, ids, err = a.startFigure(n, network); err != nil {
			return f, err
		}
		all = append(all, ids...)
	}
	// Exec of true, attached, to the end of its stream.
	target := ids[0]
	if f.exec, err = timedRuns(n, func(int) (time.Duration, error) {
		b, _, err := a.do("POST", "/containers/"+target+"/exec", map[string]any{"Cmd": []string{"true"}, "AttachStdout": true, "AttachStderr": true})
		if err != nil {
			return 0, err
		}
		var r struct{ Id string }
		json.Unmarshal(b, &r)
		t0 := time.Now()
		_, _, err = a.do("POST", "/exec/"+r.Id+"/start", map[string]any{"Detach": false, "Tty": false})
		return time.Since(t0), err
	}); err != nil {
		return f, err
	}
	// Stop of a process that exits on SIGTERM.
	var stoppers []string
	for i := 0; i < n; i++ {
		id, err := a.create([]string{"sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"}, "none", false)
		if err != nil {
			return f, err
		}
		all = append(all, id)
		if _, _, err := a.do("POST", "/containers/"+id+"/start", nil); err != nil {
			return f, err
		}
		stoppers = append(stoppers, id)
	}
	time.Sleep(300 * time.Millisecond) // the traps are set
	if f.stop, err = timedRuns(n, func(i int) (time.Duration, error) {
		t0 := time.Now()
		_, _, err := a.do("POST", "/containers/"+stoppers[i]+"/stop?t=10", nil)
		return time.Since(t0), err
	}); err != nil {
		return f, err
	}
	if f.runRm, err = timedRuns(n, func(int) (time.Duration, error) { return a.runRm("none") }); err != nil {
		return f, err
	}
	f.seqRate = 1000 / f.runRm
	// 4 clients at once, each doing run --rm in a loop.
	const clients, each = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	t0 := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := a.runRm("none"); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return f, err
	}
	f.parRate = clients * each / time.Since(t0).Seconds()
	return f, nil
}

// phaseMedians starts a debug-mode berthd, times n starts and n execs,
// and returns the median of each phase its log reports, in log order.
func phaseMedians(bin string, n int) (start, exec string, err error) {
	e := engine{name: "berthd-debug", bin: bin, args: func(root string) []string { return append(berthArgs(root), "-D") }}
	l, err := startLoaded(e, "bench-phases-", "lifebench:latest")
	if err != nil {
		return "", "", err
	}
	defer l.close()
	a := api{client(l.r.sock, 2)}
	// A first start is not counted: it seals the binary and makes the
	// first spare shim.
	_, ids, err := a.startFigure(n+1, "none")
	defer func() {
		for _, id := range ids {
			a.do("DELETE", "/containers/"+id+"?force=1", nil)
		}
	}()
	if err != nil {
		return "", "", err
	}
	for i := 0; i < n; i++ {
		b, _, err := a.do("POST", "/containers/"+ids[0]+"/exec", map[string]any{"Cmd": []string{"true"}, "AttachStdout": true})
		if err != nil {
			return "", "", err
		}
		var r struct{ Id string }
		json.Unmarshal(b, &r)
		if _, _, err := a.do("POST", "/exec/"+r.Id+"/start", map[string]any{}); err != nil {
			return "", "", err
		}
	}
	time.Sleep(200 * time.Millisecond)
	log, err := os.ReadFile(filepath.Join(l.root, "log"))
	if err != nil {
		return "", "", err
	}
	if i := bytes.Index(log, []byte("start phases: ")); i >= 0 {
		log = log[i+1:] // the first start's line
	}
	return medianPhases(log, "start phases: "), medianPhases(log, "exec phases: "), nil
}

var phaseRe = regexp.MustCompile(`(\(?[a-z+-]+\)?)=([0-9.]+)ms`)

// medianPhases reads the log lines with prefix and gives each phase's
// median, in the order the phases first appear.
func medianPhases(log []byte, prefix string) string {
	var order []string
	vals := map[string][]float64{}
	sc := bufio.NewScanner(bytes.NewReader(log))
	for sc.Scan() {
		line := sc.Text()
		i := strings.Index(line, prefix)
		if i < 0 {
			continue
		}
		rest := line[i+len(prefix):]
		if j := strings.IndexByte(rest, '"'); j >= 0 {
			rest = rest[:j]
		}
		for _, m := range phaseRe.FindAllStringSubmatch(rest, -1) {
			v, _ := strconv.ParseFloat(m[2], 64)
			if _, ok := vals[m[1]]; !ok {
				order = append(order, m[1])
			}
			vals[m[1]] = append(vals[m[1]], v)
		}
	}
	var b strings.Builder
	for _, k := range order {
		fmt.Fprintf(&b, " %s=%.2f", k, medianF(vals[k]))
	}
	return strings.TrimSpace(b.String())
}

// runtimeFloor runs pkg/runtime's benchmarks: create of true to running,
// and exec of true to its exit, in ms.
func runtimeFloor() (createToRunning, execToExit string, err error) {
	out, err := exec.Command("go", "test", "-run", "^$", "-bench", "BenchmarkCreateToExit|BenchmarkExecTrue", "-benchtime", "30x", "./pkg/runtime").CombinedOutput()
	if err != nil {
		return "", "", fmt.Errorf("runtime benchmark: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		for i := 1; i+1 < len(f); i++ {
			switch {
			case strings.HasPrefix(line, "BenchmarkCreateToExit") && f[i+1] == "ms-median-to-running":
				createToRunning = f[i]
			case strings.HasPrefix(line, "BenchmarkExecTrue") && f[i+1] == "ms-median-to-exit":
				execToExit = f[i]
			}
		}
	}
	return createToRunning, execToExit, nil
}

func lifecycleBenchFigures(engines []engine, n int) error {
	res, err := perEngine(engines, "lifecycle", func(e engine) (lifecycleFigures, error) {
		network := "bridge"
		if e.name == "dockerd" {
			network = "" // the benchmark's dockerd has no bridge
		}
		return measureLifecycle(e, n, network)
	})
	if err != nil {
		return err
	}
	fmt.Printf("%-34s (at the API, median of %d; busybox; --network none unless said)\n", "container lifecycle", n)
	rows := []struct {
		name, unit string
		get        func(lifecycleFigures) float64
		higher     bool
	}{
		{"POST start", "ms", func(f lifecycleFigures) float64 { return f.startNone }, false},
		{"POST start, default bridge", "ms", func(f lifecycleFigures) float64 { return f.startBridge }, false},
		{"POST exec start of true, attached", "ms", func(f lifecycleFigures) float64 { return f.exec }, false},
		{"POST stop (exits on SIGTERM)", "ms", func(f lifecycleFigures) float64 { return f.stop }, false},
		{"run --rm true: create..removed", "ms", func(f lifecycleFigures) float64 { return f.runRm }, false},
		{"run --rm, sequential", "/s", func(f lifecycleFigures) float64 { return f.seqRate }, true},
		{"run --rm, 4 clients in parallel", "/s", func(f lifecycleFigures) float64 { return f.parRate }, true},
	}
	for _, r := range rows {
		b := r.get(res["berthd"])
		line := fmt.Sprintf("%-34s %14s", r.name, fmt.Sprintf("%.2f %s", b, r.unit))
		if d, ok := res["dockerd"]; ok && r.get(d) > 0 {
			ratio := r.get(d) / b
			if r.higher {
				ratio = b / r.get(d)
			}
			line += fmt.Sprintf(" %14s %9.1fx", fmt.Sprintf("%.2f %s", r.get(d), r.unit), ratio)
		}
		fmt.Println(line)
	}
	if b := res["berthd"]; b.seqRate > 0 {
		fmt.Printf("%-34s %14s\n", "berthd parallel / sequential", fmt.Sprintf("%.2fx", b.parRate/b.seqRate))
	}
	if cr, ex, err := runtimeFloor(); err != nil {
		return err
	} else {
		fmt.Printf("%-34s %14s\n", "runtime floor: create -> running", cr+" ms")
		fmt.Printf("%-34s %14s\n", "runtime floor: exec true -> exit", ex+" ms")
	}
	start, execs, err := phaseMedians(engines[0].bin, n)
	if err != nil {
		return err
	}
	fmt.Printf("berthd start phases (median ms): %s\n", start)
	fmt.Printf("berthd exec phases (median ms):  %s\n", execs)
	return nil
}
