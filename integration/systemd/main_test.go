package systemd

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
	"github.com/berthd/berth/integration/internal/privsystemd"
)

func TestMain(m *testing.M) {
	if code, ok := harness.Preflight(); !ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// env is a private systemd and a berthd using it as its cgroup driver.
type env struct {
	sd *privsystemd.Systemd
	d  *harness.Daemon
}

// start boots a private systemd and a daemon in its namespaces with the
// systemd driver (daemon.json config, which must name it) and the test
// images loaded.
func start(t *testing.T, config string, args ...string) *env {
	return startOn(t, false, config, args...)
}

// startOn is start, with v2 on the unified hierarchy (privsystemd.Start).
func startOn(t *testing.T, v2 bool, config string, args ...string) *env {
	t.Helper()
	why := privsystemd.Available()
	harness.Require(t, why == "", "%s", why)
	sd := privsystemd.Start(t, v2)
	d := harness.Fresh(t, harness.Options{
		Config:   config,
		Args:     args,
		EnterPid: sd.Pid,
		Env:      []string{"DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/dbus/system_bus_socket"},
	})
	d.LoadTestImages(t)
	return &env{sd: sd, d: d}
}

// unitProperty is a property of a unit as systemctl shows it.
func (e *env) unitProperty(t *testing.T, unit, prop string) string {
	t.Helper()
	out, err := e.sd.Systemctl("show", "-p", prop, "--value", unit)
	if err != nil {
		t.Fatalf("systemctl show %s: %v\n%s", unit, err, out)
	}
	return strings.TrimSpace(out)
}

// containerCgroup is the cgroup of the container's init on the v1
// hierarchy named (or "" for v2's), read from /proc as systemd's PID
// namespace has it.
func (e *env) containerCgroup(t *testing.T, id, hierarchy string) string {
	t.Helper()
	pid, err := strconv.Atoi(strings.TrimSpace(e.d.DockerT(t, "inspect", "-f", "{{.State.Pid}}", id)))
	if err != nil || pid == 0 {
		t.Fatalf("pid of %s: %v", id, err)
	}
	b, err := os.ReadFile(e.sd.ProcPath(pid, "cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) == 3 && (f[1] == hierarchy || (hierarchy != "" && strings.Contains(","+f[1]+",", ","+hierarchy+","))) {
			return f[2]
		}
	}
	t.Fatalf("no %q line in\n%s", hierarchy, b)
	return ""
}

// cgroupFile reads a file of a v1 controller's cgroup at path.
func cgroupFile(t *testing.T, controller, path, file string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/sys/fs/cgroup/%s%s/%s", controller, path, file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
