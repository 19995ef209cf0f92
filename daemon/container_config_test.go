package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/berthd/berth/pkg/errdefs"
)

func TestMergeImageConfig(t *testing.T) {
	img := &container.Config{
		User:         "app",
		Env:          []string{"PATH=/bin", "A=img"},
		Cmd:          []string{"sh"},
		Entrypoint:   []string{"/entry"},
		WorkingDir:   "/srv",
		Labels:       map[string]string{"l1": "img", "l2": "img"},
		ExposedPorts: network.PortSet{network.MustParsePort("80/tcp"): {}},
		Volumes:      map[string]struct{}{"/data": {}},
		StopSignal:   "SIGQUIT",
		Healthcheck:  &container.HealthConfig{Test: []string{"CMD", "true"}, Interval: time.Second, Retries: 3},
	}
	user := &container.Config{Env: []string{"A=user", "B=user"}, Labels: map[string]string{"l2": "user"}, Healthcheck: &container.HealthConfig{Interval: 2 * time.Second}}
	mergeImageConfig(user, img)
	if user.User != "app" || user.WorkingDir != "/srv" || user.StopSignal != "SIGQUIT" {
		t.Fatalf("scalars: %+v", user)
	}
	if strings.Join(user.Env, ",") != "A=user,B=user,PATH=/bin" {
		t.Fatalf("env: %v", user.Env)
	}
	if user.Labels["l1"] != "img" || user.Labels["l2"] != "user" {
		t.Fatalf("labels: %v", user.Labels)
	}
	if strings.Join(user.Entrypoint, " ") != "/entry" || strings.Join(user.Cmd, " ") != "sh" {
		t.Fatalf("command: %v %v", user.Entrypoint, user.Cmd)
	}
	if len(user.ExposedPorts) != 1 || len(user.Volumes) != 1 {
		t.Fatalf("ports/volumes: %v %v", user.ExposedPorts, user.Volumes)
	}
	if user.Healthcheck.Interval != 2*time.Second || user.Healthcheck.Retries != 3 || user.Healthcheck.Test[1] != "true" {
		t.Fatalf("healthcheck: %+v", user.Healthcheck)
	}

	// A user entrypoint drops the image's Cmd.
	u2 := &container.Config{Entrypoint: []string{"/bin/echo"}}
	mergeImageConfig(u2, img)
	if len(u2.Cmd) != 0 || u2.Entrypoint[0] != "/bin/echo" {
		t.Fatalf("entrypoint override: %v %v", u2.Entrypoint, u2.Cmd)
	}
	// A user Cmd keeps the image's entrypoint.
	u3 := &container.Config{Cmd: []string{"x"}}
	mergeImageConfig(u3, img)
	if u3.Entrypoint[0] != "/entry" || u3.Cmd[0] != "x" {
		t.Fatalf("cmd override: %v %v", u3.Entrypoint, u3.Cmd)
	}
}

func TestValidateHostConfigMessages(t *testing.T) {
	neg := int64(-5)
	cases := []struct {
		hc   container.HostConfig
		want string
	}{
		{container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "sometimes"}}, "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"},
		{container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "always", MaximumRetryCount: 2}}, "invalid restart policy: maximum retry count can only be used with 'on-failure'"},
		{container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "on-failure", MaximumRetryCount: -1}}, "invalid restart policy: maximum retry count cannot be negative"},
		{container.HostConfig{AutoRemove: true, RestartPolicy: container.RestartPolicy{Name: "always"}}, "can't create 'AutoRemove' container with restart policy"},
		{container.HostConfig{Resources: container.Resources{Memory: 1024}}, "Minimum memory limit allowed is 6MB"},
		{container.HostConfig{Resources: container.Resources{Memory: -1 << 30}}, "Minimum memory limit allowed is 6MB"},
		{container.HostConfig{Resources: container.Resources{MemorySwap: 1 << 30}}, "You should always set the Memory limit when using Memoryswap limit, see usage"},
		{container.HostConfig{Resources: container.Resources{CpusetCpus: "0-999"}}, "Requested CPUs are not available - requested 0-999, available: "},
		{container.HostConfig{Resources: container.Resources{CpusetCpus: "a-b"}}, "Invalid value a-b for cpuset cpus"},
		{container.HostConfig{Resources: container.Resources{NanoCPUs: 1e9, CPUPeriod: 100000}}, "Conflicting options: Nano CPUs and CPU Period cannot both be set"},
		{container.HostConfig{Resources: container.Resources{NanoCPUs: 1e12}}, "Range of CPUs is from 0.01 to "},
		{container.HostConfig{Resources: container.Resources{BlkioWeight: 5}}, "Range of blkio weight is from 10 to 1000"},
		{container.HostConfig{Resources: container.Resources{PidsLimit: &neg}}, "invalid pids limit: -5"},
		{container.HostConfig{IpcMode: "invalid"}, "invalid IPC mode: invalid"},
		{container.HostConfig{PidMode: "invalid"}, "invalid PID mode: invalid"},
		{container.HostConfig{PidMode: "container"}, "invalid PID mode: container"},
		{container.HostConfig{UTSMode: "invalid"}, "invalid UTS mode: invalid"},
		{container.HostConfig{Annotations: map[string]string{"": "a"}}, "invalid Annotations: the empty string is not permitted as an annotation key"},
	}
	for _, c := range cases {
		err := validateHostConfig(&c.hc)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || !errdefs.Is(err, errdefs.InvalidParameter) {
			t.Errorf("want %q, got %v", c.want, err)
		}
	}
	ok := container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3}, Resources: container.Resources{Memory: 64 << 20, CpusetCpus: "0"}}
	if err := validateHostConfig(&ok); err != nil {
		t.Fatal(err)
	}
}

func TestValidateConfigMessages(t *testing.T) {
	if err := validateConfig(nil); err == nil {
		t.Fatal("nil config accepted")
	}
	if err := validateConfig(&container.Config{StopSignal: "SIGNOPE"}); err == nil || err.Error() != "Invalid signal: SIGNOPE" {
		t.Fatalf("signal: %v", err)
	}
	if err := validateConfig(&container.Config{WorkingDir: "rel"}); err == nil {
		t.Fatal("relative workdir accepted")
	}
	cfg := &container.Config{WorkingDir: "/tmp/"}
	if err := validateConfig(cfg); err != nil || cfg.WorkingDir != "/tmp" {
		t.Fatalf("workdir %q kept uncleaned: %v", cfg.WorkingDir, err)
	}
	if err := validateConfig(&container.Config{Healthcheck: &container.HealthConfig{Interval: time.Microsecond}}); err == nil || err.Error() != "Interval in Healthcheck cannot be less than 1ms" {
		t.Fatalf("healthcheck: %v", err)
	}
}

// A cpuset range is bounded as dockerd bounds it: listing every CPU of
// "0-9999999999" ran the daemon out of memory, and a range ending at
// MaxInt never ended.
func TestValidateCPUSetBoundsRanges(t *testing.T) {
	for _, set := range []string{"0-9999999999", "0-9223372036854775807", "8193", "1,2,0-100000"} {
		done := make(chan error, 1)
		go func() { done <- validateCPUSet(set, 2, "cpus") }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "value of out range, maximum is") {
				t.Errorf("%s: %v", set, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: still listing CPUs after 5 s", set)
		}
	}
	if err := validateCPUSet("0", 1, "cpus"); err != nil {
		t.Errorf("0: %v", err)
	}
}
