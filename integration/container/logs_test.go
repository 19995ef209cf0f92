package container

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// demux splits an stdcopy stream into stdout and stderr.
func demux(t *testing.T, b []byte) (stdout, stderr string) {
	t.Helper()
	var o, e strings.Builder
	for len(b) > 0 {
		if len(b) < 8 {
			t.Fatalf("short stdcopy header: %q", b)
		}
		n := int(binary.BigEndian.Uint32(b[4:8]))
		if len(b) < 8+n {
			t.Fatalf("short stdcopy frame")
		}
		switch b[0] {
		case 1:
			o.Write(b[8 : 8+n])
		case 2:
			e.Write(b[8 : 8+n])
		default:
			t.Fatalf("stream %d in stdcopy frame", b[0])
		}
		b = b[8+n:]
	}
	return o.String(), e.String()
}

// timestamped parses `docker logs -t` lines into time and text.
func timestamped(t *testing.T, out string) map[string]time.Time {
	t.Helper()
	m := map[string]time.Time{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.SplitN(l, " ", 2)
		if len(f) != 2 {
			t.Fatalf("line without timestamp: %q", l)
		}
		ts, err := time.Parse(time.RFC3339Nano, f[0])
		if err != nil {
			t.Fatalf("timestamp %q: %v", f[0], err)
		}
		m[f[1]] = ts
	}
	return m
}

func TestLogsOptions(t *testing.T) {
	setup(t, d)
	name := uniqueName(t, "l")
	docker(t, "run", "--name", name, "busybox", "sh", "-c", "for i in 1 2 3 4 5; do echo line$i; echo eline$i >&2; sleep 0.3; done")

	// The CLI keeps the streams apart.
	o, e, code := dockerRes(t, d, "logs", name)
	if code != 0 || o != "line1\nline2\nline3\nline4\nline5\n" || e != "eline1\neline2\neline3\neline4\neline5\n" {
		t.Fatalf("logs: %d stdout %q stderr %q", code, o, e)
	}
	// --tail counts lines of both streams, newest last.
	o, e, _ = dockerRes(t, d, "logs", "--tail", "2", name)
	if o != "line5\n" || e != "eline5\n" {
		t.Fatalf("--tail 2: %q %q", o, e)
	}
	if o, e, _ = dockerRes(t, d, "logs", "--tail", "0", name); o != "" || e != "" {
		t.Fatalf("--tail 0: %q %q", o, e)
	}
	// --timestamps prefixes RFC3339Nano times, in order.
	o, e, _ = dockerRes(t, d, "logs", "-t", name)
	ts := timestamped(t, o+e)
	if len(ts) != 10 {
		t.Fatalf("timestamps: %v", ts)
	}
	if !ts["line1"].Before(ts["line2"]) || !ts["line4"].Before(ts["line5"]) {
		t.Fatalf("timestamps out of order: %v", ts)
	}
	// --since and --until cut on those times (both inclusive in dockerd).
	// The two streams are read and stamped by separate copiers, so
	// eline3 may be stamped just before line3: cut around both (the
	// neighbouring lines are 300 ms away).
	first, last := ts["line3"], ts["eline3"]
	if last.Before(first) {
		first, last = last, first
	}
	since := first.Add(-time.Millisecond).Format(time.RFC3339Nano)
	until := last.Add(time.Millisecond).Format(time.RFC3339Nano)
	o, e, _ = dockerRes(t, d, "logs", "--since", since, name)
	if o != "line3\nline4\nline5\n" || e != "eline3\neline4\neline5\n" {
		t.Fatalf("--since: %q %q", o, e)
	}
	o, e, _ = dockerRes(t, d, "logs", "--until", until, name)
	if o != "line1\nline2\nline3\n" || e != "eline1\neline2\neline3\n" {
		t.Fatalf("--until: %q %q", o, e)
	}
	o, e, _ = dockerRes(t, d, "logs", "--since", since, "--until", until, name)
	if o != "line3\n" || e != "eline3\n" {
		t.Fatalf("--since --until: %q %q", o, e)
	}
	// Stream selection through the API.
	code, body := api(t, d, "GET", "/containers/"+name+"/logs?stdout=1", "")
	if so, se := demux(t, []byte(body)); code != 200 || so != "line1\nline2\nline3\nline4\nline5\n" || se != "" {
		t.Fatalf("stdout only: %d %q %q", code, so, se)
	}
	code, body = api(t, d, "GET", "/containers/"+name+"/logs?stderr=1&tail=2", "")
	// tail counts the lines of both streams before the selection (the
	// last two are line5 and eline5 in either order).
	if so, se := demux(t, []byte(body)); code != 200 || so != "" || se != "eline5\n" {
		t.Fatalf("stderr only, tail 2: %d %q %q", code, so, se)
	}
	code, body = api(t, d, "GET", "/containers/"+name+"/logs", "")
	if code != 400 || apiMessage(body) != "Bad parameters: you must choose at least one stream" {
		t.Fatalf("no stream chosen: %d %s", code, body)
	}
}

func TestLogsFollow(t *testing.T) {
	setup(t, d)
	name := uniqueName(t, "f")
	runD(t, d, "--name", name, "busybox", "sh", "-c", "i=0; while [ $i -lt 30 ]; do echo tick$i; i=$((i+1)); sleep 0.1; done")
	cmd := d.DockerCmd("logs", "-f", name)
	out := &syncBuffer{}
	cmd.Stdout = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer cmd.Process.Kill()
	// Lines arrive while the container writes.
	waitOutput(t, out, "tick3\n", 10*time.Second)
	if strings.Contains(out.String(), "tick29") {
		t.Fatal("follow saw the end before the container wrote it")
	}
	// And the follower ends when the container does, with everything.
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("logs -f: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("logs -f did not end with the container; got %q", out.String())
	}
	if n := strings.Count(out.String(), "tick"); n != 30 {
		t.Fatalf("logs -f got %d lines:\n%s", n, out.String())
	}

	// -f --tail 0 on a running container shows only new lines.
	name2 := uniqueName(t, "f2")
	runD(t, d, "--name", name2, "busybox", "sh", "-c", "echo old; sleep 600")
	time.Sleep(300 * time.Millisecond)
	cmd2 := d.DockerCmd("logs", "-f", "--tail", "0", name2)
	out2 := &syncBuffer{}
	cmd2.Stdout = out2
	cmd2.Start()
	defer cmd2.Process.Kill()
	time.Sleep(300 * time.Millisecond)
	docker(t, "stop", "-t", "0", name2)
	cmd2.Wait()
	if strings.Contains(out2.String(), "old") {
		t.Fatalf("--tail 0 showed old lines: %q", out2.String())
	}
}

func TestLogRotation(t *testing.T) {
	setup(t, d)
	name := uniqueName(t, "rot")
	docker(t, "run", "--name", name, "--log-opt", "max-size=1k", "--log-opt", "max-file=3", "busybox", "sh", "-c",
		"i=0; while [ $i -lt 400 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done")
	logPath := format(t, d, name, "{{.LogPath}}")
	dir := filepath.Dir(logPath)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var logs []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), filepath.Base(logPath)) {
			logs = append(logs, e.Name())
			fi, _ := e.Info()
			// A file holds at most max-size plus one record.
			if fi.Size() > 1024+200 {
				t.Errorf("%s is %d bytes with max-size=1k", e.Name(), fi.Size())
			}
		}
	}
	sort.Strings(logs)
	base := filepath.Base(logPath)
	if strings.Join(logs, " ") != base+" "+base+".1 "+base+".2" {
		t.Fatalf("log files %v, want %s, .1, .2", logs, base)
	}
	// docker logs reads across the rotated files, oldest first, and the
	// oldest lines are gone.
	out := docker(t, "logs", name)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.HasPrefix(lines[len(lines)-1], "line-399-") || strings.HasPrefix(lines[0], "line-0-") || len(lines) < 20 {
		t.Fatalf("logs across rotation: %d lines, first %q last %q", len(lines), lines[0], lines[len(lines)-1])
	}
	if got := format(t, d, name, `{{index .HostConfig.LogConfig.Config "max-size"}} {{index .HostConfig.LogConfig.Config "max-file"}} {{.HostConfig.LogConfig.Type}}`); got != "1k 3 json-file" {
		t.Fatalf("LogConfig: %s", got)
	}
}

func TestLogDrivers(t *testing.T) {
	setup(t, d)
	name := uniqueName(t, "local")
	docker(t, "run", "--name", name, "--log-driver", "local", "busybox", "sh", "-c", "echo out; echo err >&2")
	o, e, code := dockerRes(t, d, "logs", name)
	if code != 0 || o != "out\n" || e != "err\n" {
		t.Fatalf("local driver logs: %d %q %q", code, o, e)
	}
	name2 := uniqueName(t, "none")
	docker(t, "run", "--name", name2, "--log-driver", "none", "busybox", "echo", "x")
	_, e, code = dockerRes(t, d, "logs", name2)
	if code == 0 || !strings.Contains(e, "configured logging driver does not support reading") {
		t.Fatalf("none driver logs: %d %q", code, e)
	}
}
