package buildkit

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

// RUN steps run on berth's runtime: on the default network a step has
// eth0 on the daemon's default bridge (reaching its gateway) and the
// resolv.conf of a container there; --network=none has only lo; and
// nothing of the steps stays on the bridge.
func TestRunStepNetworks(t *testing.T) {
	setup(t)
	name := imageName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": `FROM busybox
RUN ip -o -4 addr show eth0 | awk '{print $4}' > /default.txt && ping -c1 -W5 $(ip route | awk '/^default/ {print $3}') >/dev/null && echo reached >> /default.txt && cat /etc/resolv.conf > /resolv.txt
RUN --network=none ls /sys/class/net > /none.txt
`})
	buildx(t, "-t", name, "--load", dir)
	subnet := netip.MustParsePrefix(strings.TrimSpace(mustCLI(t, "network", "inspect", "bridge", "--format", "{{(index .IPAM.Config 0).Subnet}}")))
	lines := strings.Fields(runIn(t, name, "cat /default.txt"))
	if len(lines) != 2 || lines[1] != "reached" {
		t.Fatalf("default network step: %q", lines)
	}
	if addr := netip.MustParsePrefix(lines[0]); !subnet.Contains(addr.Addr()) {
		t.Errorf("step address %s is not on the default bridge %s", addr, subnet)
	}
	resolv := runIn(t, name, "cat /resolv.txt")
	if !strings.Contains(resolv, "nameserver") || strings.Contains(resolv, "nameserver 127.") {
		t.Errorf("default network step's resolv.conf:\n%s", resolv)
	}
	if got := runIn(t, name, "cat /none.txt"); got != "lo" {
		t.Errorf("--network=none step's devices: %q", got)
	}
	if ports, _ := os.ReadDir(filepath.Join("/sys/class/net", d.Bridge, "brif")); len(ports) != 0 {
		t.Errorf("the steps' veths stay on the bridge: %v", ports)
	}
	if eps := mustCLI(t, "network", "inspect", "bridge", "--format", "{{len .Containers}}"); strings.TrimSpace(eps) != "0" {
		t.Errorf("the bridge still lists %s endpoints", eps)
	}
}

// A failing RUN fails the build with BuildKit's message and the step's
// exit code.
func TestRunStepExitCode(t *testing.T) {
	setup(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo failing; exit 3\n"})
	r := cli(t, "buildx", "build", "--progress=plain", dir)
	if r.Code == 0 {
		t.Fatal("the build of a failing RUN succeeded")
	}
	expectContains(t, "failed build", r.Combined(), "failing", "did not complete successfully: exit code: 3")
}

// RUN's mounts (cache, tmpfs, secret), USER and WORKDIR reach the step.
func TestRunStepMountsUserWorkdir(t *testing.T) {
	setup(t)
	name := imageName(t)
	secret := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(secret, []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := writeContext(t, map[string]string{"Dockerfile": `FROM busybox
RUN --mount=type=cache,target=/cache echo x >> /cache/n && wc -l < /cache/n > /count
RUN --mount=type=tmpfs,target=/scratch grep ' /scratch tmpfs ' /proc/mounts | wc -l > /tmpfs && touch /scratch/gone
RUN --mount=type=secret,id=tok wc -c < /run/secrets/tok > /secretlen
USER nobody
WORKDIR /made/here
RUN id -u > /tmp/uid && pwd > /tmp/pwd && grep -E '^(CapEff|Seccomp):' /proc/self/status | tr -s '\t' ' ' > /tmp/status
`})
	buildx(t, "-t", name, "--load", "--secret", "id=tok,src="+secret, dir)
	got := runIn(t, name, "cat /count /tmpfs /secretlen /tmp/uid /tmp/pwd /tmp/status; ls /scratch 2>/dev/null; ls /run/secrets 2>/dev/null; true")
	want := "1\n1\n6\n65534\n/made/here\nCapEff: 0000000000000000\nSeccomp: 2"
	if got != want {
		t.Errorf("step results:\n%s\nwant:\n%s", got, want)
	}
}

// Cancelling a build (the client goes away) ends its running step: no
// process, mount or network namespace of it stays.
func TestRunStepCancelled(t *testing.T) {
	setup(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo started && sleep 987\n"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := cliCmd(ctx, dir, nil, "buildx", "build", "--progress=plain", "--no-cache", ".")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); len(stepSleeps(t)) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			cancel()
			_ = cmd.Wait()
			t.Fatalf("the step's sleep never ran:\n%s", lastLines(out.String(), 40))
		}
	}
	cancel()
	_ = cmd.Wait()
	harness.Eventually(t, 20*time.Second, "the cancelled step's sleep to end", func() bool { return len(stepSleeps(t)) == 0 })
	executor := filepath.Join(d.DataRoot, "buildkit", "executor")
	harness.Eventually(t, 20*time.Second, "the cancelled step's root to be unmounted", func() bool { return !mountedUnder(t, executor) })
	if ns, _ := os.ReadDir(filepath.Join(d.ExecRoot, "buildkit", "netns")); len(ns) != 0 {
		t.Errorf("network namespaces left: %v", ns)
	}
}

// stepSleeps lists the PIDs of TestRunStepCancelled's step process.
func stepSleeps(t *testing.T) []string {
	t.Helper()
	out, _ := exec.Command("pgrep", "-f", "^sleep 987$").Output()
	return strings.Fields(string(out))
}

func mountedUnder(t *testing.T, dir string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(b), " "+dir+"/")
}
