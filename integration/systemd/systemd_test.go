package systemd

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

const systemdConfig = `{"exec-opts":["native.cgroupdriver=systemd"],"live-restore":true}`

// v2 says whether the host runs the unified hierarchy only.
func v2() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

// limit reads a limit file of the cgroup at path: the v1 controller's
// file, or the v2 one.
func limit(t *testing.T, path, controller, v1file, v2file string) string {
	t.Helper()
	if v2() {
		return cgroupFile(t, "", path, v2file)
	}
	return cgroupFile(t, controller, path, v1file)
}

func TestSystemdDriver(t *testing.T) {
	e := start(t, systemdConfig)
	d := e.d
	if got := strings.TrimSpace(d.DockerT(t, "info", "--format", "{{.CgroupDriver}}")); got != "systemd" {
		t.Fatalf("docker info CgroupDriver %q", got)
	}
	root := e.sd.Cgroup

	t.Run("scope with limits", func(t *testing.T) {
		id := strings.TrimSpace(d.DockerT(t, "run", "-d", "--pull=never", "--memory", "64m", "--cpu-shares", "512", "--pids-limit", "33", harness.BusyboxImage, "sleep", "600"))
		t.Cleanup(func() { d.Docker("rm", "-f", id) })
		unit := "docker-" + id + ".scope"
		want := root + "/system.slice/" + unit
		hier := "name=systemd"
		if v2() {
			hier = ""
		}
		if got := e.containerCgroup(t, id, hier); got != want {
			t.Fatalf("cgroup %q, want %q", got, want)
		}
		if !v2() {
			// The controllers systemd does not manage joined at the same path.
			for _, c := range []string{"memory", "cpu", "pids", "freezer", "devices"} {
				if got := e.containerCgroup(t, id, c); got != want {
					t.Errorf("%s cgroup %q, want %q", c, got, want)
				}
			}
		}
		for prop, wantv := range map[string]string{"ActiveState": "active", "Delegate": "yes", "Slice": "system.slice", "TasksMax": "33"} {
			if got := e.unitProperty(t, unit, prop); got != wantv {
				t.Errorf("%s %s = %q, want %q", unit, prop, got, wantv)
			}
		}
		// The unit is on systemd's bus, as any client sees it.
		if out, err := e.sd.BusctlOutput("call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "GetUnit", "s", unit); err != nil || !strings.Contains(out, "/org/freedesktop/systemd1/unit/") {
			t.Errorf("GetUnit on the bus: %v %s", err, out)
		}
		check := func(when, mem, shares, pids string) {
			t.Helper()
			if got := limit(t, want, "memory", "memory.limit_in_bytes", "memory.max"); got != mem {
				t.Errorf("%s: memory limit %s, want %s", when, got, mem)
			}
			if !v2() {
				if got := cgroupFile(t, "cpu", want, "cpu.shares"); got != shares {
					t.Errorf("%s: cpu.shares %s, want %s", when, got, shares)
				}
			}
			if got := limit(t, want, "pids", "pids.max", "pids.max"); got != pids {
				t.Errorf("%s: pids.max %s, want %s", when, got, pids)
			}
		}
		check("run", "67108864", "512", "33")
		if !v2() {
			devices := cgroupFile(t, "devices", want, "devices.list")
			if strings.Contains(devices, "a *:* rwm") || !strings.Contains(devices, "c 1:3 rwm") {
				t.Errorf("devices.list:\n%s", devices)
			}
		}
		// systemd re-applies its units' properties on a reload: the
		// limits (and the device list) must be properties, not only files.
		if out, err := e.sd.Systemctl("daemon-reload"); err != nil {
			t.Fatalf("daemon-reload: %v %s", err, out)
		}
		check("after daemon-reload", "67108864", "512", "33")
		if !v2() {
			if devices := cgroupFile(t, "devices", want, "devices.list"); strings.Contains(devices, "a *:* rwm") {
				t.Errorf("after daemon-reload every device is allowed:\n%s", devices)
			}
		}

		d.DockerT(t, "update", "--memory", "96m", "--cpu-shares", "256", "--pids-limit", "20", id)
		check("update", "100663296", "256", "20")
		if got := e.unitProperty(t, unit, "TasksMax"); got != "20" {
			t.Errorf("TasksMax after update %q", got)
		}
		if _, err := e.sd.Systemctl("daemon-reload"); err != nil {
			t.Fatal(err)
		}
		check("update, daemon-reload", "100663296", "256", "20")

		d.DockerT(t, "rm", "-f", id)
		if got := e.unitProperty(t, unit, "LoadState"); got != "not-found" {
			t.Errorf("after rm: unit LoadState %q (ActiveState %q)", got, e.unitProperty(t, unit, "ActiveState"))
		}
	})

	t.Run("slice parent", func(t *testing.T) {
		id := strings.TrimSpace(d.DockerT(t, "run", "-d", "--pull=never", "--cgroup-parent", "berthtest-a.slice", harness.BusyboxImage, "sleep", "600"))
		t.Cleanup(func() { d.Docker("rm", "-f", id) })
		want := root + "/berthtest.slice/berthtest-a.slice/docker-" + id + ".scope"
		hier := "name=systemd"
		if v2() {
			hier = ""
		}
		if got := e.containerCgroup(t, id, hier); got != want {
			t.Fatalf("cgroup %q, want %q", got, want)
		}
		if got := e.unitProperty(t, "docker-"+id+".scope", "Slice"); got != "berthtest-a.slice" {
			t.Errorf("Slice %q", got)
		}
		// A stopped container's scope is gone, and a start makes it again.
		d.DockerT(t, "stop", "-t", "1", id)
		if got := e.unitProperty(t, "docker-"+id+".scope", "ActiveState"); got == "active" {
			t.Errorf("after stop: scope %s", got)
		}
		d.DockerT(t, "start", id)
		if got := e.unitProperty(t, "docker-"+id+".scope", "ActiveState"); got != "active" {
			t.Errorf("after start: scope %s", got)
		}
	})

	t.Run("non-slice parent refused", func(t *testing.T) {
		_, stderr, err := d.Docker("create", "--pull=never", "--cgroup-parent", "/mine", harness.BusyboxImage, "true")
		if err == nil || !strings.Contains(stderr, `cgroup-parent for systemd cgroup should be a valid slice named as "xxx.slice"`) {
			t.Fatalf("create with /mine: %v %s", err, stderr)
		}
	})

	t.Run("restart keeps scope", func(t *testing.T) {
		id := strings.TrimSpace(d.DockerT(t, "run", "-d", "--pull=never", "--memory", "32m", harness.BusyboxImage, "sleep", "600"))
		t.Cleanup(func() { d.Docker("rm", "-f", id) })
		unit := "docker-" + id + ".scope"
		if err := d.Restart(true); err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(d.DockerT(t, "inspect", "-f", "{{.State.Running}}", id)); got != "true" {
			t.Fatalf("running after restart: %s", got)
		}
		if got := e.unitProperty(t, unit, "ActiveState"); got != "active" {
			t.Fatalf("scope after restart: %s", got)
		}
		// The restarted daemon drives the scope it found.
		d.DockerT(t, "update", "--memory", "48m", id)
		if got := e.unitProperty(t, unit, "MemoryLimit"); got != "50331648" && !v2() {
			t.Errorf("MemoryLimit after update %q", got)
		}
		d.DockerT(t, "rm", "-f", id)
		if got := e.unitProperty(t, unit, "LoadState"); got != "not-found" {
			t.Errorf("after rm: LoadState %q", got)
		}
	})

	t.Run("reconnect", func(t *testing.T) {
		// The daemon's connection goes with the bus (and with systemd's
		// re-execution): the next start dials again.
		for _, cmd := range [][]string{{"restart", "dbus.service"}, {"daemon-reexec"}} {
			if out, err := e.sd.Systemctl(cmd...); err != nil {
				t.Fatalf("systemctl %v: %v %s", cmd, err, out)
			}
			id := strings.TrimSpace(d.DockerT(t, "run", "-d", "--pull=never", "--pids-limit", "9", harness.BusyboxImage, "sleep", "600"))
			if got := e.unitProperty(t, "docker-"+id+".scope", "TasksMax"); got != "9" {
				t.Errorf("after systemctl %v: TasksMax %q", cmd, got)
			}
			d.DockerT(t, "rm", "-f", id)
		}
	})

	t.Run("stale scope cleaned", func(t *testing.T) {
		id := strings.TrimSpace(d.DockerT(t, "run", "-d", "--pull=never", harness.BusyboxImage, "sleep", "600"))
		unit := "docker-" + id + ".scope"
		// The daemon dies, and the container's record with it: the
		// scope's processes belong to nothing the next daemon knows.
		if err := d.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(d.DataRoot + "/containers/" + id); err != nil {
			t.Fatal(err)
		}
		if err := d.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for e.unitProperty(t, unit, "LoadState") != "not-found" {
			if time.Now().After(deadline) {
				t.Fatalf("stale scope %s still %s; daemon log:\n%s", unit, e.unitProperty(t, unit, "ActiveState"), d.LogTail(30))
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}
