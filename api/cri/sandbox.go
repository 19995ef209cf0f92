package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/daemon/backend"
)

// SandboxBackend is what the pod sandbox calls need from the engine.
type SandboxBackend interface {
	RunPodSandbox(ctx context.Context, cfg backend.PodSandboxConfig) (string, error)
	StopPodSandbox(ctx context.Context, id string) error
	RemovePodSandbox(ctx context.Context, id string) error
	PodSandboxStatus(ctx context.Context, id string) (backend.PodSandbox, error)
	PodSandboxes(ctx context.Context, f backend.PodSandboxFilter) []backend.PodSandbox
	StatusBackend
	StatsBackend
	EventsBackend
}

func (s *runtimeService) RunPodSandbox(ctx context.Context, req *runtimeapi.RunPodSandboxRequest) (*runtimeapi.RunPodSandboxResponse, error) {
	cfg, err := podSandboxConfig(req.GetConfig(), req.GetRuntimeHandler())
	if err != nil {
		return nil, err
	}
	cfg.CgroupParent = s.cgroupParent(cfg.CgroupParent)
	id, err := s.b.RunPodSandbox(ctx, cfg)
	if err != nil {
		return nil, grpcError(err)
	}
	return &runtimeapi.RunPodSandboxResponse{PodSandboxId: id}, nil
}

func (s *runtimeService) StopPodSandbox(ctx context.Context, req *runtimeapi.StopPodSandboxRequest) (*runtimeapi.StopPodSandboxResponse, error) {
	if req.GetPodSandboxId() == "" {
		return nil, invalidArgument("pod sandbox ID is empty")
	}
	if err := s.b.StopPodSandbox(ctx, req.GetPodSandboxId()); err != nil {
		return nil, grpcError(err)
	}
	return &runtimeapi.StopPodSandboxResponse{}, nil
}

func (s *runtimeService) RemovePodSandbox(ctx context.Context, req *runtimeapi.RemovePodSandboxRequest) (*runtimeapi.RemovePodSandboxResponse, error) {
	if req.GetPodSandboxId() == "" {
		return nil, invalidArgument("pod sandbox ID is empty")
	}
	if err := s.b.RemovePodSandbox(ctx, req.GetPodSandboxId()); err != nil {
		return nil, grpcError(err)
	}
	return &runtimeapi.RemovePodSandboxResponse{}, nil
}

func (s *runtimeService) PodSandboxStatus(ctx context.Context, req *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	if req.GetPodSandboxId() == "" {
		return nil, invalidArgument("pod sandbox ID is empty")
	}
	sb, err := s.b.PodSandboxStatus(ctx, req.GetPodSandboxId())
	if err != nil {
		return nil, grpcError(err)
	}
	resp := &runtimeapi.PodSandboxStatusResponse{Status: podSandboxStatus(sb)}
	if req.GetVerbose() {
		resp.Info = podSandboxInfo(sb)
	}
	return resp, nil
}

func (s *runtimeService) ListPodSandbox(ctx context.Context, req *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	var f backend.PodSandboxFilter
	if rf := req.GetFilter(); rf != nil {
		f.ID, f.Labels = rf.GetId(), rf.GetLabelSelector()
		if st := rf.GetState(); st != nil {
			ready := st.GetState() == runtimeapi.PodSandboxState_SANDBOX_READY
			f.Ready = &ready
		}
	}
	resp := &runtimeapi.ListPodSandboxResponse{}
	for _, sb := range s.b.PodSandboxes(ctx, f) {
		resp.Items = append(resp.Items, &runtimeapi.PodSandbox{
			Id:             sb.ID,
			Metadata:       podMetadata(sb.Config),
			State:          podState(sb.Ready),
			CreatedAt:      sb.Created.UnixNano(),
			Labels:         sb.Config.Labels,
			Annotations:    sb.Config.Annotations,
			RuntimeHandler: sb.Config.RuntimeHandler,
		})
	}
	return resp, nil
}
