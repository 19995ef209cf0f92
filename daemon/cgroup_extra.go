package daemon

import (
	"context"
	"maps"
	"sync"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/pkg/cgroups"
	"github.com/berthd/berth/pkg/errdefs"
)

// checkExtraResources refuses, at create and update, the extra cgroup
// settings this host cannot take (unified keys on v1) or that are
// malformed.
func checkExtraResources(e *cgroups.ExtraResources) error {
	if err := e.Validate(); err != nil {
		return errdefs.InvalidParameter(err)
	}
	return nil
}

// setExtraResources adds a container's extra cgroup settings to its
// spec. Hugepage limits on a host without the hugetlb controller are
// left out with a warning, as containerd's CRI does by default
// (tolerate_missing_hugetlb_controller): kubelet sends a limit, often 0,
// for every page size the machine has, hugetlb controller or not.
func setExtraResources(s *specs.Spec, e *cgroups.ExtraResources) {
	if e.IsZero() {
		return
	}
	if s.Linux.Resources == nil {
		s.Linux.Resources = &specs.LinuxResources{}
	}
	r := s.Linux.Resources
	if len(e.HugepageLimits) > 0 {
		if cgroups.HugetlbAvailable() {
			r.HugepageLimits = append([]specs.LinuxHugepageLimit(nil), e.HugepageLimits...)
		} else {
			warnNoHugetlb.Do(func() {
				logrus.Warn("hugetlb cgroup controller is absent: hugepage limits are not applied")
			})
		}
	}
	if len(e.Unified) > 0 {
		r.Unified = maps.Clone(e.Unified)
	}
}

var warnNoHugetlb sync.Once

// mergeExtraResources is an update's extra settings over the current
// ones: a hugepage limit replaces the one of its page size, a unified
// key the key's value; what the update does not name stays.
func mergeExtraResources(cur, u *cgroups.ExtraResources) *cgroups.ExtraResources {
	if u.IsZero() {
		return cur
	}
	next := cur.Clone()
	for _, h := range u.HugepageLimits {
		next.HugepageLimit(h.Pagesize).Limit = h.Limit
	}
	if len(u.Unified) > 0 && next.Unified == nil {
		next.Unified = map[string]string{}
	}
	maps.Copy(next.Unified, u.Unified)
	return next
}

// PodContainerUpdate is ContainerUpdate with the extra cgroup settings
// the CRI's UpdateContainerResources carries.
func (d *Daemon) PodContainerUpdate(ctx context.Context, ref string, u container.UpdateConfig, extra *cgroups.ExtraResources) (container.UpdateResponse, error) {
	return d.containerUpdate(ctx, ref, u, extra)
}
