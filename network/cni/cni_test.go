package cni

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const chainConf = `{"cniVersion":"1.0.0","name":"podnet","plugins":[
 {"type":"fakenet"},
 {"type":"fakeport","capabilities":{"portMappings":true,"io.kubernetes.cri.pod-annotations":true}}]}`

func testPod(t *testing.T) Pod {
	// A plain file stands for the namespace: the fake plugins only pass
	// its path along, and removing it is a namespace that went away.
	netns := filepath.Join(t.TempDir(), "netns")
	if err := os.WriteFile(netns, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return Pod{
		ID: "0123456789abcdef", Name: "web", Namespace: "shop", UID: "uid-1",
		NetnsPath: netns,
		PortMappings: []PortMapping{
			{HostPort: 8080, ContainerPort: 80, Protocol: "TCP", HostIP: "127.0.0.1"},
			{ContainerPort: 9090, Protocol: "TCP"}, // no host port: not published
			{HostPort: 5353, ContainerPort: 53, Protocol: "UDP"},
		},
		Annotations: map[string]string{"team": "blue"},
	}
}

func TestReadyWithoutConfig(t *testing.T) {
	e := newFakeEnv(t)
	missing := filepath.Join(e.conf, "absent")
	err := New(Config{ConfDir: missing}).Ready()
	if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "no network config found in "+missing) {
		t.Fatalf("Ready with a missing dir = %v", err)
	}
	m := e.manager()
	if err := m.Ready(); !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "no network config found in "+e.conf) {
		t.Fatalf("Ready with an empty dir = %v", err)
	}
	e.writeConf("10-broken.conflist", `{"name":`)
	e.writeConf("README", `not a config`)
	err = m.Ready()
	if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "10-broken.conflist") {
		t.Fatalf("Ready with only a broken config = %v, want it named", err)
	}
	if _, err := m.Setup(context.Background(), testPod(t)); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Setup without config = %v, want ErrNotReady", err)
	}
	e.wantCalls() // and no plugin ran
}

func TestReadyNamesAMissingPlugin(t *testing.T) {
	e := newFakeEnv(t, "fakenet", "fakeport")
	e.writeConf("10-podnet.conflist", `{"cniVersion":"1.0.0","name":"podnet","plugins":[
	  {"type":"fakenet","ipam":{"type":"fakeipam"}},{"type":"fakeport"}]}`)
	m := e.manager()
	if err := m.Ready(); !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), `"fakeipam"`) {
		t.Fatalf("Ready with the IPAM plugin missing = %v, want it named", err)
	}
	e.install(e.bin, "fakeipam")
	if err := m.Ready(); err != nil {
		t.Fatalf("Ready once it is installed: %v", err)
	}
	e.wantCalls() // Ready runs no plugin
}

func TestConfigIsReloadedAndFirstInLexicalOrderWins(t *testing.T) {
	e := newFakeEnv(t, "fakenet", "fakeport")
	m := e.manager()
	e.writeConf("20-podnet.conflist", chainConf)
	// A broken file sorting first is passed over, not fatal.
	e.writeConf("05-broken.conf", `{"cniVersion":"1.0.0","name":"x"}`)
	if err := m.Ready(); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	p := testPod(t)
	res, err := m.Setup(context.Background(), p)
	if err != nil || res.Network != "podnet" {
		t.Fatalf("Setup = %+v, %v; want network podnet", res, err)
	}
	e.wantCalls("ADD fakenet", "ADD fakeport")
	if err := m.Teardown(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	e.calls()

	// A single-plugin .conf sorting first is wrapped into a list and wins.
	e.writeConf("10-single.conf", `{"cniVersion":"0.4.0","name":"single","type":"fakenet"}`)
	res, err = m.Setup(context.Background(), p)
	if err != nil || res.Network != "single" {
		t.Fatalf("Setup after adding 10-single.conf = %+v, %v; want network single", res, err)
	}
	add := e.wantCalls("ADD fakenet")[0]
	if add.stdin["name"] != "single" || add.stdin["cniVersion"] != "0.4.0" {
		t.Fatalf("wrapped .conf gave stdin %v", add.stdin)
	}
	// A 0.4.0 result is converted; the pod's addresses come out the same.
	if want := []net.IP{net.ParseIP("10.99.0.5").To4(), net.ParseIP("fd99::5")}; !reflect.DeepEqual(res.IPs, want) {
		t.Fatalf("IPs from a 0.4.0 result = %v, want %v", res.IPs, want)
	}
	if err := m.Teardown(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	e.calls()

	for _, f := range []string{"05-broken.conf", "10-single.conf", "20-podnet.conflist"} {
		os.Remove(filepath.Join(e.conf, f))
	}
	if err := m.Ready(); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Ready after removing every config = %v, want ErrNotReady", err)
	}
}

func TestSetupPassesArgsAndCapabilities(t *testing.T) {
	e := newFakeEnv(t, "fakenet", "fakeport")
	e.writeConf("10-podnet.conflist", chainConf)
	m := e.manager()
	p := testPod(t)
	res, err := m.Setup(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	// Pod addresses only (not the host side's 10.99.0.1), IPv4 first.
	if want := []net.IP{net.ParseIP("10.99.0.5").To4(), net.ParseIP("fd99::5")}; !reflect.DeepEqual(res.IPs, want) {
		t.Fatalf("IPs = %v, want %v", res.IPs, want)
	}
	calls := e.wantCalls("ADD fakenet", "ADD fakeport")
	for _, c := range calls {
		want := map[string]string{
			"CNI_COMMAND":     "ADD",
			"CNI_CONTAINERID": p.ID,
			"CNI_NETNS":       p.NetnsPath,
			"CNI_IFNAME":      "eth0",
			"CNI_ARGS":        "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=" + p.ID + ";K8S_POD_UID=uid-1",
			"CNI_PATH":        e.bin,
		}
		for k, v := range want {
			if c.env[k] != v {
				t.Errorf("%s: %s=%q, want %q", c, k, c.env[k], v)
			}
		}
	}
	// Capability args go only to the plugin that declares them.
	if _, ok := calls[0].stdin["runtimeConfig"]; ok {
		t.Errorf("fakenet declared no capabilities but got runtimeConfig %v", calls[0].stdin["runtimeConfig"])
	}
	rc, _ := calls[1].stdin["runtimeConfig"].(map[string]any)
	wantPM := []any{
		map[string]any{"hostPort": 8080.0, "containerPort": 80.0, "protocol": "tcp", "hostIP": "127.0.0.1"},
		map[string]any{"hostPort": 5353.0, "containerPort": 53.0, "protocol": "udp"},
	}
	if !reflect.DeepEqual(rc["portMappings"], wantPM) {
		t.Errorf("portMappings = %#v, want %#v", rc["portMappings"], wantPM)
	}
	if !reflect.DeepEqual(rc["io.kubernetes.cri.pod-annotations"], map[string]any{"team": "blue"}) {
		t.Errorf("pod annotations = %#v", rc["io.kubernetes.cri.pod-annotations"])
	}
	if _, ok := calls[1].stdin["prevResult"]; !ok {
		t.Errorf("the chained plugin got no prevResult: %v", calls[1].stdin)
	}
	if got := e.cacheFiles(); !reflect.DeepEqual(got, []string{"podnet-" + p.ID + "-eth0"}) {
		t.Errorf("cache = %q, want podnet's result for the pod", got)
	}
}

func TestPluginsAreFoundInBinDirsInOrder(t *testing.T) {
	e := newFakeEnv(t)
	first, second := filepath.Join(t.TempDir(), "first"), filepath.Join(t.TempDir(), "second")
	os.MkdirAll(first, 0o755)
	os.MkdirAll(second, 0o755)
	// fakeport only in the second dir; fakenet in both, and the first
	// dir's copy fails, so using the second's would be visible.
	e.install(second, "fakenet", "fakeport")
	if err := os.WriteFile(filepath.Join(first, "fakenet"), []byte("#!/bin/sh\necho '{\"code\":999,\"msg\":\"first dir\"}'\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	e.writeConf("10-podnet.conflist", chainConf)
	m := New(Config{BinDirs: []string{first, second}, ConfDir: e.conf, CacheDir: e.cache})
	_, err := m.Setup(context.Background(), testPod(t))
	if err == nil || !strings.Contains(err.Error(), "first dir") {
		t.Fatalf("Setup = %v, want the first dir's fakenet to run", err)
	}
	// The undo ran the second dir's fakeport (and the first's fakenet,
	// which records nothing); CNI_PATH lists both dirs in order.
	for _, c := range e.wantCalls("DEL fakeport") {
		if c.env["CNI_PATH"] != first+":"+second {
			t.Errorf("CNI_PATH = %q", c.env["CNI_PATH"])
		}
	}
}

func TestFailedAddIsUndone(t *testing.T) {
	e := newFakeEnv(t, "fakenet", "fakefail")
	e.writeConf("10-podnet.conflist", `{"cniVersion":"1.0.0","name":"podnet","plugins":[{"type":"fakenet"},{"type":"fakefail"}]}`)
	m := e.manager()
	p := testPod(t)
	_, err := m.Setup(context.Background(), p)
	if err == nil || !strings.Contains(err.Error(), "fakefail refuses") || !strings.Contains(err.Error(), p.ID) {
		t.Fatalf("Setup = %v, want fakefail's message and the pod", err)
	}
	calls := e.wantCalls("ADD fakenet", "ADD fakefail", "DEL fakefail", "DEL fakenet")
	for _, c := range calls[2:] {
		if c.env["CNI_NETNS"] != p.NetnsPath || c.env["CNI_CONTAINERID"] != p.ID {
			t.Errorf("%s env %v", c, c.env)
		}
	}
	if got := e.cacheFiles(); len(got) != 0 {
		t.Errorf("cache after a failed ADD = %q", got)
	}
}

func TestSetupHonoursTheContextAndStillUndoes(t *testing.T) {
	e := newFakeEnv(t, "fakenet", "fakeslow")
	e.writeConf("10-podnet.conflist", `{"cniVersion":"1.0.0","name":"podnet","plugins":[{"type":"fakenet"},{"type":"fakeslow"}]}`)
	m := e.manager()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := m.Setup(ctx, testPod(t)); err == nil {
		t.Fatal("Setup with a hung plugin succeeded")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Setup took %v past a 300ms deadline", d)
	}
	e.wantCalls("ADD fakenet", "ADD fakeslow", "DEL fakeslow", "DEL fakenet")
}

func TestTeardownWithGoneNetnsUsesTheCache(t *testing.T) {
	e := newFakeEnv(t, "fakenet", "fakeport")
	e.writeConf("10-podnet.conflist", chainConf)
	m := e.manager()
	p := testPod(t)
	if _, err := m.Setup(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	e.calls()
	// The sandbox died with its namespace, and the network config was
	// removed since: DEL still runs with what ADD used.
	os.Remove(p.NetnsPath)
	os.Remove(filepath.Join(e.conf, "10-podnet.conflist"))
	bare := Pod{ID: p.ID, NetnsPath: p.NetnsPath} // a restarted daemon may know little else
	if err := m.Teardown(context.Background(), bare); err != nil {
		t.Fatalf("Teardown: %v", err)
	}
	calls := e.wantCalls("DEL fakeport", "DEL fakenet")
	for _, c := range calls {
		if c.env["CNI_NETNS"] != "" {
			t.Errorf("%s: CNI_NETNS=%q for a namespace that is gone, want empty", c, c.env["CNI_NETNS"])
		}
		if !strings.Contains(c.env["CNI_ARGS"], "K8S_POD_NAME=web") {
			t.Errorf("%s: CNI_ARGS=%q, want the ADD's", c, c.env["CNI_ARGS"])
		}
	}
	rc, _ := calls[0].stdin["runtimeConfig"].(map[string]any)
	if pm, _ := rc["portMappings"].([]any); len(pm) != 2 {
		t.Errorf("DEL fakeport got portMappings %v, want the ADD's two", rc["portMappings"])
	}
	if got := e.cacheFiles(); len(got) != 0 {
		t.Errorf("cache after Teardown = %q", got)
	}
	// Again: nothing cached, nothing configured, nothing to do.
	if err := m.Teardown(context.Background(), bare); err != nil {
		t.Fatalf("second Teardown: %v", err)
	}
	e.wantCalls()
}

func TestTeardownWithoutCacheUsesTheCurrentConfig(t *testing.T) {
	e := newFakeEnv(t, "fakenet", "fakeport")
	e.writeConf("10-podnet.conflist", chainConf)
	m := e.manager()
	p := testPod(t)
	if err := m.Teardown(context.Background(), p); err != nil {
		t.Fatalf("Teardown: %v", err)
	}
	calls := e.wantCalls("DEL fakeport", "DEL fakenet")
	if calls[0].env["CNI_NETNS"] != p.NetnsPath {
		t.Errorf("CNI_NETNS = %q, want %q", calls[0].env["CNI_NETNS"], p.NetnsPath)
	}
	rc, _ := calls[0].stdin["runtimeConfig"].(map[string]any)
	if pm, _ := rc["portMappings"].([]any); len(pm) != 2 {
		t.Errorf("DEL fakeport got portMappings %v, want the pod's two", rc["portMappings"])
	}
}

func TestSetupRefusesAPodWithoutNamespace(t *testing.T) {
	e := newFakeEnv(t, "fakenet")
	e.writeConf("10-podnet.conflist", chainConf)
	if _, err := e.manager().Setup(context.Background(), Pod{ID: "abc"}); err == nil {
		t.Fatal("Setup without a netns succeeded")
	}
	if err := e.manager().Teardown(context.Background(), Pod{}); err == nil {
		t.Fatal("Teardown without an ID succeeded")
	}
	e.wantCalls()
}

func TestAttachedListsPodsSetUpAndNotTornDown(t *testing.T) {
	e := newFakeEnv(t, "fakenet", "fakeport")
	e.writeConf("10-podnet.conflist", chainConf)
	m := e.manager()
	if ids, err := m.Attached(); err != nil || len(ids) != 0 {
		t.Fatalf("Attached before any pod = %q, %v", ids, err)
	}
	a, b := testPod(t), testPod(t)
	a.ID, b.ID = "bbbb-second", "aaaa-first"
	for _, p := range []Pod{a, b} {
		if _, err := m.Setup(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	// A cache entry written half-way by a crash is no attachment.
	os.WriteFile(filepath.Join(e.cache, "results", "podnet-cccc-eth0"), []byte(`{"kind":"cniCa`), 0o600)
	if ids, err := m.Attached(); err != nil || !reflect.DeepEqual(ids, []string{"aaaa-first", "bbbb-second"}) {
		t.Fatalf("Attached = %q, %v; want both pods", ids, err)
	}
	if err := m.Teardown(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if ids, err := m.Attached(); err != nil || !reflect.DeepEqual(ids, []string{"aaaa-first"}) {
		t.Fatalf("Attached after tearing one down = %q, %v", ids, err)
	}
}
