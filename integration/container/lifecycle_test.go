package container

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

func TestExitCodes(t *testing.T) {
	setup(t, d)
	if _, _, code := dockerRes(t, d, "run", "--rm", "busybox", "true"); code != 0 {
		t.Errorf("true: exit %d", code)
	}
	if _, _, code := dockerRes(t, d, "run", "--rm", "busybox", "sh", "-c", "exit 3"); code != 3 {
		t.Errorf("exit 3: exit %d", code)
	}
	// 125: the daemon refused the configuration.
	if _, errOut, code := dockerRes(t, d, "run", "--rm", "--restart", "bogus", "busybox", "true"); code != 125 {
		t.Errorf("bad config: exit %d %q", code, errOut)
	}
	// 126: not executable; 127: not found. The container stays, created,
	// with that exit code and the error.
	for _, c := range []struct {
		cmd  string
		code int
		msg  string
	}{{"/etc/passwd", 126, `exec: "/etc/passwd": permission denied`}, {"nosuchcmd", 127, `exec: "nosuchcmd": executable file not found in $PATH`}} {
		name := uniqueName(t, strconv.Itoa(c.code))
		_, errOut, code := dockerRes(t, d, "run", "--name", name, "busybox", c.cmd)
		if code != c.code || !strings.Contains(errOut, c.msg) {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", c.cmd, code, errOut, c.code, c.msg)
			continue
		}
		if got := format(t, d, name, "{{.State.Status}} {{.State.ExitCode}}"); got != "created "+strconv.Itoa(c.code) {
			t.Errorf("%s: state %q", c.cmd, got)
		}
		if got := format(t, d, name, "{{.State.Error}}"); !strings.Contains(got, c.msg) {
			t.Errorf("%s: State.Error %q", c.cmd, got)
		}
	}
}

func TestWaitConditions(t *testing.T) {
	setup(t, d)
	// docker wait prints the exit code of a running container once it exits.
	id := runD(t, d, "busybox", "sh", "-c", "sleep 0.5; exit 5")
	if got := strings.TrimSpace(docker(t, "wait", id)); got != "5" {
		t.Fatalf("docker wait: %q", got)
	}
	// not-running on an exited container answers at once.
	code, body := api(t, d, "POST", "/containers/"+id+"/wait?condition=not-running", "")
	if code != 200 || !strings.Contains(body, `"StatusCode":5`) {
		t.Fatalf("not-running: %d %s", code, body)
	}
	// next-exit waits for the next run to end.
	type res struct {
		code int
		body string
	}
	ch := make(chan res, 1)
	go func() {
		c, b := api(t, d, "POST", "/containers/"+id+"/wait?condition=next-exit", "")
		ch <- res{c, b}
	}()
	select {
	case r := <-ch:
		t.Fatalf("next-exit answered before any new exit: %d %s", r.code, r.body)
	case <-time.After(500 * time.Millisecond):
	}
	docker(t, "start", id)
	select {
	case r := <-ch:
		if r.code != 200 || !strings.Contains(r.body, `"StatusCode":5`) {
			t.Fatalf("next-exit: %d %s", r.code, r.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("next-exit never answered")
	}
	// removed waits until the container is gone.
	go func() {
		c, b := api(t, d, "POST", "/containers/"+id+"/wait?condition=removed", "")
		ch <- res{c, b}
	}()
	select {
	case r := <-ch:
		t.Fatalf("removed answered before removal: %d %s", r.code, r.body)
	case <-time.After(500 * time.Millisecond):
	}
	docker(t, "rm", id)
	select {
	case r := <-ch:
		if r.code != 200 || !strings.Contains(r.body, `"StatusCode":5`) {
			t.Fatalf("removed: %d %s", r.code, r.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("removed never answered")
	}
}

func TestKillSignals(t *testing.T) {
	setup(t, d)
	id := runD(t, d, "busybox", "sh", "-c", "trap 'echo usr1' USR1; trap 'echo usr2' USR2; trap 'echo hup' HUP; while true; do sleep 0.1; done")
	time.Sleep(300 * time.Millisecond)
	docker(t, "kill", "-s", "USR1", id)
	docker(t, "kill", "-s", "SIGUSR2", id)
	docker(t, "kill", "-s", "1", id)
	harness.Eventually(t, 5*time.Second, "the trapped signals in the logs", func() bool {
		l := docker(t, "logs", id)
		return strings.Contains(l, "usr1") && strings.Contains(l, "usr2") && strings.Contains(l, "hup")
	})
	if got := format(t, d, id, "{{.State.Running}}"); got != "true" {
		t.Fatalf("trapped signals stopped the container")
	}
	docker(t, "kill", id)
	waitState(t, d, id, "exited", 5*time.Second)
	if got := format(t, d, id, "{{.State.ExitCode}}"); got != "137" {
		t.Fatalf("exit after SIGKILL: %s", got)
	}
	// Killing a stopped container is a conflict.
	_, errOut, code := dockerRes(t, d, "kill", id)
	if code == 0 || !strings.Contains(errOut, "is not running") {
		t.Fatalf("kill of an exited container: %d %q", code, errOut)
	}
}

func TestStopTimeoutAndSignal(t *testing.T) {
	setup(t, d)
	id := runD(t, d, "busybox", "sh", "-c", "trap '' TERM; while true; do sleep 0.1; done")
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	docker(t, "stop", "-t", "1", id)
	if el := time.Since(start); el < 900*time.Millisecond || el > 8*time.Second {
		t.Fatalf("stop -t 1 took %s", el)
	}
	if got := format(t, d, id, "{{.State.ExitCode}}"); got != "137" {
		t.Fatalf("exit %s, want 137", got)
	}
	// -s picks the signal for this stop.
	id2 := runD(t, d, "busybox", "sh", "-c", "trap 'echo usr2; exit 4' USR2; while true; do sleep 0.1; done")
	time.Sleep(300 * time.Millisecond)
	docker(t, "stop", "-s", "USR2", "-t", "10", id2)
	if got := format(t, d, id2, "{{.State.ExitCode}}"); got != "4" {
		t.Fatalf("stop -s USR2: exit %s", got)
	}
	// -t 0 kills at once.
	id3 := runD(t, d, "busybox", "sleep", "600")
	time.Sleep(300 * time.Millisecond)
	start = time.Now()
	docker(t, "stop", "-t", "0", id3)
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("stop -t 0 took %s", el)
	}
	// Stop of a stopped container is fine and changes nothing.
	docker(t, "stop", id3)
}

// TestStopWithoutShimSocket: when the shim's socket is gone (its
// directory under the exec-root removed), stop and kill still end the
// container (the daemon signals its PID itself) and the exit is recorded,
// and a daemon shutdown is not held up for ever.
func TestStopWithoutShimSocket(t *testing.T) {
	setup(t, d)
	id := runD(t, d, "busybox", "sh", "-c", "trap '' TERM; while true; do sleep 0.1; done")
	time.Sleep(300 * time.Millisecond)
	if err := os.RemoveAll(filepath.Join(d.ExecRoot, "s", id[:20])); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, e, code := dockerRes(t, d, "stop", "-t", "1", id); code != 0 {
		t.Fatalf("stop: %q", e)
	}
	if el := time.Since(start); el > 8*time.Second {
		t.Fatalf("stop -t 1 took %s", el)
	}
	if got := format(t, d, id, "{{.State.Status}} {{.State.ExitCode}}"); got != "exited 137" {
		t.Fatalf("after stop: %s, want exited 137", got)
	}
	id2 := runD(t, d, "busybox", "sleep", "600")
	time.Sleep(300 * time.Millisecond)
	if err := os.RemoveAll(filepath.Join(d.ExecRoot, "s", id2[:20])); err != nil {
		t.Fatal(err)
	}
	docker(t, "kill", id2)
	waitState(t, d, id2, "exited", 10*time.Second)
}

// TestStopRightAfterStart: `docker stop -t 0` straight after `docker run
// -d` succeeds, as in dockerd (berth answered 500 "is not running" at
// times before b358956).
func TestStopRightAfterStart(t *testing.T) {
	setup(t, d)
	for i := 0; i < 8; i++ {
		id := runD(t, d, "busybox", "sleep", "600")
		if _, e, code := dockerRes(t, d, "stop", "-t", "0", id); code != 0 {
			t.Fatalf("run %d: stop -t 0: %q", i, e)
		}
		// Stop of a stopped container succeeds too (304 to the CLI).
		if _, e, code := dockerRes(t, d, "stop", id); code != 0 {
			t.Fatalf("stop of stopped: %q", e)
		}
	}
}

func TestRestartCommand(t *testing.T) {
	setup(t, d)
	id := runD(t, d, "busybox", "sleep", "600")
	pid1 := format(t, d, id, "{{.State.Pid}}")
	started1 := format(t, d, id, "{{.State.StartedAt}}")
	docker(t, "restart", "-t", "0", id)
	if got := format(t, d, id, "{{.State.Status}}"); got != "running" {
		t.Fatalf("after restart: %s", got)
	}
	if format(t, d, id, "{{.State.Pid}}") == pid1 || format(t, d, id, "{{.State.StartedAt}}") == started1 {
		t.Fatal("restart did not start a new process")
	}
	if got := format(t, d, id, "{{.RestartCount}}"); got != "0" {
		t.Fatalf("a manual restart counts: RestartCount %s", got)
	}
	// Restart of a stopped container starts it.
	docker(t, "stop", "-t", "0", id)
	docker(t, "restart", id)
	waitState(t, d, id, "running", 5*time.Second)
}

func TestRename(t *testing.T) {
	setup(t, d)
	a, b := uniqueName(t, "a"), uniqueName(t, "b")
	id := runD(t, d, "--name", a, "busybox", "sleep", "600")
	since := time.Now()
	docker(t, "rename", a, b)
	if got := format(t, d, id, "{{.Name}}"); got != "/"+b {
		t.Fatalf("name after rename: %s", got)
	}
	if _, errOut, code := dockerRes(t, d, "inspect", a); code == 0 || !strings.Contains(errOut, "No such object: "+a) {
		t.Fatalf("old name still resolves: %d %q", code, errOut)
	}
	// The old name is free again.
	docker(t, "create", "--name", a, "busybox", "true")
	// Renaming onto a used name is a conflict.
	_, errOut, code := dockerRes(t, d, "rename", b, a)
	if code == 0 || !strings.Contains(errOut, `Conflict. The container name "/`+a+`" is already in use`) {
		t.Fatalf("rename onto a used name: %d %q", code, errOut)
	}
	evs := eventsBetween(t, d, id, since)
	found := false
	for _, e := range evs {
		if e.Action == "rename" && e.Actor.Attributes["oldName"] == "/"+a && e.Actor.Attributes["name"] == b {
			found = true
		}
	}
	if !found {
		t.Fatalf("no rename event with oldName: %+v", evs)
	}
}

func TestUpdateRunning(t *testing.T) {
	setup(t, d)
	id := runD(t, d, "-m", "64m", "busybox", "sleep", "600")
	memFile := "/sys/fs/cgroup/memory/memory.limit_in_bytes"
	cpuFile := "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"
	if cgroup2() {
		memFile, cpuFile = "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/cpu.max"
	}
	read := func(f string) string { return strings.TrimSpace(docker(t, "exec", id, "cat", f)) }
	if got := read(memFile); got != "67108864" {
		t.Fatalf("before update: %s", got)
	}
	docker(t, "update", "-m", "128m", "--memory-swap", "256m", "--cpus", "0.25", id)
	if got := read(memFile); got != "134217728" {
		t.Fatalf("memory after update: %s", got)
	}
	if got := read(cpuFile); !strings.HasPrefix(got, "25000") {
		t.Fatalf("cpu quota after update: %s", got)
	}
	if got := format(t, d, id, "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}}"); got != "134217728 268435456 250000000" {
		t.Fatalf("HostConfig after update: %s", got)
	}
	docker(t, "update", "--restart", "on-failure:3", id)
	if got := format(t, d, id, "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"); got != "on-failure:3" {
		t.Fatalf("restart policy after update: %s", got)
	}
	// The new policy is live: a crash now restarts the container.
	// sleep as PID 1 ignores SIGTERM: kill it from the host, as a crash.
	pid, _ := strconv.Atoi(format(t, d, id, "{{.State.Pid}}"))
	p, _ := os.FindProcess(pid)
	p.Kill()
	harness.Eventually(t, 10*time.Second, "a restart by the updated policy", func() bool {
		return format(t, d, id, "{{.RestartCount}}") == "1"
	})
	// Memory below the current usage floor is refused like at create.
	_, errOut, code := dockerRes(t, d, "update", "-m", "4m", id)
	if code == 0 || !strings.Contains(errOut, "Minimum memory limit allowed is 6MB") {
		t.Fatalf("update -m 4m: %d %q", code, errOut)
	}
}

func TestTop(t *testing.T) {
	setup(t, d)
	id := runD(t, d, "busybox", "sleep", "600")
	// berth answers start before the command is exec'd (known_gaps_test.go).
	harness.Eventually(t, 5*time.Second, "the command to run", func() bool { return strings.Contains(docker(t, "top", id), "sleep 600") })
	out := docker(t, "top", id)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.HasPrefix(lines[0], "UID") || !strings.Contains(lines[0], "PID") || !strings.Contains(lines[0], "CMD") || len(lines) != 2 || !strings.Contains(lines[1], "sleep 600") {
		t.Fatalf("top:\n%s", out)
	}
	out = docker(t, "top", id, "-o", "pid,comm")
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if f := strings.Fields(lines[0]); len(f) != 2 || f[0] != "PID" || f[1] != "COMMAND" {
		t.Fatalf("top -o pid,comm:\n%s", out)
	}
	if f := strings.Fields(lines[1]); len(f) != 2 || f[0] != format(t, d, id, "{{.State.Pid}}") || f[1] != "sleep" {
		t.Fatalf("top -o pid,comm row:\n%s", out)
	}
	docker(t, "stop", "-t", "0", id)
	_, errOut, code := dockerRes(t, d, "top", id)
	if code == 0 || !strings.Contains(errOut, "is not running") {
		t.Fatalf("top of a stopped container: %d %q", code, errOut)
	}
}

func TestStatsNoStream(t *testing.T) {
	setup(t, d)
	name := uniqueName(t, "s")
	runD(t, d, "--name", name, "-m", "64m", "busybox", "sh", "-c", "sleep 600 & sleep 600; true")
	out := docker(t, "stats", "--no-stream", "--format", "{{.Name}}|{{.MemUsage}}|{{.PIDs}}|{{.CPUPerc}}", name)
	f := strings.Split(strings.TrimSpace(out), "|")
	if len(f) != 4 || f[0] != name || !strings.HasSuffix(f[1], "/ 64MiB") || f[2] != "3" || !strings.HasSuffix(f[3], "%") {
		t.Fatalf("stats: %q", out)
	}
	// The one-shot API document carries what the CLI computes CPU % from.
	code, body := api(t, d, "GET", "/containers/"+name+"/stats?stream=false", "")
	if code != 200 {
		t.Fatalf("stats API: %d %s", code, body)
	}
	var st map[string]any
	json.Unmarshal([]byte(body), &st)
	for _, p := range [][]string{{"cpu_stats", "cpu_usage", "total_usage"}, {"cpu_stats", "system_cpu_usage"}, {"precpu_stats"}, {"memory_stats", "usage"}, {"memory_stats", "limit"}, {"pids_stats", "current"}, {"read"}} {
		if field(st, p...) == nil {
			t.Errorf("stats lacks %v: %s", p, body)
		}
	}
}

func TestDiff(t *testing.T) {
	setup(t, d)
	name := uniqueName(t, "d")
	docker(t, "run", "--name", name, "busybox", "sh", "-c", "mkdir /newdir && echo x > /newdir/f && echo y >> /etc/passwd && rm /etc/group")
	out := docker(t, "diff", name)
	for _, want := range []string{"A /newdir", "A /newdir/f", "C /etc", "C /etc/passwd", "D /etc/group"} {
		if !strings.Contains(out+"\n", want+"\n") {
			t.Errorf("diff lacks %q:\n%s", want, out)
		}
	}
	// Runtime-owned paths (/etc/hostname, /etc/hosts, /etc/resolv.conf,
	// /dev, /proc, /sys) are not changes.
	for _, no := range []string{"/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/proc", "/sys"} {
		if strings.Contains(out, " "+no+"\n") {
			t.Errorf("diff shows %s:\n%s", no, out)
		}
	}
}

// freezerState reads the container's freezer state from the host.
func freezerState(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if cgroup2() && parts[0] == "0" {
			v, _ := os.ReadFile(filepath.Join("/sys/fs/cgroup", parts[2], "cgroup.freeze"))
			if strings.TrimSpace(string(v)) == "1" {
				return "FROZEN"
			}
			return "THAWED"
		}
		if parts[1] == "freezer" {
			v, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/freezer", parts[2], "freezer.state"))
			if err != nil {
				t.Fatal(err)
			}
			return strings.TrimSpace(string(v))
		}
	}
	t.Fatalf("no freezer cgroup in %s", b)
	return ""
}

func TestPauseUnpause(t *testing.T) {
	setup(t, d)
	name := uniqueName(t, "p")
	id := runD(t, d, "--name", name, "busybox", "sh", "-c", "while true; do date +%s%N; sleep 0.05; done")
	pid, _ := strconv.Atoi(format(t, d, id, "{{.State.Pid}}"))
	if got := freezerState(t, pid); got != "THAWED" {
		t.Fatalf("freezer before pause: %s", got)
	}
	docker(t, "pause", name)
	if got := freezerState(t, pid); got != "FROZEN" {
		t.Fatalf("freezer after pause: %s", got)
	}
	if got := format(t, d, id, "{{.State.Status}} {{.State.Paused}} {{.State.Running}}"); got != "paused true true" {
		t.Fatalf("state after pause: %s", got)
	}
	if got := docker(t, "ps", "--filter", "name="+name, "--format", "{{.Status}}"); !strings.Contains(got, "(Paused)") {
		t.Fatalf("ps status: %q", got)
	}
	// Nothing runs while frozen.
	n1 := len(strings.Fields(docker(t, "logs", name)))
	time.Sleep(400 * time.Millisecond)
	if n2 := len(strings.Fields(docker(t, "logs", name))); n2 != n1 {
		t.Fatalf("paused container wrote %d lines", n2-n1)
	}
	// exec and a second pause are conflicts.
	_, errOut, code := dockerRes(t, d, "exec", name, "true")
	if code == 0 || !strings.Contains(errOut, "is paused, unpause the container before exec") {
		t.Fatalf("exec into paused: %d %q", code, errOut)
	}
	_, errOut, code = dockerRes(t, d, "pause", name)
	if code == 0 || !strings.Contains(errOut, "is already paused") {
		t.Fatalf("pause of paused: %d %q", code, errOut)
	}
	docker(t, "unpause", name)
	if got := freezerState(t, pid); got != "THAWED" {
		t.Fatalf("freezer after unpause: %s", got)
	}
	if got := format(t, d, id, "{{.State.Status}} {{.State.Paused}}"); got != "running false" {
		t.Fatalf("state after unpause: %s", got)
	}
	_, errOut, code = dockerRes(t, d, "unpause", name)
	if code == 0 || !strings.Contains(errOut, "is not paused") {
		t.Fatalf("unpause of running: %d %q", code, errOut)
	}
	// A paused container can be stopped.
	docker(t, "pause", name)
	docker(t, "stop", "-t", "1", name)
	waitState(t, d, id, "exited", 5*time.Second)
}

func TestInspectFields(t *testing.T) {
	setup(t, d)
	name := uniqueName(t, "i")
	id := runD(t, d, "--name", name, "-v", "/data", "-e", "X=1", "--restart", "on-failure:2", "busybox", "sleep", "600")
	v := inspect(t, d, id)
	if v["Id"] != id || v["Name"] != "/"+name || field(v, "Config", "Image") != "busybox" {
		t.Errorf("Id/Name/Config.Image: %v %v %v", v["Id"], v["Name"], field(v, "Config", "Image"))
	}
	st, _ := v["State"].(map[string]any)
	for _, k := range []string{"Status", "Running", "Paused", "Restarting", "OOMKilled", "Dead", "Pid", "ExitCode", "Error", "StartedAt", "FinishedAt"} {
		if _, ok := st[k]; !ok {
			t.Errorf("State lacks %s: %v", k, st)
		}
	}
	if st["Status"] != "running" || st["Running"] != true || st["FinishedAt"] != "0001-01-01T00:00:00Z" {
		t.Errorf("State: %v", st)
	}
	for _, ts := range []string{v["Created"].(string), st["StartedAt"].(string)} {
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil || !strings.Contains(ts, ".") || !strings.HasSuffix(ts, "Z") {
			t.Errorf("timestamp %q is not RFC3339Nano UTC: %v", ts, err)
		}
	}
	if field(v, "GraphDriver", "Name") != "overlay2" {
		t.Errorf("GraphDriver.Name %v", field(v, "GraphDriver", "Name"))
	}
	if _, ok := field(v, "GraphDriver", "Data").(map[string]any); !ok {
		t.Errorf("GraphDriver.Data missing")
	}
	mounts, _ := v["Mounts"].([]any)
	if len(mounts) != 1 || field(mounts[0], "Type") != "volume" || field(mounts[0], "Destination") != "/data" || field(mounts[0], "Driver") != "local" || field(mounts[0], "RW") != true {
		t.Errorf("Mounts: %v", v["Mounts"])
	}
	if env, _ := field(v, "Config", "Env").([]any); len(env) != 2 || (env[0] != "X=1" && env[1] != "X=1") {
		t.Errorf("Config.Env: %v", field(v, "Config", "Env"))
	}
	if field(v, "HostConfig", "RestartPolicy", "Name") != "on-failure" || field(v, "HostConfig", "RestartPolicy", "MaximumRetryCount") != float64(2) {
		t.Errorf("HostConfig.RestartPolicy: %v", field(v, "HostConfig", "RestartPolicy"))
	}
	if field(v, "NetworkSettings", "Networks", "bridge") == nil {
		t.Errorf("NetworkSettings.Networks.bridge missing: %v", v["NetworkSettings"])
	}
	for _, k := range []string{"Path", "Args", "ResolvConfPath", "HostnamePath", "HostsPath", "LogPath", "RestartCount", "Driver", "Platform", "MountLabel", "ProcessLabel", "AppArmorProfile"} {
		if _, ok := v[k]; !ok {
			t.Errorf("inspect lacks %s", k)
		}
	}
	if v["Path"] != "sleep" || field(v, "Args") == nil {
		t.Errorf("Path/Args: %v %v", v["Path"], v["Args"])
	}
	// After a stop: FinishedAt set, ExitCode 137.
	docker(t, "stop", "-t", "0", id)
	v = inspect(t, d, id)
	fin, _ := field(v, "State", "FinishedAt").(string)
	if ft, err := time.Parse(time.RFC3339Nano, fin); err != nil || time.Since(ft) > time.Minute {
		t.Errorf("FinishedAt after stop: %q", fin)
	}
	if field(v, "State", "Status") != "exited" || field(v, "State", "ExitCode") != float64(137) {
		t.Errorf("State after stop: %v", v["State"])
	}
	// -s adds the sizes.
	if got := format(t, d, id, "{{.SizeRootFs}}"); got == "" || got == "<no value>" {
		t.Errorf("SizeRootFs missing with --size")
	}
	if out := d.DockerT(t, "inspect", "--size", "--format", "{{.SizeRootFs}}", id); strings.TrimSpace(out) == "0" || strings.Contains(out, "no value") {
		t.Errorf("inspect --size SizeRootFs %q", out)
	}
}

func TestRemove(t *testing.T) {
	setup(t, d)
	id := runD(t, d, "-v", "/anon", "busybox", "sleep", "600")
	vol := format(t, d, id, "{{range .Mounts}}{{.Name}}{{end}}")
	_, errOut, code := dockerRes(t, d, "rm", id)
	if code == 0 || format(t, d, id, "{{.State.Running}}") != "true" {
		t.Errorf("rm of running: %d %q", code, errOut)
	}
	docker(t, "rm", "-f", "-v", id)
	if _, _, code := dockerRes(t, d, "inspect", id); code == 0 {
		t.Fatal("container still there after rm -f")
	}
	if _, _, code := dockerRes(t, d, "volume", "inspect", vol); code == 0 {
		t.Fatal("anonymous volume kept after rm -v")
	}
	_, errOut, code = dockerRes(t, d, "rm", id)
	if code == 0 || !strings.Contains(errOut, "No such container: "+id) {
		t.Fatalf("rm of a removed container: %d %q", code, errOut)
	}
}

func TestRunRmAndCidfile(t *testing.T) {
	setup(t, d)
	cid := filepath.Join(t.TempDir(), "cid")
	name := uniqueName(t, "rm")
	out := docker(t, "run", "--rm", "--name", name, "--cidfile", cid, "busybox", "echo", "bye")
	if strings.TrimSpace(out) != "bye" {
		t.Fatalf("output %q", out)
	}
	b, err := os.ReadFile(cid)
	if err != nil || len(strings.TrimSpace(string(b))) != 64 {
		t.Fatalf("cidfile: %q %v", b, err)
	}
	harness.Eventually(t, 5*time.Second, "--rm to remove the container", func() bool {
		_, _, code := dockerRes(t, d, "inspect", name)
		return code != 0
	})
	// Detached --rm: removed when it exits on its own.
	id := runD(t, d, "--rm", "busybox", "sh", "-c", "sleep 0.3")
	harness.Eventually(t, 10*time.Second, "detached --rm removal", func() bool {
		_, _, code := dockerRes(t, d, "inspect", id)
		return code != 0
	})
	// An existing cidfile is refused.
	_, errOut, code := dockerRes(t, d, "run", "--rm", "--cidfile", cid, "busybox", "true")
	if code != 125 || !strings.Contains(errOut, "container ID file found, make sure the other container isn't running or delete "+cid) {
		t.Fatalf("existing cidfile: %d %q", code, errOut)
	}
}
