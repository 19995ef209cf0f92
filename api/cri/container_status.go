package cri

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ContainerStatus reports a pod container; an unknown ID is NotFound.
func (s *runtimeService) ContainerStatus(ctx context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	c, err := s.podContainer(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	st := containerStatus(c)
	resp := &runtimeapi.ContainerStatusResponse{Status: st}
	if req.GetVerbose() {
		info, _ := json.Marshal(containerVerboseInfo{SandboxID: c.Config.Labels[labelSandboxID], Pid: c.State.Pid, Inspect: c})
		resp.Info = map[string]string{"info": string(info)}
	}
	return resp, nil
}

// containerVerboseInfo is the verbose status's "info": what containerd's holds
// that berth has, and the engine's whole inspect.
type containerVerboseInfo struct {
	SandboxID string                     `json:"sandboxID"`
	Pid       int                        `json:"pid"`
	Inspect   *container.InspectResponse `json:"inspect"`
}

func containerStatus(c *container.InspectResponse) *runtimeapi.ContainerStatus {
	md, _ := containerMetadata(c.Name)
	labels, annotations := splitLabels(c.Config.Labels)
	st := &runtimeapi.ContainerStatus{
		Id:          c.ID,
		Metadata:    md,
		State:       stateOfSummary(c.State.Status),
		CreatedAt:   unixNano(c.Created),
		Image:       &runtimeapi.ImageSpec{Image: c.Config.Image},
		ImageRef:    c.Image,
		ImageId:     c.Image,
		Labels:      labels,
		Annotations: annotations,
		LogPath:     c.Config.Labels[labelLogPath],
		Resources:   &runtimeapi.ContainerResources{Linux: resourcesOf(c.HostConfig)},
		User:        userOfConfig(c.Config.User, c.HostConfig.GroupAdd),
		Message:     c.State.Error,
	}
	if st.State != runtimeapi.ContainerState_CONTAINER_CREATED {
		st.StartedAt = unixNano(c.State.StartedAt)
	}
	if st.State == runtimeapi.ContainerState_CONTAINER_EXITED {
		st.FinishedAt = unixNano(c.State.FinishedAt)
		st.ExitCode = int32(c.State.ExitCode)
		switch {
		case c.State.OOMKilled:
			st.Reason = "OOMKilled"
		case c.State.ExitCode == 0:
			st.Reason = "Completed"
		default:
			st.Reason = "Error"
		}
	}
	if sig, ok := runtimeapi.Signal_value["SIGNAL_"+c.Config.StopSignal]; ok {
		st.StopSignal = runtimeapi.Signal(sig)
	}
	for _, m := range c.Mounts {
		if m.Type != mount.TypeBind {
			continue
		}
		st.Mounts = append(st.Mounts, &runtimeapi.Mount{
			ContainerPath: m.Destination,
			HostPath:      m.Source,
			Readonly:      !m.RW,
			Propagation:   propagationOf(m.Propagation),
		})
	}
	return st
}

// unixNano reads an engine time; the zero time ("0001-01-01…") is 0.
func unixNano(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() < 1970 {
		return 0
	}
	return t.UnixNano()
}

func propagationOf(p mount.Propagation) runtimeapi.MountPropagation {
	switch p {
	case mount.PropagationRSlave, mount.PropagationSlave:
		return runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER
	case mount.PropagationRShared, mount.PropagationShared:
		return runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL
	}
	return runtimeapi.MountPropagation_PROPAGATION_PRIVATE
}

func resourcesOf(hc *container.HostConfig) *runtimeapi.LinuxContainerResources {
	r := hc.Resources
	return &runtimeapi.LinuxContainerResources{
		CpuPeriod:              r.CPUPeriod,
		CpuQuota:               r.CPUQuota,
		CpuShares:              r.CPUShares,
		MemoryLimitInBytes:     r.Memory,
		MemorySwapLimitInBytes: r.MemorySwap,
		CpusetCpus:             r.CpusetCpus,
		CpusetMems:             r.CpusetMems,
		OomScoreAdj:            int64(hc.OomScoreAdj),
	}
}

// userOfConfig is the container's user where it is numeric, as
// containerd reports it from the process; a user name is only known
// inside the container, and is left out.
func userOfConfig(user string, groups []string) *runtimeapi.ContainerUser {
	u := &runtimeapi.LinuxContainerUser{}
	uid, gid, _ := strings.Cut(user, ":")
	if uid != "" {
		n, err := strconv.ParseInt(uid, 10, 64)
		if err != nil {
			return nil
		}
		u.Uid = n
	}
	if gid != "" {
		n, err := strconv.ParseInt(gid, 10, 64)
		if err != nil {
			return nil
		}
		u.Gid = n
	}
	for _, g := range groups {
		if n, err := strconv.ParseInt(g, 10, 64); err == nil {
			u.SupplementalGroups = append(u.SupplementalGroups, n)
		}
	}
	return &runtimeapi.ContainerUser{Linux: u}
}
