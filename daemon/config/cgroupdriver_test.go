package config

import (
	"strings"
	"testing"
)

func TestCgroupDriverFromExecOpts(t *testing.T) {
	for _, tc := range []struct {
		opts   []string
		parent string
		driver string
		err    string
	}{
		{nil, "", CgroupDriverCgroupfs, ""},
		{[]string{"native.cgroupdriver=cgroupfs"}, "/mine", CgroupDriverCgroupfs, ""},
		{[]string{" Native.CgroupDriver = systemd "}, "", CgroupDriverSystemd, ""},
		{[]string{"native.cgroupdriver=systemd"}, "machine.slice", CgroupDriverSystemd, ""},
		{[]string{"native.cgroupdriver=systemd"}, "/mine", CgroupDriverSystemd, `cgroup-parent for systemd cgroup should be a valid slice named as "xxx.slice"`},
		{[]string{"native.cgroupdriver=systemd"}, ".slice", CgroupDriverSystemd, `should be a valid slice`},
		{[]string{"native.cgroupdriver=none"}, "", CgroupDriverCgroupfs, "native.cgroupdriver option none is internally used and cannot be specified manually"},
		{[]string{"native.cgroupdriver=lxc"}, "", CgroupDriverCgroupfs, "native.cgroupdriver option lxc not supported"},
		{[]string{"native.cgroupdriver"}, "", CgroupDriverCgroupfs, "invalid exec-opt (native.cgroupdriver): must be formatted 'opt=value'"},
		{[]string{"foo=bar"}, "", CgroupDriverCgroupfs, "invalid exec-opt (foo=bar): unknown option: 'foo'"},
	} {
		c := Default()
		c.ExecOptions, c.CgroupParent = tc.opts, tc.parent
		if got := c.CgroupDriver(); got != tc.driver {
			t.Errorf("%q: driver %s, want %s", tc.opts, got, tc.driver)
		}
		err := c.validateCgroupDriver()
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%q %q: %v, want %q", tc.opts, tc.parent, err, tc.err)
		}
	}
}

func TestMergeFileReadsExecOpts(t *testing.T) {
	c := Default()
	if err := MergeFile(c, writeFile(t, `{"exec-opts":["native.cgroupdriver=systemd"],"cgroup-parent":"berth.slice"}`), nil); err != nil {
		t.Fatal(err)
	}
	if c.CgroupDriver() != CgroupDriverSystemd || c.CgroupParent != "berth.slice" {
		t.Fatalf("%+v", c.ExecOptions)
	}
}
