package cgroups

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ExtraResources are the cgroup settings of an OCI spec that the Docker
// API has no field for and the CRI gives: hugepage limits and cgroup v2
// key/values ("unified"), which Set writes as they are.
type ExtraResources struct {
	HugepageLimits []specs.LinuxHugepageLimit `json:",omitempty"`
	Unified        map[string]string          `json:",omitempty"`
}

// IsZero says whether e sets nothing.
func (e *ExtraResources) IsZero() bool {
	return e == nil || (len(e.HugepageLimits) == 0 && len(e.Unified) == 0)
}

// Clone is a copy of e that shares nothing with it; of nil, an empty one.
func (e *ExtraResources) Clone() *ExtraResources {
	c := &ExtraResources{}
	if e != nil {
		c.HugepageLimits = append(c.HugepageLimits, e.HugepageLimits...)
		c.Unified = maps.Clone(e.Unified)
	}
	return c
}

// HugepageLimit is e's limit for pages of size, added (at 0) if e has
// none: for a caller that replaces or adds to it.
func (e *ExtraResources) HugepageLimit(size string) *specs.LinuxHugepageLimit {
	for i := range e.HugepageLimits {
		if e.HugepageLimits[i].Pagesize == size {
			return &e.HugepageLimits[i]
		}
	}
	e.HugepageLimits = append(e.HugepageLimits, specs.LinuxHugepageLimit{Pagesize: size})
	return &e.HugepageLimits[len(e.HugepageLimits)-1]
}

// ErrV1NoUnified is runc's refusal of unified keys on a v1 host, where
// there is no file to write them to.
var ErrV1NoUnified = errors.New("invalid configuration: cannot use unified on cgroup v1")

// Validate refuses what Set would refuse, before anything is made:
// unified keys on a v1 host, a key that is not a file of the cgroup's own
// directory, a hugepage size that is not "<n><unit>B".
func (e *ExtraResources) Validate() error {
	if e == nil {
		return nil
	}
	if len(e.Unified) > 0 && !IsV2() {
		return ErrV1NoUnified
	}
	for k := range e.Unified {
		if err := checkUnifiedKey(k); err != nil {
			return err
		}
	}
	for _, h := range e.HugepageLimits {
		if !validPageSize(h.Pagesize) {
			return fmt.Errorf("invalid hugepage size %q: want a size such as 2MB or 1GB", h.Pagesize)
		}
	}
	return nil
}

// checkUnifiedKey accepts "<controller>.<parameter>", a file in the
// cgroup's directory: no path, so a key cannot reach another cgroup's
// files (a parent's limits, or "../cgroup.procs" to move processes).
func checkUnifiedKey(k string) error {
	if strings.Contains(k, "/") || k == "." || k == ".." {
		return fmt.Errorf("unified resource %q must be a file name (no slashes)", k)
	}
	c, p, ok := strings.Cut(k, ".")
	if !ok || c == "" || p == "" {
		return fmt.Errorf("unified resource %q must be in the form CONTROLLER.PARAMETER", k)
	}
	return nil
}

// validPageSize accepts the names the kernel gives hugetlb files: a
// number and KB, MB or GB ("2MB", "1GB", "64KB").
func validPageSize(s string) bool {
	n := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(s, "KB"), "MB"), "GB")
	if len(n) == len(s) || n == "" {
		return false
	}
	_, err := strconv.ParseUint(n, 10, 32)
	return err == nil
}

// HugetlbAvailable says whether limits on hugepages can be applied on
// this host: the hugetlb controller is a mounted v1 hierarchy, or, on a
// v2 host, one of the root's controllers. A hybrid host that has it only
// on its unified mount (containers' cgroups are v1 there) has not.
func HugetlbAvailable() bool {
	if IsV2() {
		c, err := readString(Root, "cgroup.controllers")
		return err == nil && hasWord(c, "hugetlb")
	}
	m, err := v1Mounts()
	return err == nil && m["hugetlb"] != ""
}

func hasWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}

// setHugetlb writes each limit to <prefix>.<size>.<suffix> and, as runc
// does, to the reservation limit beside it (rsvd, Linux 5.7), so that a
// mapping cannot reserve pages it could not fault in; a kernel without
// rsvd files gets the first only.
func setHugetlb(dir, suffix string, limits []specs.LinuxHugepageLimit) error {
	rsvd := true
	for _, h := range limits {
		v := strconv.FormatUint(h.Limit, 10)
		if err := writeFile(dir, "hugetlb."+h.Pagesize+"."+suffix, v); err != nil {
			return err
		}
		if !rsvd {
			continue
		}
		if err := writeFile(dir, "hugetlb."+h.Pagesize+".rsvd."+suffix, v); err != nil {
			if !os.IsNotExist(unwrapPathErr(err)) {
				return err
			}
			rsvd = false
		}
	}
	return nil
}

// setUnified writes the unified keys, a value of several lines a line at
// a time (io.max, for one, takes one device per write).
func setUnified(dir string, kv map[string]string, controllers func() string) error {
	for k, v := range kv {
		if err := checkUnifiedKey(k); err != nil {
			return err
		}
		if err := writeLines(dir, k, v); err != nil {
			if os.IsNotExist(unwrapPathErr(err)) || os.IsPermission(unwrapPathErr(err)) {
				c, _, _ := strings.Cut(k, ".")
				if c != "cgroup" && !hasWord(controllers(), c) {
					return fmt.Errorf("unified resource %q can't be set: controller %q not available", k, c)
				}
			}
			return fmt.Errorf("unable to set unified resource %q: %w", k, err)
		}
	}
	return nil
}

func writeLines(dir, file, value string) error {
	if !strings.Contains(value, "\n") {
		return writeFile(dir, file, value)
	}
	for _, line := range strings.Split(value, "\n") {
		if line == "" {
			continue
		}
		if err := writeFile(dir, file, line); err != nil {
			return err
		}
	}
	return nil
}
