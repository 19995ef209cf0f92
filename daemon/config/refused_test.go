package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMergeFileRefusesWhatBerthCannotHonour(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{`{"userns-remap":"default"}`, "userns-remap: user namespace remapping is not supported"},
		{`{"selinux-enabled":true}`, "selinux-enabled: SELinux labelling is not supported"},
		{`{"cpu-rt-runtime":950000}`, "cpu-rt-runtime: realtime CPU"},
		{`{"default-gateway":"172.17.0.2"}`, "default-gateway:"},
		{`{"userland-proxy-path":"/usr/bin/docker-proxy"}`, "userland-proxy-path:"},
		{`{"storage-opts":["overlay2.size=10G"]}`, "storage-opts: overlay2 storage options"},
		{`{"rootless":true}`, "rootless: rootless mode"},
		{`{"swarm-default-advertise-addr":"eth0"}`, "swarm-default-advertise-addr: swarm mode"},
		{`{"bip6":"fd00::1/64"}`, "bip6:"},
		// dockerd itself dropped it: the unknown-key message, as dockerd.
		{`{"oom-score-adjust":-500}`, "the following directives don't match any configuration option: oom-score-adjust"},
	} {
		p := writeFile(t, tc.json)
		err := MergeFile(Default(), p, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.json, err, tc.want)
		}
	}
}

func TestMergeFileAcceptsEmptyValuesOfRefusedKeys(t *testing.T) {
	p := writeFile(t, `{"userns-remap":"","selinux-enabled":false,"builder":{"gc":{}},"containerd":"/run/containerd/containerd.sock","allow-nondistributable-artifacts":["r.example"]}`)
	if err := MergeFile(Default(), p, nil); err != nil {
		t.Fatal(err)
	}
}

func TestMergeFileAppliesContainerDefaultsAndLogFormat(t *testing.T) {
	initBin := filepath.Join(t.TempDir(), "docker-init")
	if err := os.WriteFile(initBin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := Default()
	p := writeFile(t, `{"init":true,"init-path":"`+initBin+`","no-new-privileges":true,"seccomp-profile":"unconfined","default-ipc-mode":"shareable","default-cgroupns-mode":"host","cgroup-parent":"/mine","proxies":{"http-proxy":"http://127.0.0.1:3128","no-proxy":"localhost"},"log-format":"json","raw-logs":true,"max-download-attempts":2,"resolv-conf":"/etc/hosts","default-network-opts":{"bridge":{"com.docker.network.driver.mtu":"1400"}}}`)
	if err := MergeFile(c, p, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !c.Init || c.InitPath != initBin || !c.NoNewPrivileges || c.DefaultIpcMode != "shareable" || c.DefaultCgroupnsMode != "host" || c.CgroupParent != "/mine" || c.Proxies.HTTPProxy != "http://127.0.0.1:3128" || c.Proxies.NoProxy != "localhost" || c.LogFormat != "json" || !c.RawLogs || c.MaxDownloadAttempts != 2 || c.ResolvConf != "/etc/hosts" || c.DefaultNetworkOpts["bridge"]["com.docker.network.driver.mtu"] != "1400" {
		t.Fatalf("not applied: %+v", c)
	}
	if body, err := c.SeccompProfileBody(); err != nil || body != "unconfined" {
		t.Fatalf("seccomp body %q, %v", body, err)
	}
}

func TestValidateContainerDefaultsWithDockerdMessages(t *testing.T) {
	for _, tc := range []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.DefaultIpcMode = "host" }, `IPC mode "host" is not supported as default value; use "shareable" or "private"`},
		{func(c *Config) { c.DefaultIpcMode = "bogus" }, `default IPC mode setting (bogus) is invalid; use "shareable" or "private"`},
		{func(c *Config) { c.DefaultCgroupnsMode = "bogus" }, `invalid default cgroup namespace (bogus): use "host" or "private"`},
		{func(c *Config) { c.MaxDownloadAttempts = -1 }, "invalid max download attempts: -1"},
		{func(c *Config) { c.MinAPIVersion = "1.23" }, "invalid min API version: minimum supported API version is 1.24: 1.23"},
		{func(c *Config) { c.MinAPIVersion = "v1.44" }, `invalid min API version: API version must be provided without "v" prefix`},
		{func(c *Config) { c.MinAPIVersion = "9.0" }, "invalid min API version: maximum supported API version is"},
		{func(c *Config) { c.LogFormat = "xml" }, "invalid log format: xml"},
		{func(c *Config) { c.SeccompProfile = "/no/such/profile.json" }, "opening seccomp profile (/no/such/profile.json) failed"},
		{func(c *Config) { c.InitPath = "/no/such/docker-init" }, "init-path /no/such/docker-init: not an executable file"},
		{func(c *Config) { c.DefaultInit = "no-such-docker-init" }, "default-init no-such-docker-init:"},
		{func(c *Config) { n := -2; c.DefaultStopTimeout = &n }, "invalid default-stop-timeout: -2"},
	} {
		c := Default()
		tc.mutate(c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
}

func TestDefaultInitLookedUpInPath(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "my-init"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	c := Default()
	p := writeFile(t, `{"default-init":"my-init","default-stop-timeout":0}`)
	if err := MergeFile(c, p, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := c.InitBinary(); err != nil || got != filepath.Join(dir, "my-init") {
		t.Fatalf("InitBinary %q, %v", got, err)
	}
	// 0 is a timeout, not "unset".
	if c.DefaultStopTimeout == nil || *c.DefaultStopTimeout != 0 {
		t.Fatalf("default-stop-timeout %v", c.DefaultStopTimeout)
	}
}

func TestProxyFlagConflictsWithFileKey(t *testing.T) {
	p := writeFile(t, `{"proxies":{"https-proxy":"http://127.0.0.1:3128"}}`)
	err := MergeFile(Default(), p, map[string]string{"https-proxy": "http://127.0.0.1:8080"})
	if err == nil || !strings.Contains(err.Error(), "https-proxy: (from flag: http://127.0.0.1:8080, from file: http://127.0.0.1:3128)") {
		t.Fatalf("got %v", err)
	}
	// Another proxy key by flag is no conflict.
	if err := MergeFile(Default(), p, map[string]string{"http-proxy": "http://127.0.0.1:8080"}); err != nil {
		t.Fatal(err)
	}
}

// SIGHUP applies the container defaults dockerd reloads, not the rest.
func TestReloadsDockerdsContainerDefaults(t *testing.T) {
	c, next := Default(), Default()
	n := 3
	next.MaxDownloadAttempts, next.DefaultStopTimeout, next.DefaultIpcMode, next.DefaultCgroupnsMode = 2, &n, "shareable", "host"
	next.Init, next.CgroupParent = true, "/other"
	changed := c.ApplyReload(next)
	want := "default-cgroupns-mode default-ipc-mode default-stop-timeout max-download-attempts"
	if got := strings.Join(changed, " "); got != want {
		t.Fatalf("changed %q, want %q", got, want)
	}
	if c.Init || c.CgroupParent != "" || *c.DefaultStopTimeout != 3 {
		t.Fatalf("reloaded: %+v", c)
	}
}
