package shim_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/shim"
)

// shimImage reads from the shim's environment how many times it has
// re-executed itself (rebirth_linux.go): 0 for the image Launch started.
func shimImage(t *testing.T, pid int) int {
	t.Helper()
	var b []byte
	var err error
	// While the shim is in its execve, its other threads exit and the
	// exec'ing one takes over the PID: /proc/<pid> answers ESRCH for that
	// moment, which is longer on a loaded machine. Not an exit: wait.
	for i := 0; i < 200; i++ {
		if b, err = os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid)); !errors.Is(err, syscall.ESRCH) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("shim %d: %v", pid, err)
	}
	for _, kv := range bytes.Split(b, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("_BERTH_SHIM_IMAGE=")); ok {
			n, _ := strconv.Atoi(string(v))
			return n
		}
	}
	return 0
}

// startState starts the container and returns its state.
func startState(ctx context.Context, t *testing.T, c *shim.Client) shim.Response {
	t.Helper()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := c.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// startReborn starts the container and waits for its shim's first
// rebirth, a second later; it returns the state from before.
func startReborn(ctx context.Context, t *testing.T, c *shim.Client) shim.Response {
	t.Helper()
	st := startState(ctx, t, c)
	awaitImage(t, st.ShimPid, 1)
	return st
}

// readUntil reads a's output until it holds marker, and returns it.
func readUntil(t *testing.T, a *shim.Stream, marker, what string) string {
	t.Helper()
	var out strings.Builder
	for !strings.Contains(out.String(), marker) {
		_, p, err := a.Next()
		if err != nil {
			t.Fatalf("%s: %q %v", what, out.String(), err)
		}
		out.Write(p)
	}
	return out.String()
}

// awaitImage waits until the shim has been reborn n times in all. An
// idle shim is reborn a second after its last request.
func awaitImage(t *testing.T, pid, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for shimImage(t, pid) < n {
		if time.Now().After(deadline) {
			t.Fatalf("shim %d: still image %d after 10 s, want %d", pid, shimImage(t, pid), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// openFiles lists what the process has open, sorted, without the
// descriptor numbers (a new image may number them otherwise).
func openFiles(t *testing.T, pid int) []string {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name()))
		out = append(out, target)
	}
	sort.Strings(out)
	return out
}

func readLog(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e struct{ Log, Stream string }
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		got = append(got, e.Stream+":"+e.Log)
	}
	return got
}

// An idle shim re-executes itself and goes on as before: the wait and
// events connections taken by the first image are answered by a later
// one, the line half logged before a rebirth is completed after it, stdin
// and exec (which needs the spec the new image has not decoded) work, and
// every rebirth after requests leaves the same descriptors open.
func TestShimRebornWhenIdle(t *testing.T) {
	c, dir := launch(t, sh(t, `printf 'half '; read x; echo "$x"; echo line2; exec sleep 600`), func(cfg *shim.Config) {
		cfg.OpenStdin = true
		cfg.ImageLife = time.Millisecond
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st := startState(ctx, t, c)
	waited := make(chan *shim.Exit, 1)
	go func() {
		ex, err := c.Wait(ctx)
		if err != nil {
			t.Errorf("wait: %v", err)
		}
		waited <- ex
	}()
	events := make(chan shim.Event, 8)
	go func() {
		if err := c.Events(ctx, func(e shim.Event) bool { events <- e; return true }); err != nil {
			t.Errorf("events: %v", err)
		}
		close(events)
	}()
	awaitImage(t, st.ShimPid, 1)

	s, err := c.Exec(ctx, "e1", specs.Process{Args: []string{"sh", "-c", "echo in-exec; exit 7"}, Env: []string{"PATH=/bin"}, Cwd: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if out, _, code, err := s.Collect(); err != nil || out != "in-exec\n" || code != 7 {
		t.Fatalf("exec after rebirth: %q %d %v", out, code, err)
	}
	a, err := c.Attach(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(a, "whole\n")
	if out := readUntil(t, a, "line2\n", "attach after rebirth"); out != "whole\nline2\n" {
		t.Fatalf("attach after rebirth: %q", out)
	}
	a.Close()

	// The exec and the attach were requests: the shim is reborn again,
	// and without the attach connection that the client closed.
	// An image that answers has set itself up: compare what the second
	// and the third keep open.
	awaitImage(t, st.ShimPid, 2)
	if now, err := c.State(ctx); err != nil || now.Status != "running" || now.Pid != st.Pid || now.ShimPid != st.ShimPid {
		t.Fatalf("state after rebirths: %+v %v, was %+v", now, err, st)
	}
	time.Sleep(100 * time.Millisecond)
	files := openFiles(t, st.ShimPid)
	// Requests that allocate little do not make a rebirth; an exec does.
	for i := 0; i < 3; i++ {
		if _, err := c.State(ctx); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(1500 * time.Millisecond)
	if n := shimImage(t, st.ShimPid); n != 2 {
		t.Fatalf("reborn (image %d) after state requests only", n)
	}
	s, err = c.Exec(ctx, "e2", specs.Process{Args: []string{"true"}, Env: []string{"PATH=/bin"}, Cwd: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, code, err := s.Collect(); err != nil || code != 0 {
		t.Fatalf("second exec: %d %v", code, err)
	}
	awaitImage(t, st.ShimPid, 3)
	if _, err := c.State(ctx); err != nil {
		t.Fatal(err)
	}
	// The server's end of a request's connection closes just after the
	// client has its answer: allow it a moment.
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		now := openFiles(t, st.ShimPid)
		if strings.Join(now, " ") == strings.Join(files, " ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("open after the third rebirth:\n%v\nafter the second:\n%v", now, files)
		}
	}
	if raw, err := c.Stats(ctx); err != nil || len(raw) == 0 {
		t.Fatalf("stats after rebirths: %s %v", raw, err)
	}
	if err := c.Kill(ctx, syscall.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	if ex := <-waited; ex == nil || ex.Code != 137 {
		t.Fatalf("wait across rebirths: %+v", ex)
	}
	var last shim.Event
	for e := range events {
		last = e
	}
	if last.Type != "exit" || last.Exit == nil || last.Exit.Code != 137 {
		t.Fatalf("last event across rebirths: %+v", last)
	}
	if got := readLog(t, filepath.Join(dir, "container.log")); strings.Join(got, "|") != "stdout:half whole\n|stdout:line2\n" {
		t.Fatalf("log across rebirths: %q", got)
	}
}

// A terminal container keeps its pty master across a rebirth: resize and
// attach reach it.
func TestShimRebornKeepsTerminal(t *testing.T) {
	b := sh(t, `read x; stty size; echo "[$x]"; exec sleep 600`)
	b.Spec.Process.Terminal = true
	c, _ := launch(t, b, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	startReborn(ctx, t, c)
	if err := c.Resize(ctx, "", 81, 27); err != nil {
		t.Fatal(err)
	}
	a, err := c.Attach(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	fmt.Fprint(a, "go\n")
	if out := readUntil(t, a, "[go]", "terminal after rebirth"); !strings.Contains(out, "27 81") {
		t.Fatalf("terminal size after rebirth: %q", out)
	}
	if err := c.Kill(ctx, syscall.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	if ex, err := c.Wait(ctx); err != nil || ex.Code != 137 {
		t.Fatalf("exit %+v %v", ex, err)
	}
}

// A container that exits on its own while its shim is a later image
// has its status recorded by that image.
func TestShimRebornRecordsExit(t *testing.T) {
	c, dir := launch(t, sh(t, "read x; exit 9"), func(cfg *shim.Config) { cfg.OpenStdin = true })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	startReborn(ctx, t, c)
	a, err := c.Attach(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	a.CloseStdin()
	ex, err := c.Wait(ctx)
	a.Close()
	if err != nil || ex.Code != 9 {
		t.Fatalf("exit %+v %v", ex, err)
	}
	if onDisk, err := shim.ReadExit(dir); err != nil || onDisk.Code != 9 {
		t.Fatalf("exit.json %+v %v", onDisk, err)
	}
}

// ignoresTerm reads from /proc whether the process ignores SIGTERM.
func ignoresTerm(t *testing.T, pid int) bool {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "SigIgn:"); ok {
			mask, _ := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return mask&(1<<(syscall.SIGTERM-1)) != 0
		}
	}
	t.Fatalf("no SigIgn in /proc/%d/status", pid)
	return false
}

// A SIGTERM for the shim (pkill berthd matches it too) does not end it,
// and the container's processes, started after the shim ignored it, get
// the default disposition back: docker stop must reach them.
func TestShimSurvivesSIGTERM(t *testing.T) {
	c, _ := launch(t, sh(t, "exec sleep 600"), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := startState(ctx, t, c)
	if err := syscall.Kill(st.ShimPid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if now, err := c.State(ctx); err != nil || now.Status != "running" {
		t.Fatalf("after SIGTERM to the shim: %+v %v", now, err)
	}
	if !ignoresTerm(t, st.ShimPid) {
		t.Fatal("the shim does not ignore SIGTERM")
	}
	if ignoresTerm(t, st.Pid) {
		t.Fatal("the container's process inherited the shim's ignored SIGTERM")
	}
	s, err := c.Exec(ctx, "e", specs.Process{Args: []string{"sh", "-c", "grep SigIgn /proc/self/status"}, Env: []string{"PATH=/bin"}, Cwd: "/"})
	if err != nil {
		t.Fatal(err)
	}
	out, _, code, err := s.Collect()
	if err != nil || code != 0 {
		t.Fatalf("exec: %q %d %v", out, code, err)
	}
	mask, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(out, "SigIgn:")), 16, 64)
	if mask&(1<<(syscall.SIGTERM-1)) != 0 {
		t.Fatalf("an exec'd process inherited the shim's ignored SIGTERM: %q", out)
	}
}

// A client attached while the container writes on is handed over with
// its connection: across the rebirth it and the log get every line once,
// in order, none lost or doubled.
func TestShimRebornWhileOutputFlows(t *testing.T) {
	c, dir := launch(t, sh(t, `i=0; while true; do echo $i; i=$((i+1)); sleep 0.01; done`), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := c.Attach(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	st := startState(ctx, t, c)
	var attached strings.Builder
	frames := make(chan []byte, 1024)
	go func() {
		defer close(frames)
		for {
			_, p, err := a.Next()
			if err != nil {
				return
			}
			frames <- p
		}
	}()
	// Busy output may put the rebirth off, but not for long.
	deadline := time.After(15 * time.Second)
	for shimImage(t, st.ShimPid) < 1 {
		select {
		case p := <-frames:
			attached.Write(p)
		case <-deadline:
			t.Fatal("no rebirth in 15 s of output")
		}
	}
	for end := time.After(500 * time.Millisecond); ; {
		select {
		case p := <-frames:
			attached.Write(p)
			continue
		case <-end:
		}
		break
	}
	if err := c.Kill(ctx, syscall.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	for p := range frames {
		attached.Write(p)
	}
	lines := strings.Split(strings.TrimSuffix(attached.String(), "\n"), "\n")
	for i, l := range lines {
		if l != strconv.Itoa(i) {
			t.Fatalf("attached output, line %d: %q (of %d lines)", i, l, len(lines))
		}
	}
	logged := readLog(t, filepath.Join(dir, "container.log"))
	if len(logged) < len(lines) {
		t.Fatalf("%d lines logged, %d seen attached", len(logged), len(lines))
	}
	for i, l := range logged {
		if l != "stdout:"+strconv.Itoa(i)+"\n" {
			t.Fatalf("log line %d: %q (of %d)", i, l, len(logged))
		}
	}
}
