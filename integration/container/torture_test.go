package container

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/integration/internal/harness"
)

// tortureNetOptions gives a daemon whose networks come from a pool of
// their own: the built-in pools may be taken by the host's other daemons.
var tortureNetOptions = harness.Options{Args: []string{"--default-address-pool", "base=10.214.0.0/16,size=24"}}

// TestTortureCreatedRmContainerGoesAtRestart: a `docker run --rm` whose
// daemon died between create and start leaves a created --rm container;
// the restarted daemon removes it, as dockerd's restore does (found by
// hack/torture).
func TestTortureCreatedRmContainerGoesAtRestart(t *testing.T) {
	dd := fresh(t, harness.Options{})
	setup(t, dd)
	id := dockerOn(t, dd, "create", "--rm", "busybox", "true")
	keep := dockerOn(t, dd, "create", "busybox", "true")
	dd.Kill()
	if err := dd.Start(); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 15*time.Second, "the created --rm container to be removed", func() bool {
		_, _, code := dockerRes(t, dd, "inspect", id)
		return code != 0
	})
	if _, _, code := dockerRes(t, dd, "inspect", keep); code != 0 {
		t.Fatal("a created container without --rm was removed")
	}
}

// TestTortureDisconnectSurvivesKill: a container disconnected from its
// last network stays without one across a kill -9 of the daemon.
func TestTortureDisconnectSurvivesKill(t *testing.T) {
	dd := fresh(t, harness.Options{})
	setup(t, dd)
	created := dockerOn(t, dd, "create", "busybox", "sleep", "1000")
	dockerOn(t, dd, "network", "disconnect", "bridge", created)
	running := dockerOn(t, dd, "run", "-d", "busybox", "sleep", "1000")
	dockerOn(t, dd, "network", "disconnect", "bridge", running)
	stopped := dockerOn(t, dd, "run", "-d", "busybox", "sleep", "1000")
	dockerOn(t, dd, "network", "disconnect", "bridge", stopped)
	dockerOn(t, dd, "stop", "-t", "0", stopped)
	dd.Kill()
	if err := dd.Start(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{created, running, stopped} {
		if got := dockerOn(t, dd, "inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", id); strings.TrimSpace(got) != "" {
			t.Errorf("container %.12s: networks after the restart: %q", id, got)
		}
	}
}

// TestTortureVolumeInUseAfterRestart: a stopped container's named volume
// stays "in use" across a daemon restart: volume rm and prune refuse it,
// and the container still starts (found by hack/torture: after a restart
// the references were gone, rm took the volume and start failed with
// "no such volume").
func TestTortureVolumeInUseAfterRestart(t *testing.T) {
	dd := fresh(t, harness.Options{})
	setup(t, dd)
	vol := uniqueName(t, "vol")
	id := dockerOn(t, dd, "create", "-v", vol+":/v", "busybox", "touch", "/v/x")
	dd.Kill()
	if err := dd.Start(); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := dockerRes(t, dd, "volume", "rm", vol); code == 0 || !strings.Contains(stderr, "volume is in use") {
		t.Fatalf("volume rm of a volume a container uses: exit %d: %s", code, stderr)
	}
	dockerOn(t, dd, "volume", "prune", "-af")
	dockerOn(t, dd, "start", "-a", id)
}

// TestTortureDisconnectedStaysOffAtStart: a container disconnected from
// its NetworkMode network starts without it, as with dockerd (found by
// hack/torture: a start, by the API, a restart policy or the daemon's
// restore, put it back on the network the acknowledged disconnect took).
func TestTortureDisconnectedStaysOffAtStart(t *testing.T) {
	dd := fresh(t, tortureNetOptions)
	setup(t, dd)
	net := uniqueName(t, "net")
	dockerOn(t, dd, "network", "create", net)
	none := dockerOn(t, dd, "create", "busybox", "sleep", "1000")
	dockerOn(t, dd, "network", "disconnect", "bridge", none)
	moved := dockerOn(t, dd, "create", "busybox", "sleep", "1000")
	dockerOn(t, dd, "network", "disconnect", "bridge", moved)
	dockerOn(t, dd, "network", "connect", net, moved)
	dockerOn(t, dd, "start", none, moved)
	nets := func(id string) string {
		return strings.TrimSpace(dockerOn(t, dd, "inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", id))
	}
	if got := nets(none); got != "" {
		t.Errorf("disconnected container started on %q", got)
	}
	if got := nets(moved); got != net {
		t.Errorf("container moved to %s started on %q", net, got)
	}
	if out := dockerOn(t, dd, "exec", none, "cat", "/proc/net/dev"); strings.Contains(out, "eth0") {
		t.Errorf("disconnected container has eth0:\n%s", out)
	}
}

// TestTortureFailedStartKeepsNetworks: a start that fails on a network
// (removed while the container was stopped) leaves the container's
// networks as they were; once the network is back, it starts on all of
// them (found by hack/torture: inspect lost them after the failed start).
func TestTortureFailedStartKeepsNetworks(t *testing.T) {
	dd := fresh(t, tortureNetOptions)
	setup(t, dd)
	a, b := uniqueName(t, "a"), uniqueName(t, "b")
	dockerOn(t, dd, "network", "create", a)
	dockerOn(t, dd, "network", "create", b)
	id := strings.TrimSpace(dockerOn(t, dd, "create", "--network", a, "busybox", "sleep", "1000"))
	dockerOn(t, dd, "network", "connect", b, id)
	dockerOn(t, dd, "network", "rm", a)
	if _, _, code := dockerRes(t, dd, "start", id); code == 0 {
		t.Fatal("start on a removed network succeeded")
	}
	nets := func() string {
		return strings.TrimSpace(dockerOn(t, dd, "inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", id))
	}
	want := a + " " + b
	if got := nets(); got != want {
		t.Errorf("networks after the failed start: %q, want %q", got, want)
	}
	dockerOn(t, dd, "network", "create", a)
	dockerOn(t, dd, "start", id)
	if got := nets(); got != want {
		t.Errorf("networks after the start: %q, want %q", got, want)
	}
}

// TestTortureStoppedRootfsUnmountedAtStart: the root file system of a
// stopped container that a killed daemon left mounted (a commit, cp or
// export cut short) is unmounted by the next start (found by
// hack/torture as an overlay mount of no running container).
func TestTortureStoppedRootfsUnmountedAtStart(t *testing.T) {
	dd := fresh(t, harness.Options{})
	setup(t, dd)
	id := strings.TrimSpace(dockerOn(t, dd, "create", "busybox", "true"))
	merged := filepath.Join(dd.DataRoot, "containers", id, "fs", "merged")
	if err := os.MkdirAll(merged, 0o755); err != nil {
		t.Fatal(err)
	}
	// A stand-in for the overlay the killed daemon mounted there.
	if err := unix.Mount("tmpfs", merged, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(merged, unix.MNT_DETACH) })
	dd.Kill()
	if err := dd.Start(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(b), " "+merged+" ") {
		t.Fatalf("%s still mounted after the restart", merged)
	}
	dockerOn(t, dd, "start", "-a", id)
}
