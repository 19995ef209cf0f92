package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/daemon/backend"
)

// StatsBackend is what the stats calls need from the engine: cgroup
// figures of pod containers and of pods.
type StatsBackend interface {
	PodContainerStats(ctx context.Context, id string) (backend.PodStats, error)
	ListPodContainerStats(ctx context.Context, f backend.PodContainerStatsFilter) []backend.PodStats
	PodSandboxStats(ctx context.Context, id string) (backend.PodSandboxStats, error)
	ListPodSandboxStats(ctx context.Context, f backend.PodSandboxFilter) []backend.PodSandboxStats
}

func (s *runtimeService) ContainerStats(ctx context.Context, req *runtimeapi.ContainerStatsRequest) (*runtimeapi.ContainerStatsResponse, error) {
	if req.GetContainerId() == "" {
		return nil, invalidArgument("container ID is empty")
	}
	st, err := s.b.PodContainerStats(ctx, req.GetContainerId())
	if err != nil {
		return nil, grpcError(err)
	}
	return &runtimeapi.ContainerStatsResponse{Stats: containerStats(st)}, nil
}

func (s *runtimeService) ListContainerStats(ctx context.Context, req *runtimeapi.ListContainerStatsRequest) (*runtimeapi.ListContainerStatsResponse, error) {
	var f backend.PodContainerStatsFilter
	if rf := req.GetFilter(); rf != nil {
		f = backend.PodContainerStatsFilter{ID: rf.GetId(), SandboxID: rf.GetPodSandboxId(), Labels: rf.GetLabelSelector()}
	}
	resp := &runtimeapi.ListContainerStatsResponse{}
	for _, st := range s.b.ListPodContainerStats(ctx, f) {
		resp.Stats = append(resp.Stats, containerStats(st))
	}
	return resp, nil
}

func (s *runtimeService) PodSandboxStats(ctx context.Context, req *runtimeapi.PodSandboxStatsRequest) (*runtimeapi.PodSandboxStatsResponse, error) {
	if req.GetPodSandboxId() == "" {
		return nil, invalidArgument("pod sandbox ID is empty")
	}
	st, err := s.b.PodSandboxStats(ctx, req.GetPodSandboxId())
	if err != nil {
		return nil, grpcError(err)
	}
	return &runtimeapi.PodSandboxStatsResponse{Stats: podSandboxStats(st)}, nil
}

func (s *runtimeService) ListPodSandboxStats(ctx context.Context, req *runtimeapi.ListPodSandboxStatsRequest) (*runtimeapi.ListPodSandboxStatsResponse, error) {
	var f backend.PodSandboxFilter
	if rf := req.GetFilter(); rf != nil {
		f = backend.PodSandboxFilter{ID: rf.GetId(), Labels: rf.GetLabelSelector()}
	}
	resp := &runtimeapi.ListPodSandboxStatsResponse{}
	for _, st := range s.b.ListPodSandboxStats(ctx, f) {
		resp.Stats = append(resp.Stats, podSandboxStats(st))
	}
	return resp, nil
}

func containerStats(st backend.PodStats) *runtimeapi.ContainerStats {
	return &runtimeapi.ContainerStats{
		Attributes: &runtimeapi.ContainerAttributes{
			Id:          st.ID,
			Metadata:    &runtimeapi.ContainerMetadata{Name: st.Name, Attempt: st.Attempt},
			Labels:      st.Labels,
			Annotations: st.Annotations,
		},
		Cpu:           cpuUsage(st),
		Memory:        memoryUsage(st),
		WritableLayer: toFilesystemUsage(st.WritableLayer),
	}
}

func cpuUsage(st backend.PodStats) *runtimeapi.CpuUsage {
	return &runtimeapi.CpuUsage{
		Timestamp:            st.Timestamp.UnixNano(),
		UsageCoreNanoSeconds: &runtimeapi.UInt64Value{Value: st.CPUUsageCoreNanoSeconds},
		UsageNanoCores:       &runtimeapi.UInt64Value{Value: st.UsageNanoCores},
	}
}

func memoryUsage(st backend.PodStats) *runtimeapi.MemoryUsage {
	return &runtimeapi.MemoryUsage{
		Timestamp:       st.Timestamp.UnixNano(),
		WorkingSetBytes: &runtimeapi.UInt64Value{Value: st.MemoryWorkingSet},
		AvailableBytes:  &runtimeapi.UInt64Value{Value: st.MemoryAvailable},
		UsageBytes:      &runtimeapi.UInt64Value{Value: st.MemoryUsage},
		RssBytes:        &runtimeapi.UInt64Value{Value: st.MemoryRSS},
		PageFaults:      &runtimeapi.UInt64Value{Value: st.PageFaults},
		MajorPageFaults: &runtimeapi.UInt64Value{Value: st.MajorPageFaults},
	}
}

func podSandboxStats(st backend.PodSandboxStats) *runtimeapi.PodSandboxStats {
	sb, pod := st.Sandbox, st.Pod
	ts := pod.Timestamp.UnixNano()
	linux := &runtimeapi.LinuxPodSandboxStats{
		Cpu:     cpuUsage(pod),
		Memory:  memoryUsage(pod),
		Process: &runtimeapi.ProcessUsage{Timestamp: ts, ProcessCount: &runtimeapi.UInt64Value{Value: pod.Processes}},
	}
	if len(pod.Network) > 0 {
		n := &runtimeapi.NetworkUsage{Timestamp: ts}
		for _, i := range pod.Network {
			u := &runtimeapi.NetworkInterfaceUsage{
				Name:     i.Name,
				RxBytes:  &runtimeapi.UInt64Value{Value: i.RxBytes},
				RxErrors: &runtimeapi.UInt64Value{Value: i.RxErrors},
				TxBytes:  &runtimeapi.UInt64Value{Value: i.TxBytes},
				TxErrors: &runtimeapi.UInt64Value{Value: i.TxErrors},
			}
			// eth0 is the pod's interface, as CNI names it for kubelet.
			if i.Name == "eth0" {
				n.DefaultInterface = u
			} else {
				n.Interfaces = append(n.Interfaces, u)
			}
		}
		linux.Network = n
	}
	for _, c := range st.Containers {
		linux.Containers = append(linux.Containers, containerStats(c))
	}
	return &runtimeapi.PodSandboxStats{
		Attributes: &runtimeapi.PodSandboxAttributes{
			Id:          sb.ID,
			Metadata:    podMetadata(sb.Config),
			Labels:      sb.Config.Labels,
			Annotations: sb.Config.Annotations,
		},
		Linux: linux,
	}
}
