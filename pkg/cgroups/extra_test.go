package cgroups

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// fakeFiles makes dir with the named (empty) files, as a cgroup's
// directory has them, and reads one back.
func fakeFiles(t *testing.T, dir string, names ...string) func(name string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
}

var twoSizes = []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}, {Pagesize: "1GB", Limit: 0}}

func TestV1HugetlbFiles(t *testing.T) {
	dir := t.TempDir()
	read := fakeFiles(t, dir, "hugetlb.2MB.limit_in_bytes", "hugetlb.2MB.rsvd.limit_in_bytes", "hugetlb.1GB.limit_in_bytes", "hugetlb.1GB.rsvd.limit_in_bytes")
	m := &v1Manager{paths: map[string]string{"hugetlb": dir}}
	if err := m.Set(&specs.LinuxResources{HugepageLimits: twoSizes}); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"hugetlb.2MB.limit_in_bytes": "4194304", "hugetlb.2MB.rsvd.limit_in_bytes": "4194304",
		"hugetlb.1GB.limit_in_bytes": "0", "hugetlb.1GB.rsvd.limit_in_bytes": "0",
	} {
		if got := read(file); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
}

// Without a hugetlb hierarchy the limits cannot be kept: an error, as
// runc's, not a write relative to the working directory.
func TestV1HugetlbNotMounted(t *testing.T) {
	wd, _ := os.Getwd()
	m := &v1Manager{paths: map[string]string{"memory": t.TempDir()}}
	err := m.Set(&specs.LinuxResources{HugepageLimits: twoSizes})
	if err == nil || !strings.Contains(err.Error(), "cannot set hugetlb limit") {
		t.Fatalf("Set without hugetlb: %v", err)
	}
	if _, err := os.Stat(filepath.Join(wd, "hugetlb.2MB.limit_in_bytes")); err == nil {
		t.Fatal("a limit file was written in the working directory")
	}
}

func TestV1RefusesUnified(t *testing.T) {
	m := &v1Manager{paths: map[string]string{"memory": t.TempDir()}}
	if err := m.Set(&specs.LinuxResources{Unified: map[string]string{"memory.high": "1"}}); !errors.Is(err, ErrV1NoUnified) {
		t.Fatalf("unified on v1: %v, want %v", err, ErrV1NoUnified)
	}
}

func TestV2HugetlbAndUnifiedFiles(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "pod", "c")
	read := fakeFiles(t, dir, "cgroup.controllers", "hugetlb.2MB.max", "hugetlb.2MB.rsvd.max", "hugetlb.1GB.max", "hugetlb.1GB.rsvd.max", "memory.high", "io.max")
	if err := os.WriteFile(filepath.Join(dir, "cgroup.controllers"), []byte("memory io hugetlb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := &v2Manager{root: root, dir: dir}
	err := m.Set(&specs.LinuxResources{
		HugepageLimits: twoSizes,
		Unified:        map[string]string{"memory.high": "123456", "io.max": "8:0 rbps=1\n8:16 wbps=2\n"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"hugetlb.2MB.max": "4194304", "hugetlb.2MB.rsvd.max": "4194304", "hugetlb.1GB.max": "0", "hugetlb.1GB.rsvd.max": "0",
		"memory.high": "123456",
		// A line per write: the file keeps the last here, the kernel
		// each device's.
		"io.max": "8:16 wbps=2",
	} {
		if got := read(file); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	for _, bad := range []string{"../cgroup.procs", "..", "pod/memory.max", "memoryhigh", ".max", "memory."} {
		err := m.Set(&specs.LinuxResources{Unified: map[string]string{bad: "1"}})
		if err == nil {
			t.Errorf("unified key %q accepted", bad)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "pod", "cgroup.procs")); err == nil {
		t.Fatal("a unified key wrote outside the cgroup's directory")
	}
}

func TestExtraResourcesValidate(t *testing.T) {
	ok := &ExtraResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB"}, {Pagesize: "1GB"}, {Pagesize: "64KB"}}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, size := range []string{"", "2M", "MB", "2 MB", "-2MB", "../2MB"} {
		e := &ExtraResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: size}}}
		if e.Validate() == nil {
			t.Errorf("page size %q accepted", size)
		}
	}
	u := &ExtraResources{Unified: map[string]string{"memory.high": "1"}}
	err := u.Validate()
	if IsV2() && err != nil {
		t.Fatalf("unified on a v2 host: %v", err)
	}
	if !IsV2() && !errors.Is(err, ErrV1NoUnified) {
		t.Fatalf("unified on a v1 host: %v, want %v", err, ErrV1NoUnified)
	}
	if !(*ExtraResources)(nil).IsZero() || !(&ExtraResources{}).IsZero() || u.IsZero() {
		t.Fatal("IsZero")
	}
}

// The limits reach the kernel's files: on a cgroup2 mount of this host's
// (a private mount of the unified hierarchy, which a hybrid host has
// hugetlb on). A host without hugetlb in v2 cannot show it.
func TestV2HugetlbOnRealMount(t *testing.T) {
	root := privateCgroup2(t)
	if c, _ := readString(root, "cgroup.controllers"); !hasWord(c, "hugetlb") {
		t.Skipf("hugetlb is not a cgroup v2 controller here (%q)", c)
	}
	sizes, err := os.ReadDir("/sys/kernel/mm/hugepages")
	if err != nil || len(sizes) == 0 {
		t.Skipf("no hugepage sizes: %v", err)
	}
	m := &v2Manager{root: root, dir: filepath.Join(root, "berth-test-hugetlb", "c")}
	if err := m.Apply(0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = removeTree(filepath.Join(root, "berth-test-hugetlb")) })
	if err := m.Set(&specs.LinuxResources{
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 8 << 20}},
		Unified:        map[string]string{"hugetlb.1GB.max": "0", "cgroup.max.descendants": "3"},
	}); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{"hugetlb.2MB.max": "8388608", "hugetlb.2MB.rsvd.max": "8388608", "hugetlb.1GB.max": "0", "cgroup.max.descendants": "3"} {
		if got, err := readString(m.dir, file); err != nil || got != want {
			t.Errorf("%s = %q %v, want %q", file, got, err, want)
		}
	}
	// A controller the cgroup does not have is named in the error.
	err = m.Set(&specs.LinuxResources{Unified: map[string]string{"nosuch.max": "1"}})
	if err == nil || !strings.Contains(err.Error(), `controller "nosuch" not available`) {
		t.Fatalf("unknown controller: %v", err)
	}
}

// privateCgroup2 mounts the cgroup2 hierarchy on a directory of the
// test's, unmounted when it ends.
func privateCgroup2(t *testing.T) string {
	t.Helper()
	requireRoot(t)
	root := t.TempDir()
	if err := unix.Mount("cgroup2", root, "cgroup2", 0, ""); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cannot mount cgroup2 on this host: %v", err)
		}
		t.Skipf("cannot mount cgroup2: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(root, unix.MNT_DETACH) })
	return root
}
