package cri

import (
	"context"
	"encoding/json"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/daemon/backend"
)

// StatusBackend is what the runtime-level calls (Status, Version,
// RuntimeConfig, UpdateRuntimeConfig) need from the engine.
type StatusBackend interface {
	// PodRuntimeHandlers lists the runtime handlers pods may name, the
	// default ("") first.
	PodRuntimeHandlers() []backend.PodRuntimeHandler
	// PodNetworkReady is nil once pods can get a network, else why not.
	PodNetworkReady() error
	// UpdatePodCIDR takes the node's pod CIDR from kubelet.
	UpdatePodCIDR(cidr string) error
	// RuntimeVersion is the engine's version.
	RuntimeVersion() string
	// CgroupDriver is the engine's cgroup driver: "cgroupfs" or
	// "systemd", which kubelet's cgroupDriver must match.
	CgroupDriver() string
}

// Names the CRI reports. kubeAPIVersion is the CRI's own "version of the
// kubelet runtime API", fixed at 0.1.0 by every runtime.
const (
	runtimeName    = "berth"
	runtimeAPIv1   = "v1"
	kubeAPIVersion = "0.1.0"
)

func (s *runtimeService) Version(ctx context.Context, req *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{
		Version:           kubeAPIVersion,
		RuntimeName:       runtimeName,
		RuntimeVersion:    s.b.RuntimeVersion(),
		RuntimeApiVersion: runtimeAPIv1,
	}, nil
}

func (s *runtimeService) Status(ctx context.Context, req *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error) {
	network := &runtimeapi.RuntimeCondition{Type: runtimeapi.NetworkReady, Status: true}
	if err := s.b.PodNetworkReady(); err != nil {
		network.Status, network.Reason, network.Message = false, "NetworkPluginNotReady", "Network plugin returns error: "+err.Error()
	}
	resp := &runtimeapi.StatusResponse{Status: &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{
		{Type: runtimeapi.RuntimeReady, Status: true},
		network,
	}},
		RuntimeHandlers: runtimeHandlers(s.b.PodRuntimeHandlers()),
	}
	if req.GetVerbose() {
		b, _ := json.Marshal(map[string]string{"name": runtimeName, "version": s.b.RuntimeVersion()})
		resp.Info = map[string]string{"runtime": string(b)}
	}
	return resp, nil
}

// RuntimeConfig reports the cgroup driver kubelet must match (kubelet
// then passes cgroup parents as slice names under systemd).
func (s *runtimeService) RuntimeConfig(ctx context.Context, req *runtimeapi.RuntimeConfigRequest) (*runtimeapi.RuntimeConfigResponse, error) {
	driver := runtimeapi.CgroupDriver_CGROUPFS
	if s.b.CgroupDriver() == "systemd" {
		driver = runtimeapi.CgroupDriver_SYSTEMD
	}
	return &runtimeapi.RuntimeConfigResponse{Linux: &runtimeapi.LinuxRuntimeConfiguration{CgroupDriver: driver}}, nil
}

func (s *runtimeService) UpdateRuntimeConfig(ctx context.Context, req *runtimeapi.UpdateRuntimeConfigRequest) (*runtimeapi.UpdateRuntimeConfigResponse, error) {
	if nc := req.GetRuntimeConfig().GetNetworkConfig(); nc != nil {
		if err := s.b.UpdatePodCIDR(nc.GetPodCidr()); err != nil {
			return nil, grpcError(err)
		}
	}
	return &runtimeapi.UpdateRuntimeConfigResponse{}, nil
}
