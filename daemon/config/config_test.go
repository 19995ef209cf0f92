package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "daemon.json")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMergeFileAppliesKeys(t *testing.T) {
	c := Default()
	p := writeFile(t, `{"log-level":"warn","labels":["a=b"],"live-restore":true,"max-concurrent-downloads":7,"iptables":false,"default-address-pools":[{"base":"10.10.0.0/16","size":24}],"features":{"buildkit":false},"metrics-addr":"127.0.0.1:9323"}`)
	if err := MergeFile(c, p, nil); err != nil {
		t.Fatal(err)
	}
	if c.MetricsAddress != "127.0.0.1:9323" {
		t.Fatalf("metrics-addr not applied: %q", c.MetricsAddress)
	}
	if c.LogLevel != "warn" || len(c.Labels) != 1 || !c.LiveRestore || c.MaxConcurrentDownloads != 7 || BoolOr(c.EnableIPTables, true) {
		t.Fatalf("not applied: %+v", c)
	}
	if len(c.DefaultAddressPools) != 1 || c.DefaultAddressPools[0].Size != 24 {
		t.Fatalf("pools: %+v", c.DefaultAddressPools)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	// Untouched keys keep their defaults.
	if c.DataRoot != DefaultDataRoot || c.MaxConcurrentUploads != DefaultMaxConcurrentUploads {
		t.Fatal("defaults lost")
	}
}

func TestMergeFileConflictAndUnknown(t *testing.T) {
	p := writeFile(t, `{"log-level":"info","hosts":["tcp://127.0.0.1:2376"]}`)
	err := MergeFile(Default(), p, map[string]string{"log-level": "debug", "hosts": "[unix:///var/run/docker.sock]"})
	want := "unable to configure the Docker daemon with file " + p + ": the following directives are specified both as a flag and in the configuration file: hosts: (from flag: [unix:///var/run/docker.sock], from file: [tcp://127.0.0.1:2376]), log-level: (from flag: debug, from file: info)"
	if err == nil || err.Error() != want {
		t.Fatalf("conflict error:\n got %v\nwant %s", err, want)
	}
	p = writeFile(t, `{"log-level":"info","no-such-key":1,"other":true}`)
	err = MergeFile(Default(), p, nil)
	if err == nil || !strings.HasSuffix(err.Error(), "the following directives don't match any configuration option: no-such-key, other") {
		t.Fatalf("unknown key error: %v", err)
	}
	p = writeFile(t, `{"log-level":`)
	if err := MergeFile(Default(), p, nil); err == nil {
		t.Fatal("malformed JSON accepted")
	}
	if err := MergeFile(Default(), filepath.Join(t.TempDir(), "missing.json"), nil); !os.IsNotExist(err) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestValidate(t *testing.T) {
	bad := []func(c *Config){
		func(c *Config) { c.LogLevel = "loud" },
		func(c *Config) { c.DNS = []string{"not-an-ip"} },
		func(c *Config) { c.Labels = []string{"novalue"} },
		func(c *Config) { c.MaxConcurrentDownloads = -1 },
		func(c *Config) { c.BridgeIP = "10.0.0.1" },
		func(c *Config) { c.DefaultRuntime = "nope" },
		func(c *Config) { c.Runtimes = map[string]Runtime{"berth": {Path: "/x"}} },
		func(c *Config) { c.StorageDriver = "vfs" },
		func(c *Config) { c.LogDriver = "gcplogs" },
		func(c *Config) { c.LogDriver, c.LogOpts = "syslog", map[string]string{"syslog-bogus": "1"} },
		func(c *Config) { c.LogDriver, c.LogOpts = "gelf", map[string]string{"tag": "x"} },
		func(c *Config) { c.FixedCIDRv6 = "fe80::/80" },
		func(c *Config) { c.FixedCIDRv6 = "ff05::/64" },
		func(c *Config) { c.FixedCIDRv6 = "10.0.0.0/24" },
		func(c *Config) { c.FirewallBackend = "ebtables" },
		func(c *Config) { c.DefaultIP = "not-an-ip" },
		func(c *Config) { c.BridgeAcceptFwMark = "0x1/mask" },
		func(c *Config) { c.MetricsAddress = "127.0.0.1" }, // no port
	}
	for i, mutate := range bad {
		c := Default()
		mutate(c)
		if err := c.Validate(); err == nil {
			t.Errorf("case %d accepted", i)
		}
	}
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, drv := range []string{"syslog", "fluentd", "journald", "local", "none"} {
		c := Default()
		c.LogDriver = drv
		if err := c.Validate(); err != nil {
			t.Errorf("log-driver %s: %v", drv, err)
		}
	}
	gelf := Default()
	gelf.LogDriver, gelf.LogOpts = "gelf", map[string]string{"gelf-address": "udp://127.0.0.1:12201", "mode": "non-blocking"}
	if err := gelf.Validate(); err != nil {
		t.Errorf("log-driver gelf: %v", err)
	}
	for _, fb := range []string{"iptables", "nftables"} {
		c := Default()
		c.FirewallBackend = fb
		if err := c.Validate(); err != nil {
			t.Fatalf("firewall-backend %s (a dockerd configuration): %v", fb, err)
		}
	}
	// dockerd serves metrics on any address, loopback or not.
	for _, addr := range []string{"0.0.0.0:9323", "[::1]:9323", "localhost:0"} {
		c := Default()
		c.MetricsAddress = addr
		if err := c.Validate(); err != nil {
			t.Fatalf("metrics-addr %s: %v", addr, err)
		}
	}
	c := Default()
	c.BridgeAcceptFwMark = "0x2/0x3"
	if err := c.Validate(); err != nil {
		t.Fatalf("bridge-accept-fwmark 0x2/0x3: %v", err)
	}
	c = Default()
	c.FixedCIDRv6 = "fd12:3456::/80"
	if err := c.Validate(); err != nil {
		t.Fatalf("a /80 --fixed-cidr-v6 (dockerd takes it): %v", err)
	}
}

func TestApplyReloadOnlyReloadable(t *testing.T) {
	c := Default()
	next := Default()
	next.LogLevel = "debug"
	next.Labels = []string{"x=y"}
	next.DataRoot = "/elsewhere"
	changed := c.ApplyReload(next)
	if strings.Join(changed, ",") != "labels,log-level" {
		t.Fatalf("changed = %v", changed)
	}
	if c.LogLevel != "debug" || c.DataRoot != DefaultDataRoot {
		t.Fatalf("reload applied wrong keys: %+v", c)
	}
}

func TestDefaultShmSizeParses(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "daemon.json")
	for in, want := range map[string]MemBytes{`"1m"`: 1 << 20, `"64M"`: 64 << 20, `1048576`: 1 << 20} {
		os.WriteFile(p, []byte(`{"default-shm-size":`+in+`}`), 0o644)
		c := Default()
		if err := MergeFile(c, p, nil); err != nil || c.DefaultShmSize != want {
			t.Errorf("%s: %d %v, want %d", in, c.DefaultShmSize, err, want)
		}
	}
	var m MemBytes
	if err := m.Set("1024k"); err != nil || m != 1<<20 {
		t.Errorf("flag: %d %v", m, err)
	}
	if err := m.Set("lots"); err == nil {
		t.Error("bad size accepted")
	}
}
