package cri

import "path"

// cgroupParent is the cgroup parent a pod's engine containers get from
// the one kubelet names. Under the systemd driver kubelet passes the
// slice's expanded path (/kubepods.slice/kubepods-besteffort.slice/
// kubepods-besteffort-pod<uid>.slice; critest /test.slice) where the
// engine, as dockerd, takes a slice name: the last element, as dockershim
// (cri-dockerd) and containerd convert it. A bare slice name passes as is.
func (s *runtimeService) cgroupParent(p string) string {
	if p != "" && s.b.CgroupDriver() == "systemd" {
		return path.Base(p)
	}
	return p
}
